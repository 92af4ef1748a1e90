// Selectors: which identities a policy peer or subject names. Label selectors (matchLabels and
// matchExpressions, keys with an optional source prefix), CIDR selectors with `except`, and the
// wildcard that stands for "any identity" (identity 0 in the map).
import type { EndpointSelector } from '../crds/common.js';
import { prefixContains, type Prefix } from '../crds/cidr.js';
import type { IdentityInfo } from './identities.js';
import { prefixText } from './identities.js';
import { LABEL_NAMESPACE, LABEL_NAMESPACE_LABELS_PREFIX, splitSource } from './labels.js';

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface Requirement {
  /** A label source, or `any` to match the key under every source. */
  readonly source: string;
  readonly key: string;
  readonly op: Operator;
  readonly values: readonly string[];
  /** `source:key`, precomputed for the hot path (filled in by labelSelector). */
  readonly sk?: string;
}

/** A compiled selector. `key` is canonical: equal selectors have equal keys (the cache key). */
export type Selector =
  | { readonly kind: 'wildcard'; readonly key: string }
  | {
      readonly kind: 'labels';
      readonly key: string;
      readonly reqs: readonly Requirement[];
      readonly anchors: readonly string[] | undefined;
    }
  | { readonly kind: 'cidr'; readonly key: string; readonly prefix: Prefix; readonly except: readonly Prefix[] }
  | { readonly kind: 'none'; readonly key: string };

export const WILDCARD: Selector = { kind: 'wildcard', key: '*' };
export const NOTHING: Selector = { kind: 'none', key: '!' };

function reqText(r: Requirement): string {
  return `${r.source}:${r.key} ${r.op}${r.values.length ? ` (${r.values.join(',')})` : ''}`;
}

/**
 * The index keys (`key=value`, source-independent) under which a selector can be found: the
 * values of its most selective `In` requirement. Undefined means "scan every identity".
 */
function anchorsOf(reqs: readonly Requirement[]): string[] | undefined {
  let best: Requirement | undefined;
  for (const r of reqs) {
    if (r.op !== 'In' || r.values.length === 0) continue;
    const better =
      !best ||
      r.values.length < best.values.length ||
      (r.values.length === best.values.length && best.key === LABEL_NAMESPACE && r.key !== LABEL_NAMESPACE);
    if (better) best = r;
  }
  return best ? best.values.map((v) => `${best.key}=${v}`) : undefined;
}

/** A label selector from requirements; no requirement at all is the wildcard. */
export function labelSelector(reqs: readonly Requirement[]): Selector {
  if (reqs.length === 0) return WILDCARD;
  const norm = reqs.map((r) => ({
    source: r.source,
    key: r.key,
    op: r.op,
    values: [...new Set(r.values)].sort(),
    sk: `${r.source}:${r.key}`,
  }));
  const sorted = [...new Map(norm.map((r) => [reqText(r), r])).entries()].sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const list = sorted.map(([, r]) => r);
  return { kind: 'labels', key: sorted.map(([t]) => t).join(' & '), reqs: list, anchors: anchorsOf(list) };
}

/**
 * Compiles a Kubernetes LabelSelector. `defaultSource` is what a key without a known source
 * prefix means: `any` in Cilium policies, `k8s` in NetworkPolicy.
 */
export function compileSelector(sel: EndpointSelector | undefined, defaultSource: string = 'any'): Selector {
  if (!sel) return WILDCARD;
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    const { source, key } = splitSource(k, defaultSource);
    reqs.push({ source, key, op: 'In', values: [typeof v === 'string' ? v : String(v)] });
  }
  for (const e of sel.matchExpressions ?? []) {
    if (!e || typeof e.key !== 'string') return NOTHING;
    const { source, key } = splitSource(e.key, defaultSource);
    const op = e.operator;
    if (op !== 'In' && op !== 'NotIn' && op !== 'Exists' && op !== 'DoesNotExist') return NOTHING;
    const values = (e.values ?? []).map(String);
    // Kubernetes: In with no values selects nothing; NotIn with none selects everything.
    if (op === 'In' && values.length === 0) return NOTHING;
    reqs.push({ source, key, op, values: op === 'In' || op === 'NotIn' ? values : [] });
  }
  return labelSelector(reqs);
}

/** A selector for one label (`reserved:host`, `k8s:io.cilium.k8s.policy.cluster=default`). */
export function singleLabel(source: string, key: string, value: string = ''): Selector {
  return labelSelector([{ source, key, op: 'In', values: [value] }]);
}

