// What the devcluster's workload controllers share: the resources they touch, the pod facts
// kube-controller-manager reads (ready, available, active), label selectors, owner references and
// the pod-template hash (k8s.io/kubernetes/pkg/controller/controller_utils.go, ComputeHash).
import type { KubeObject, OwnerReference, ResourceRef } from '../../controllers/framework/index.js';

const ref = (group: string, plural: string, kind: string, namespaced = true): ResourceRef => ({
  group,
  version: 'v1',
  plural,
  kind,
  namespaced,
});

export const PODS = ref('', 'pods', 'Pod');
export const NODES = ref('', 'nodes', 'Node', false);
export const SERVICES = ref('', 'services', 'Service');
export const REPLICASETS = ref('apps', 'replicasets', 'ReplicaSet');
export const DEPLOYMENTS = ref('apps', 'deployments', 'Deployment');
export const DAEMONSETS = ref('apps', 'daemonsets', 'DaemonSet');
export const STATEFULSETS = ref('apps', 'statefulsets', 'StatefulSet');
export const JOBS = ref('batch', 'jobs', 'Job');
export const CRONJOBS = ref('batch', 'cronjobs', 'CronJob');
export const ENDPOINTSLICES = ref('discovery.k8s.io', 'endpointslices', 'EndpointSlice');

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
}

export type Pod = KubeObject & {
  spec?: {
    nodeName?: string;
    restartPolicy?: string;
    containers?: { name: string; ports?: { name?: string; containerPort: number; protocol?: string }[] }[];
  };
  status?: { phase?: string; podIP?: string; conditions?: Condition[] };
};

export function matchesSelector(sel: LabelSelector | undefined, labels: Record<string, string> = {}): boolean {
  if (!sel) return false;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const v = labels[e.key];
    if (e.operator === 'In' && !(has && (e.values ?? []).includes(v ?? ''))) return false;
    if (e.operator === 'NotIn' && has && (e.values ?? []).includes(v ?? '')) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** The selector in `labelSelector=` query syntax. */
export function selectorString(sel: LabelSelector | undefined): string {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    if (e.operator === 'In') parts.push(`${e.key} in (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

export function controllerRef(owner: KubeObject, apiVersion: string, kind: string): OwnerReference {
  return {
    apiVersion,
    kind,
    name: owner.metadata?.name ?? '',
    uid: owner.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function isControlledBy(obj: KubeObject, owner: KubeObject): boolean {
  return (obj.metadata?.ownerReferences ?? []).some((r) => r.controller && r.uid === owner.metadata?.uid);
}

export function condition(o: { status?: { conditions?: Condition[] } }, type: string): Condition | undefined {
  return o.status?.conditions?.find((c) => c.type === type);
}

export function isPodReady(p: Pod): boolean {
  return condition(p, 'Ready')?.status === 'True';
}

export function isTerminal(p: Pod): boolean {
  return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
}

/** Counted by controllers: not finished and not being deleted (controller_utils.IsPodActive). */
export function isPodActive(p: Pod): boolean {
  return !isTerminal(p) && !p.metadata?.deletionTimestamp;
}

/** Ready for at least minReadySeconds (podutil.IsPodAvailable); else ms until it will be. */
export function availableIn(p: Pod, minReadySeconds: number, now = Date.now()): number | undefined {
  const c = condition(p, 'Ready');
  if (c?.status !== 'True') return undefined;
  if (!minReadySeconds) return 0;
  const since = Date.parse(c.lastTransitionTime ?? '') || 0;
  return Math.max(0, since + minReadySeconds * 1000 - now);
}

/** JSON with sorted keys: equal objects hash equally whatever the order a patch left them in. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** kube's rand.SafeEncodeString alphabet: no vowels, no look-alike digits. */
const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

/** FNV-1a (32 bit) of the template, with the collision count, safe-encoded as kube names it. */
export function templateHash(template: unknown, collisionCount = 0): string {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(canonical(template) + (collisionCount ? String(collisionCount) : ''), 'utf8');
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return [...String(h)].map((c) => SAFE[c.charCodeAt(0) % SAFE.length]).join('');
}

/** A pod of a controller's template (controller_utils.GetPodFromTemplate). */
export function podFromTemplate(
  template: PodTemplate,
  o: {
    namespace: string;
    generateName: string;
    labels?: Record<string, string>;
    owner: OwnerReference;
    nodeName?: string;
  },
): Pod {
  const spec = structuredClone(template.spec ?? {});
  if (o.nodeName) spec.nodeName = o.nodeName;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: o.generateName,
      namespace: o.namespace,
      labels: { ...(template.metadata?.labels ?? {}), ...(o.labels ?? {}) },
      ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
      ownerReferences: [o.owner],
    },
    spec,
  };
}

/** "25%" of total (rounded up or down) or an absolute number (intstr.GetScaledValueFromIntOrPercent). */
export function scaled(v: number | string | undefined, total: number, roundUp: boolean, dflt: string): number {
  const x = v ?? dflt;
  if (typeof x === 'number') return x;
  const m = /^(\d+)%$/.exec(x);
  if (!m) return Number(x) || 0;
  const f = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(f) : Math.floor(f);
}

export const nowIso = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** Sets a condition, keeping lastTransitionTime while the status stays the same. */
export function withCondition(list: Condition[] | undefined, c: Condition): Condition[] {
  const now = nowIso();
  const prev = list?.find((x) => x.type === c.type);
  const same = prev && prev.status === c.status;
  const next: Condition = {
    ...c,
    lastTransitionTime: same && prev.lastTransitionTime ? prev.lastTransitionTime : now,
  };
  if ('lastUpdateTime' in c || prev?.lastUpdateTime)
    next.lastUpdateTime = same && prev.reason === c.reason && prev.lastUpdateTime ? prev.lastUpdateTime : now;
  return [...(list ?? []).filter((x) => x.type !== c.type), next];
}
