// How each process of the install is started, read back from the generated manifests: the
// command, arguments, environment and the cilium-config files its pod sees. The devcluster starts
// its agents and operators from this (so they run with exactly what a real cluster would give
// them); the binaries read the directory with controllers/framework/config.ts. A binary's name
// runs its compiled entry (binaryEntry), in an image (images/bin/cmd-wrapper.sh) as in a checkout.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hubbleTlsSecrets } from './hubble-tls.js';
import { DEFAULT_NAMESPACE, installManifests } from './install-chart.js';
import { type ValuesOverride, resolveValues } from './values.js';

export type LaunchedProcess = 'cilium-agent' | 'cilium-operator' | 'hubble-relay';
export type Binary = LaunchedProcess | 'cilium' | 'cilium-dbg' | 'cilium-cni' | 'cilium-l7proxy' | 'hubble';

/** The folder of package.json — the checkout, or /app in an image — the same from the sources and from build/. */
export const PACKAGE_ROOT = packageRoot(import.meta.dirname);
/** Where `npm run build` (hack/build.ts) writes the compiled tree, mirroring the sources. */
export const BUILD_DIR = join(PACKAGE_ROOT, 'build');
/** The Node the project pins (a devDependency), so every process runs on the same runtime. */
export const PINNED_NODE = join(PACKAGE_ROOT, 'node_modules', '.bin', 'node');

function packageRoot(from: string): string {
  for (let dir = from; dirname(dir) !== dir; dir = dirname(dir)) if (existsSync(join(dir, 'package.json'))) return dir;
  throw new Error(`no package.json above ${from}`);
}

/** The compiled file of one of our sources, e.g. `devcluster/apiserver/main.ts` → build/…/main.js. */
export function compiledEntry(source: string): string {
  return join(BUILD_DIR, source.replace(/\.ts$/, '.js'));
}

/** What a binary's name runs: its compiled entry point (a package bin, and /usr/local/bin/NAME in the images). */
export function binaryEntry(name: Binary): string {
  return compiledEntry(`cmd/${name}.ts`);
}

/** An environment variable as the pod sets it: a literal, or a field of the pod. */
export type LaunchEnv = { value: string } | { fieldPath: string } | { configMapKey: string };

export interface ProcessLaunch {
  /** `command` then `args` of the container, as the kubelet would exec them. */
  argv: string[];
  env: Record<string, LaunchEnv>;
  /** Where the container sees cilium-config (one file per key), when it mounts it. */
  configDir?: string;
  /** The cilium-config data those files hold. */
  config: Record<string, string>;
}

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { fieldRef?: { fieldPath: string }; configMapKeyRef?: { key: string } };
  }[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  volumes?: { name: string; configMap?: { name: string } }[];
}

/** The launch of one process for these values (the defaults unless overridden). */
export function processLaunch(
  process: LaunchedProcess,
  override: ValuesOverride = {},
  namespace = DEFAULT_NAMESPACE,
): ProcessLaunch {
  const objects = installManifests(override, namespace).map(
    (m) => m.object as Record<string, unknown> & { kind: string; metadata: { name: string } },
  );
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'cilium-config');
  const config = (cm?.data ?? {}) as Record<string, string>;
  for (const o of objects) {
    if (o.kind !== 'DaemonSet' && o.kind !== 'Deployment') continue;
    const pod = (o.spec as { template: { spec: PodSpec } }).template.spec;
    const c = pod.containers.find((x) => x.name === process);
    if (!c) continue;
    const env: Record<string, LaunchEnv> = {};
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = { value: e.value };
      else if (e.valueFrom?.fieldRef) env[e.name] = { fieldPath: e.valueFrom.fieldRef.fieldPath };
      else if (e.valueFrom?.configMapKeyRef) env[e.name] = { configMapKey: e.valueFrom.configMapKeyRef.key };
    }
    const configVolume = pod.volumes?.find((v) => v.configMap?.name === 'cilium-config')?.name;
    const mount = c.volumeMounts?.find((m) => m.name === configVolume);
    return {
      argv: [...(c.command ?? []), ...(c.args ?? [])],
      env,
      ...(mount ? { configDir: mount.mountPath } : {}),
      config,
    };
  }
  throw new Error(`the install has no ${process} container (is it disabled by the values?)`);
}

/** Writes cilium-config as the kubelet projects a ConfigMap volume: one file per key. */
export function writeConfigDir(dir: string, config: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [k, v] of Object.entries(config)) writeFileSync(join(dir, k), v);
}

/** An object of the install as applied to a cluster. */
export type InstallObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
};

/**
 * The install's objects for these values (what `cilium install` applies), with cilium-config's
 * data changed key by key by `config` (keys no value sets, e.g. a benchmark's pod CIDR size), and
 * Hubble's TLS Secrets newly generated (hubble-tls.ts) right after the CRDs, so that they exist
 * before any pod that mounts them.
 */
export function installObjects(
  override: ValuesOverride = {},
  config: Record<string, string> = {},
  namespace = DEFAULT_NAMESPACE,
): InstallObject[] {
  const objects = installManifests(override, namespace).map((m) => {
    const o = structuredClone(m.object) as InstallObject;
    if (o.kind === 'ConfigMap' && o.metadata.name === 'cilium-config')
      o.data = { ...(o.data as Record<string, string>), ...config };
    return o;
  });
  const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
  const rest = objects.filter((o) => o.kind !== 'CustomResourceDefinition');
  return [...crds, ...hubbleTlsSecrets(resolveValues(override), namespace), ...rest];
}