const namesReserved = (reqs: readonly Requirement[]): boolean => reqs.some((r) => r.source === 'reserved');
const namesNamespace = (reqs: readonly Requirement[]): boolean =>
  reqs.some((r) => r.key === LABEL_NAMESPACE && (r.source === 'k8s' || r.source === 'any'));
const namesNamespaceLabels = (reqs: readonly Requirement[]): boolean =>
  reqs.some((r) => r.key.startsWith(LABEL_NAMESPACE_LABELS_PREFIX) && (r.source === 'k8s' || r.source === 'any'));

/**
 * Scopes a peer selector as upstream does (`getEndpointSelector`): selectors on reserved labels
 * and selectors naming `io.kubernetes.pod.namespace` are left alone; in a namespaced policy the
 * rest is confined to the policy's namespace (docs: security/policy/kubernetes) unless it selects on namespace labels
 * (`io.cilium.k8s.namespace.labels.*`); in a clusterwide policy (`namespace` undefined) it is
 * limited to pods (`io.kubernetes.pod.namespace` Exists), so even `{}` never means world.
 */
export function confineToNamespace(sel: Selector, namespace: string | undefined): Selector {
  if (sel.kind === 'cidr' || sel.kind === 'none') return sel;
  const reqs = sel.kind === 'labels' ? sel.reqs : [];
  if (namesReserved(reqs) || namesNamespace(reqs)) return sel;
  if (namespace === undefined)
    return labelSelector([...reqs, { source: 'k8s', key: LABEL_NAMESPACE, op: 'Exists', values: [] }]);
  if (namesNamespaceLabels(reqs)) return sel;
  return labelSelector([...reqs, { source: 'k8s', key: LABEL_NAMESPACE, op: 'In', values: [namespace] }]);
}

/** ANDs extra requirements (fromRequires/toRequires) into a label or wildcard selector. */
export function withRequirements(sel: Selector, extra: readonly Requirement[]): Selector {
  if (extra.length === 0 || sel.kind === 'cidr' || sel.kind === 'none') return sel;
  return labelSelector([...(sel.kind === 'labels' ? sel.reqs : []), ...extra]);
}

/** The requirements of a selector (for fromRequires); `undefined` if it can never match. */
export function requirementsOf(sel: Selector): readonly Requirement[] | undefined {
  if (sel.kind === 'labels') return sel.reqs;
  if (sel.kind === 'wildcard') return [];
  return undefined;
}

/** A CIDR selector: identities whose prefixes lie inside `prefix` and inside no `except`. */
export function cidrSelector(prefix: Prefix, except: readonly Prefix[]): Selector {
  const ex = [...new Map(except.map((p) => [prefixText(p), p])).entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    kind: 'cidr',
    key: `cidr ${prefixText(prefix)}${ex.length ? ` except ${ex.map(([t]) => t).join(',')}` : ''}`,
    prefix,
    except: ex.map(([, p]) => p),
  };
}

function requirementHolds(r: Requirement, info: IdentityInfo): boolean {
  // Hot path (every rule × every subject, every selector × every identity): no allocation.
  if (r.source !== 'any') {
    const v = r.sk !== undefined ? info.labels.bySourceKey.get(r.sk) : info.labels.value(r.source, r.key);
    switch (r.op) {
      case 'In':
        return v !== undefined && r.values.includes(v);
      case 'NotIn':
        return v === undefined || !r.values.includes(v);
      case 'Exists':
        return v !== undefined;
      case 'DoesNotExist':
        return v === undefined;
    }
  }
  const values = info.labels.anyValues(r.key);
  switch (r.op) {
    case 'In':
      return values !== undefined && values.some((v) => r.values.includes(v));
    case 'NotIn':
      return values === undefined || !values.some((v) => r.values.includes(v));
    case 'Exists':
      return values !== undefined;
    case 'DoesNotExist':
      return values === undefined;
  }
}

/** Does the selector select this identity? (The wildcard selects all; the map uses identity 0.) */
export function selects(sel: Selector, info: IdentityInfo): boolean {
  switch (sel.kind) {
    case 'wildcard':
      return true;
    case 'none':
      return false;
    case 'labels':
      return sel.reqs.every((r) => requirementHolds(r, info));
    case 'cidr':
      return info.prefixes.some((p) => prefixContains(sel.prefix, p) && !sel.except.some((e) => prefixContains(e, p)));
  }
}
