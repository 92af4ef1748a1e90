// What the component constructs are built with: the values, the namespace, and how to treat
// optional objects. The same constructs build both the concrete manifests (dist/, deploy/) and the
// Helm templates (charts/): for the chart they get "sentinel" values (`@@operator.replicas@@`) that
// the chart writer turns into `{{ .Values.operator.replicas }}`, and every optional object is built
// with a gate annotation that becomes `{{- if … }}` around its template. So the constructs must only
// place values (whole or inside strings) and branch on booleans through `include()`; a value they
// compute with would not survive the translation, and the chart equivalence tests would catch it.
import { JsonPatch, type ApiObject } from 'cdk8s';
import type { Values } from './values.js';
import { ValuesSchema, valueLeaves } from './values.js';

/** Value paths (booleans, or lists that count when not empty) that must all be on for an optional object to exist. */
export type Gate = readonly string[];

/** Annotation that carries a gate from a construct to the chart writer (never in any output). */
export const GATE_ANNOTATION = 'cilium-ts.internal/helm-if';

export interface RenderContext {
  readonly values: Values;
  readonly namespace: string;
  /** True when building Helm templates: optional objects are always built and annotated. */
  readonly helm: boolean;
}

export function concreteContext(values: Values, namespace: string): RenderContext {
  return { values, namespace, helm: false };
}

/** Sentinel for the namespace; the chart writer maps it to `.Release.Namespace`. */
export const NAMESPACE_SENTINEL = '@@.Release.Namespace@@';

export function sentinel(path: string): string {
  return `@@${path}@@`;
}

/** A Values object whose every leaf (scalar or list) is its own sentinel string. */
export function helmContext(): RenderContext {
  const root: Record<string, unknown> = {};
  for (const { path } of valueLeaves(ValuesSchema)) {
    const keys = path.split('.');
    let o = root;
    for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
    o[keys[keys.length - 1]!] = sentinel(path);
  }
  return { values: root as unknown as Values, namespace: NAMESPACE_SENTINEL, helm: true };
}

/** A switch (boolean) or a list that is on when not empty, as Helm's `if` reads both. */
function truthy(values: Values, path: string): boolean {
  const v = path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], values);
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v !== 'boolean') throw new Error(`gate ${path} is neither a boolean nor a list value`);
  return v;
}

/**
 * Builds optional objects: with concrete values only when every gate path is true; for the chart
 * always, each object annotated with the gate.
 */
export function include(ctx: RenderContext, gate: Gate, build: () => ApiObject[]): void {
  if (!ctx.helm) {
    if (gate.every((p) => truthy(ctx.values, p))) build();
    return;
  }
  for (const obj of build()) obj.metadata.addAnnotation(GATE_ANNOTATION, gate.join(','));
}

/** Labels every object of a component carries. */
export function componentLabels(app: string, component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': app,
    'app.kubernetes.io/part-of': 'cilium-ts',
    'app.kubernetes.io/component': component,
  };
}

/** Sentinel for a whole image reference; the chart writer maps it to upstream's image expression. */
export function imageSentinel(path: string): string {
  return `@@image:${path}@@`;
}

/** An image value (values.ts `image()`): repository, tag, digest, useDigest. */
interface ImageValue {
  repository: string;
  tag: string;
  digest: string;
  useDigest: boolean;
}

/**
 * The image reference of the image value at `path` (`image`, `operator.image`, …), as upstream's
 * chart writes it: `repository:tag`, plus `@digest` when useDigest is on and a digest is set.
 */
export function imageRef(ctx: RenderContext, path: string): string {
  if (ctx.helm) return imageSentinel(path);
  const i = path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], ctx.values) as ImageValue;
  return `${i.repository}:${i.tag}${i.useDigest && i.digest ? `@${i.digest}` : ''}`;
}

/**
 * Adds `imagePullSecrets` to a workload's pod template (a JSON patch, so the constructs stay as
 * they are). For the chart the list is one entry named by the sentinel, which the chart writer
 * turns into the whole list (helm-chart.ts), since the typed props only carry arrays.
 */
export function withImagePullSecrets<T extends ApiObject>(ctx: RenderContext, workload: T): T {
  workload.addJsonPatch(
    JsonPatch.add(
      '/spec/template/spec/imagePullSecrets',
      ctx.helm ? [{ name: sentinel('imagePullSecrets') }] : ctx.values.imagePullSecrets,
    ),
  );
  return workload;
}
