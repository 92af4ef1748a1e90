// What `cilium install | uninstall | status` do to a cluster: apply the generated manifests with
// server-side apply (field manager "cilium-cli"), delete them again, and report the components'
// rollout state. The manifests are the ones cdk8s/ builds for the given values, so the CLI, dist/,
// deploy/ and the Helm chart install the same objects.
//
// This lives under cmd/ because the layering table has no folder for a client of the whole
// install: cdk8s/ may import only crds/, and the CLI needs both cdk8s/ and @kubernetes/client-node.
import {
  type KubernetesObject,
  type V1ConfigMap,
  type V1DaemonSet,
  KubeConfig,
  KubernetesObjectApi,
} from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CA_SECRET, type KeyPair, hubbleTlsSecretNames, hubbleTlsSecrets } from '../../cdk8s/hubble-tls.js';
import { DEFAULT_NAMESPACE, type Manifest, installManifests } from '../../cdk8s/install-chart.js';
import { type ValuesOverride, resolveValues } from '../../cdk8s/values.js';
import type { KubeObject } from '../../controllers/framework/index.js';
import { runNodeCleanup } from './node-cleanup-daemonset.js';
import { UntypedObjects } from './untyped-objects.js';

/** The SSA field manager of every object the CLI writes. */
export const FIELD_MANAGER = 'cilium-cli';
/** Marks a namespace the CLI created, so that uninstall removes only what install made. */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'cilium-cli' };

export interface InstallOptions {
  namespace?: string;
  values?: ValuesOverride;
  /** Send every request with dryRun=All: the server validates, nothing is stored. */
  dryRun?: boolean;
  /** Called once per object with a kubectl-like line ("daemonset.apps/cilium applied"). */
  log?: (line: string) => void;
}

export interface UninstallOptions {
  namespace?: string;
  /** Also delete the cilium.io CRDs (and with them every policy, endpoint and identity). */
  deleteCrds?: boolean;
  /**
   * Run `cilium-dbg post-uninstall-cleanup` on every node the agent ran on (default true): without
   * it the nodes keep the conflist (new pods hang), filters, pins, cilium_host and routes.
   */
  nodeCleanup?: boolean;
  /** Bounds the wait for the agents to go and for every node's cleanup (ms). */
  nodeCleanupTimeoutMs?: number;
  log?: (line: string) => void;
}

/** Exposes the discovery lookup of the generic client (protected there). */
class ObjectApi extends KubernetesObjectApi {
  async served(apiVersion: string, kind: string): Promise<boolean> {
    try {
      return (await this.resource(apiVersion, kind)) !== undefined;
    } catch {
      return false;
    }
  }
}

export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else {
    // With nothing to load, client-node falls back to http://localhost:8080 and fails later with a
    // TLS message; say what is missing instead.
    const home = process.env.HOME ?? '';
    if (!process.env.KUBECONFIG && !process.env.KUBERNETES_SERVICE_HOST && !existsSync(join(home, '.kube', 'config')))
      throw new Error(
        'no kubeconfig: set KUBECONFIG or pass --kubeconfig (a devcluster writes .devcluster/kubeconfig)',
      );
    kc.loadFromDefault();
  }
  return kc;
}

function client(kc: KubeConfig): ObjectApi {
  return kc.makeApiClient(ObjectApi);
}

const describe = (o: { apiVersion: string; kind: string; metadata: { name: string } }) => {
  const group = o.apiVersion.includes('/') ? `.${o.apiVersion.split('/')[0]}` : '';
  return `${o.kind.toLowerCase()}${group}/${o.metadata.name}`;
};

/**
 * The install's objects for these options: CRDs, a Namespace when it is not kube-system, Hubble's
 * TLS Secrets (generated now, with `ca` reused when given: cdk8s/hubble-tls.ts), then the rest, so
 * that every Secret a pod mounts exists before the pod.
 */
export function plannedObjects(
  namespace: string,
  values: ValuesOverride = {},
  ca?: KeyPair,
  o: { namesOnly?: boolean } = {},
): Manifest['object'][] {
  const objects = installManifests(values, namespace).map((m) => m.object);
  const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { ...MANAGED_BY } } };
  const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
  return [
    ...crds,
    ...(namespace === DEFAULT_NAMESPACE ? [] : [ns as Manifest['object']]),
    ...((o.namesOnly
      ? hubbleTlsSecretNames(resolveValues(values), namespace)
      : hubbleTlsSecrets(resolveValues(values), namespace, ca)) as Manifest['object'][]),
    ...objects.filter((o) => o.kind !== 'CustomResourceDefinition'),
  ];
}

/** The CA of an earlier install (Secret cilium-ca), so that a re-install keeps what relays trust. */
async function existingCa(api: ObjectApi, namespace: string): Promise<KeyPair | undefined> {
  const secret = (await api
    .read({ apiVersion: 'v1', kind: 'Secret', metadata: { name: CA_SECRET, namespace } })
    .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)))) as
    { data?: Record<string, string> } | undefined;
  const crt = secret?.data?.['ca.crt'];
  const key = secret?.data?.['ca.key'];
  if (!crt || !key) return undefined;
  return { cert: Buffer.from(crt, 'base64').toString(), key: Buffer.from(key, 'base64').toString() };
}

/** Kinds of the planned objects the cluster does not serve ("policy/v1 PodDisruptionBudget"). */
export async function unservedKinds(kc: KubeConfig, objects: readonly Manifest['object'][]): Promise<string[]> {
  const api = client(kc);
  const kinds = [...new Set(objects.map((o) => `${o.apiVersion} ${o.kind}`))];
  const missing: string[] = [];
  for (const k of kinds) {
    const [apiVersion, kind] = k.split(' ') as [string, string];
    if (!(await api.served(apiVersion, kind))) missing.push(k);
  }
  return missing;
}

/**
 * Applies every object with server-side apply (forcing ownership of fields other managers hold:
 * the install is the source of truth). Checks first that the cluster serves every kind, so that
 * a cluster that cannot take the install is refused before anything is written.
 */
export async function install(kc: KubeConfig, o: InstallOptions = {}): Promise<Manifest['object'][]> {
  const namespace = o.namespace ?? DEFAULT_NAMESPACE;
  const api = client(kc);
  const objects = plannedObjects(namespace, o.values, await existingCa(api, namespace));
  const missing = await unservedKinds(kc, objects);
  if (missing.length > 0) throw new Error(`the cluster does not serve ${missing.join(', ')}: nothing was installed`);
  // as written: client-node's typed serializer would drop the CRDs' `enum`, `default` and
  // `x-kubernetes-*` (untyped-objects.ts)
  const untyped = new UntypedObjects(kc);
  try {
    for (const obj of objects) {
      await untyped.apply(obj as KubeObject, { fieldManager: FIELD_MANAGER, force: true, dryRun: o.dryRun });
      o.log?.(`${describe(obj)} serverside-applied${o.dryRun ? ' (server dry run)' : ''}`);
    }
  } finally {
    untyped.close();
  }
  return objects;
}

const isNotFound = (err: unknown) => (err as { code?: number }).code === 404;

/**
 * Deletes the install's objects in reverse order, then (unless `nodeCleanup: false`) cleans every
 * node the agent ran on (node-cleanup-daemonset.ts), and only then the namespace and, when asked,
 * the CRDs. CRDs stay unless asked for (deleting them deletes every policy); a namespace goes only
 * if `cilium install` created it.
 */
export async function uninstall(
  kc: KubeConfig,
  o: UninstallOptions = {},
): Promise<{ deleted: string[]; absent: string[]; cleanedNodes: string[] }> {
  const namespace = o.namespace ?? DEFAULT_NAMESPACE;
  const api = client(kc);
  const readLive = <T>(apiVersion: string, kind: string, name: string) =>
    api
      .read({ apiVersion, kind, metadata: { name, namespace } })
      .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err))) as Promise<T | undefined>;
  // what the cleanup needs from the install, read before it is deleted
  const agent = o.nodeCleanup === false ? undefined : await readLive<V1DaemonSet>('apps/v1', 'DaemonSet', 'cilium');
  const config = agent ? await readLive<V1ConfigMap>('v1', 'ConfigMap', 'cilium-config') : undefined;
  // names only: the Secrets' content does not matter for deleting them
  const objects = plannedObjects(namespace, {}, undefined, { namesOnly: true }).reverse();
  const last = (k: string) => k === 'Namespace' || k === 'CustomResourceDefinition';
  const deleted: string[] = [];
  const absent: string[] = [];
  const remove = async (obj: Manifest['object']) => {
    if (obj.kind === 'CustomResourceDefinition' && !o.deleteCrds) return;
    if (obj.kind === 'Namespace') {
      const live = await readLive<KubernetesObject>('v1', 'Namespace', namespace);
      if (live?.metadata?.labels?.['app.kubernetes.io/managed-by'] !== MANAGED_BY['app.kubernetes.io/managed-by'])
        return;
    }
    try {
      await api.delete(obj as KubernetesObject, undefined, undefined, undefined, undefined, 'Background');
      deleted.push(describe(obj));
      o.log?.(`${describe(obj)} deleted`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      absent.push(describe(obj));
    }
  };
  for (const obj of objects.filter((x) => !last(x.kind))) await remove(obj);
  let cleanedNodes: string[] = [];
  // a DaemonSet no node ran (no DaemonSet controller, or no node matched) left nothing on a node
  if (agent && (agent.status?.desiredNumberScheduled ?? 0) === 0) o.log?.('no node ran the agent: no node cleanup');
  else if (agent) {
    const pools = (config?.data?.['cluster-pool-ipv4-cidr'] ?? '').split(/[\s,]+/).filter(Boolean);
    cleanedNodes = await runNodeCleanup(kc, namespace, agent, pools, {
      ...(o.nodeCleanupTimeoutMs ? { timeoutMs: o.nodeCleanupTimeoutMs } : {}),
      ...(o.log ? { log: o.log } : {}),
    });
  }
  for (const obj of objects.filter((x) => last(x.kind))) await remove(obj);
  return { deleted, absent, cleanedNodes };
}

export interface ComponentStatus {
  name: string;
  kind: 'DaemonSet' | 'Deployment';
  present: boolean;
  desired: number;
  ready: number;
  available: number;
}

/** The rollout state of the agent, the operator and relay (relay only when it is installed). */
export async function status(
  kc: KubeConfig,
  namespace = DEFAULT_NAMESPACE,
): Promise<{ components: ComponentStatus[]; config: boolean }> {
  const api = client(kc);
  const read = async (apiVersion: string, kind: string, name: string) =>
    api
      .read({ apiVersion, kind, metadata: { name, namespace } })
      .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err))) as Promise<
      (KubernetesObject & { spec?: { replicas?: number }; status?: Record<string, number | undefined> }) | undefined
    >;
  const components: ComponentStatus[] = [];
  const ds = await read('apps/v1', 'DaemonSet', 'cilium');
  components.push({
    name: 'cilium',
    kind: 'DaemonSet',
    present: ds !== undefined,
    desired: ds?.status?.desiredNumberScheduled ?? 0,
    ready: ds?.status?.numberReady ?? 0,
    available: ds?.status?.numberAvailable ?? 0,
  });
  for (const name of ['cilium-operator', 'hubble-relay']) {
    const d = await read('apps/v1', 'Deployment', name);
    if (!d && name === 'hubble-relay') continue;
    components.push({
      name,
      kind: 'Deployment',
      present: d !== undefined,
      desired: d?.spec?.replicas ?? 0,
      ready: d?.status?.readyReplicas ?? 0,
      available: d?.status?.availableReplicas ?? 0,
    });
  }
  const config = (await read('v1', 'ConfigMap', 'cilium-config')) !== undefined;
  return { components, config };
}

/** `cilium status` as text, one line per component, upstream-like. */
export function formatStatus(s: { components: ComponentStatus[]; config: boolean }): string {
  const lines = s.components.map((c) => {
    const state = !c.present ? 'not installed' : c.desired > 0 && c.ready >= c.desired ? 'OK' : 'not ready';
    return `${c.kind.padEnd(11)} ${c.name.padEnd(16)} ${state.padEnd(14)} desired ${c.desired}, ready ${c.ready}, available ${c.available}`;
  });
  lines.push(`ConfigMap   cilium-config    ${s.config ? 'present' : 'missing'}`);
  return `${lines.join('\n')}\n`;
}
