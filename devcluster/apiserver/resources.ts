// The resource registry: every kind the server serves, built-in or from a CRD, with the facts
// discovery, storage keys, Table output and the write pipeline need. CRD-backed entries are
// added and removed by the CRD controller (crds.ts) as CRDs become Established or go away.
import type { CrdSchema } from './schema.js';
import type { KubeObject } from './store.js';

/** One additionalPrinterColumn (also used for the built-in kinds' columns). */
export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  format?: string;
  description?: string;
  priority?: number;
  /** Built-in kinds only: a cell kubectl's printers compute (READY "1/2"), not a plain path. */
  compute?: (obj: KubeObject) => unknown;
}

type Obj = Record<string, unknown>;
const sub = (o: unknown, k: string): Obj => ((o as Obj | undefined)?.[k] ?? {}) as Obj;
const list = (o: unknown, k: string): Obj[] => ((o as Obj | undefined)?.[k] ?? []) as Obj[];

/** kubectl's pod STATUS: Terminating, the pod's reason, or its phase. */
function podStatus(p: KubeObject): string {
  if (p.metadata.deletionTimestamp) return 'Terminating';
  const st = sub(p, 'status');
  for (const c of list(st, 'containerStatuses')) {
    const waiting = sub(sub(c, 'state'), 'waiting').reason;
    if (typeof waiting === 'string') return waiting;
  }
  return String(st.reason ?? st.phase ?? 'Pending');
}

const POD_COLUMNS: PrinterColumn[] = [
  {
    name: 'Ready',
    type: 'string',
    jsonPath: '',
    compute: (p) =>
      `${list(sub(p, 'status'), 'containerStatuses').filter((c) => c.ready === true).length}/${list(sub(p, 'spec'), 'containers').length}`,
  },
  { name: 'Status', type: 'string', jsonPath: '', compute: podStatus },
  {
    name: 'Restarts',
    type: 'integer',
    jsonPath: '',
    compute: (p) => list(sub(p, 'status'), 'containerStatuses').reduce((n, c) => n + Number(c.restartCount ?? 0), 0),
  },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  // kube's pod printer writes "<none>" itself for these.
  { name: 'IP', type: 'string', jsonPath: '', priority: 1, compute: (p) => sub(p, 'status').podIP || '<none>' },
  { name: 'Node', type: 'string', jsonPath: '', priority: 1, compute: (p) => sub(p, 'spec').nodeName || '<none>' },
];

const num = (o: unknown, k: string): number => Number((o as Obj | undefined)?.[k] ?? 0);

/** kubectl's deployment columns; nothing runs the replicas here, so the counts stay as written. */
const DEPLOYMENT_COLUMNS: PrinterColumn[] = [
  {
    name: 'Ready',
    type: 'string',
    jsonPath: '',
    compute: (d) => `${num(sub(d, 'status'), 'readyReplicas')}/${sub(d, 'spec').replicas ?? 1}`,
  },
  { name: 'Up-to-date', type: 'integer', jsonPath: '', compute: (d) => num(sub(d, 'status'), 'updatedReplicas') },
  { name: 'Available', type: 'integer', jsonPath: '', compute: (d) => num(sub(d, 'status'), 'availableReplicas') },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

/** kubectl's statefulset columns: NAME READY AGE. */
const STATEFULSET_COLUMNS: PrinterColumn[] = [DEPLOYMENT_COLUMNS[0]!, DEPLOYMENT_COLUMNS[3]!];

/** kubectl's cronjob columns. */
const CRONJOB_COLUMNS: PrinterColumn[] = [
  { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule' },
  { name: 'Timezone', type: 'string', jsonPath: '', compute: (d) => String(sub(d, 'spec').timeZone ?? '<none>') },
  { name: 'Suspend', type: 'boolean', jsonPath: '', compute: (d) => (sub(d, 'spec').suspend ? 'True' : 'False') },
  {
    name: 'Active',
    type: 'integer',
    jsonPath: '',
    compute: (d) => ((sub(d, 'status').active as unknown[] | undefined) ?? []).length,
  },
  { name: 'Last Schedule', type: 'date', jsonPath: '.status.lastScheduleTime' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

const DAEMONSET_COLUMNS: PrinterColumn[] = [
  { name: 'Desired', type: 'integer', jsonPath: '', compute: (d) => num(sub(d, 'status'), 'desiredNumberScheduled') },
  { name: 'Current', type: 'integer', jsonPath: '', compute: (d) => num(sub(d, 'status'), 'currentNumberScheduled') },
  { name: 'Ready', type: 'integer', jsonPath: '', compute: (d) => num(sub(d, 'status'), 'numberReady') },
  {
    name: 'Up-to-date',
    type: 'integer',
    jsonPath: '',
    compute: (d) => num(sub(d, 'status'), 'updatedNumberScheduled'),
  },
  { name: 'Available', type: 'integer', jsonPath: '', compute: (d) => num(sub(d, 'status'), 'numberAvailable') },
  {
    name: 'Node Selector',
    type: 'string',
    jsonPath: '',
    compute: (d) =>
      Object.entries((sub(sub(sub(d, 'spec'), 'template'), 'spec').nodeSelector ?? {}) as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '<none>',
  },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

/** kubectl get events: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE. */
const EVENT_COLUMNS: PrinterColumn[] = [
  {
    name: 'Last Seen',
    type: 'date',
    jsonPath: '',
    compute: (e) => (e as Obj).lastTimestamp ?? (e as Obj).eventTime ?? e.metadata.creationTimestamp,
  },
  { name: 'Type', type: 'string', jsonPath: '.type' },
  { name: 'Reason', type: 'string', jsonPath: '.reason' },
  {
    name: 'Object',
    type: 'string',
    jsonPath: '',
    compute: (e) => {
      const io = sub(e, 'involvedObject');
      return `${String(io.kind ?? '').toLowerCase()}/${String(io.name ?? '')}`;
    },
  },
  { name: 'Message', type: 'string', jsonPath: '.message' },
];

const NODE_COLUMNS: PrinterColumn[] = [
  {
    name: 'Status',
    type: 'string',
    jsonPath: '',
    compute: (n) => {
      const ready = list(sub(n, 'status'), 'conditions').find((c) => c.type === 'Ready');
      const base = ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
      return sub(n, 'spec').unschedulable === true ? `${base},SchedulingDisabled` : base;
    },
  },
  {
    name: 'Roles',
    type: 'string',
    jsonPath: '',
    compute: (n) =>
      Object.keys(n.metadata.labels ?? {})
        .filter((l) => l.startsWith('node-role.kubernetes.io/'))
        .map((l) => l.slice('node-role.kubernetes.io/'.length))
        .sort()
        .join(',') || '<none>',
  },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  { name: 'Version', type: 'string', jsonPath: '.status.nodeInfo.kubeletVersion' },
  { name: 'Internal-IP', type: 'string', jsonPath: '.status.addresses[?(@.type=="InternalIP")].address', priority: 1 },
];

export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Has a /status subresource: the main resource ignores .status and /status ignores the rest. */
  statusSubresource: boolean;
  /** Built-ins also accept strategic-merge patches; custom resources get 415 for them (as kube). */
  builtin: boolean;
  /** The etcd key prefix below `/registry/`, as kube-apiserver lays it out. */
  storagePrefix: string;
  /** Printer columns after Name (CRDs: additionalPrinterColumns, default Age). */
  columns: PrinterColumn[];
  /** The CRD version's schema machinery (custom resources only). */
  schema?: CrdSchema;
  /** The CRD's name (custom resources only). */
  crdName?: string;
  /** Verbs when not the usual eight (the review APIs: create only). */
  verbs?: string[];
}

export const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function apiVersionOf(r: { group: string; version: string }): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

interface BuiltinSpec {
  group?: string;
  version?: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  status?: boolean;
  prefix?: string;
  columns?: PrinterColumn[];
}

// The kinds cilium-ts, its install and its users touch. Storage prefixes follow kube-apiserver
// (nodes are "minions", services live under "services/specs", groups are left out for built-ins).
const BUILTINS: BuiltinSpec[] = [
  {
    kind: 'Namespace',
    plural: 'namespaces',
    namespaced: false,
    shortNames: ['ns'],
    status: true,
    columns: [{ name: 'Status', type: 'string', jsonPath: '.status.phase' }, AGE],
  },
  {
    kind: 'Node',
    plural: 'nodes',
    namespaced: false,
    shortNames: ['no'],
    status: true,
    prefix: 'minions',
    columns: NODE_COLUMNS,
  },
  {
    kind: 'Pod',
    plural: 'pods',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
    status: true,
    columns: POD_COLUMNS,
  },
  {
    kind: 'Service',
    plural: 'services',
    namespaced: true,
    shortNames: ['svc'],
    categories: ['all'],
    status: true,
    prefix: 'services/specs',
    columns: [
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      { name: 'Cluster-IP', type: 'string', jsonPath: '.spec.clusterIP' },
      AGE,
    ],
  },
  { kind: 'Endpoints', plural: 'endpoints', namespaced: true, shortNames: ['ep'], prefix: 'services/endpoints' },
  { kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'] },
  {
    kind: 'Secret',
    plural: 'secrets',
    namespaced: true,
    columns: [{ name: 'Type', type: 'string', jsonPath: '.type' }, AGE],
  },
  { kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true, shortNames: ['sa'] },
  {
    kind: 'Event',
    plural: 'events',
    namespaced: true,
    shortNames: ['ev'],
    columns: EVENT_COLUMNS,
  },
  { group: 'discovery.k8s.io', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true },
  {
    group: 'coordination.k8s.io',
    kind: 'Lease',
    plural: 'leases',
    namespaced: true,
    columns: [{ name: 'Holder', type: 'string', jsonPath: '.spec.holderIdentity' }, AGE],
  },
  {
    group: 'networking.k8s.io',
    kind: 'NetworkPolicy',
    plural: 'networkpolicies',
    namespaced: true,
    shortNames: ['netpol'],
  },
  {
    group: 'apps',
    kind: 'Deployment',
    plural: 'deployments',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ['all'],
    status: true,
    columns: DEPLOYMENT_COLUMNS,
  },
  {
    group: 'apps',
    kind: 'DaemonSet',
    plural: 'daemonsets',
    namespaced: true,
    shortNames: ['ds'],
    categories: ['all'],
    status: true,
    columns: DAEMONSET_COLUMNS,
  },
  {
    group: 'apps',
    kind: 'ReplicaSet',
    plural: 'replicasets',
    namespaced: true,
    shortNames: ['rs'],
    categories: ['all'],
    status: true,
  },
  {
    group: 'apps',
    kind: 'StatefulSet',
    plural: 'statefulsets',
    namespaced: true,
    shortNames: ['sts'],
    categories: ['all'],
    status: true,
    columns: STATEFULSET_COLUMNS,
  },
  { group: 'batch', kind: 'Job', plural: 'jobs', namespaced: true, categories: ['all'], status: true },
  {
    group: 'batch',
    kind: 'CronJob',
    plural: 'cronjobs',
    namespaced: true,
    shortNames: ['cj'],
    categories: ['all'],
    status: true,
    columns: CRONJOB_COLUMNS,
  },
  {
    group: 'policy',
    kind: 'PodDisruptionBudget',
    plural: 'poddisruptionbudgets',
    namespaced: true,
    shortNames: ['pdb'],
    status: true,
  },
  // events.k8s.io/v1 shares storage with core v1 events, as in kube-apiserver.
  { group: 'events.k8s.io', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'], prefix: 'events' },
  { group: 'rbac.authorization.k8s.io', kind: 'Role', plural: 'roles', namespaced: true },
  { group: 'rbac.authorization.k8s.io', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
  { group: 'rbac.authorization.k8s.io', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
  { group: 'rbac.authorization.k8s.io', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false },
  {
    group: 'apiextensions.k8s.io',
    kind: 'CustomResourceDefinition',
    plural: 'customresourcedefinitions',
    namespaced: false,
    shortNames: ['crd', 'crds'],
    categories: ['api-extensions'],
    status: true,
    columns: [{ name: 'Created At', type: 'string', format: 'date-time', jsonPath: '.metadata.creationTimestamp' }],
  },
];

function builtin(s: BuiltinSpec): ResourceInfo {
  const group = s.group ?? '';
  return {
    group,
    version: s.version ?? 'v1',
    kind: s.kind,
    listKind: `${s.kind}List`,
    plural: s.plural,
    singular: s.kind.toLowerCase(),
    namespaced: s.namespaced,
    shortNames: s.shortNames ?? [],
    categories: s.categories ?? [],
    statusSubresource: s.status ?? false,
    builtin: true,
    storagePrefix:
      s.prefix ?? (group && group !== 'apiextensions.k8s.io' ? s.plural : group ? `${group}/${s.plural}` : s.plural),
    columns: s.columns ?? [AGE],
  };
}

/**
 * Resources that are requests, not stored objects (authorization and authentication reviews):
 * served by auth/ and listed in discovery (kubectl auth can-i finds them there), never in storage,
 * garbage collection or OpenAPI.
 */
const REVIEWS: ResourceInfo[] = [
  ['authorization.k8s.io', 'SelfSubjectAccessReview', 'selfsubjectaccessreviews'],
  ['authorization.k8s.io', 'SubjectAccessReview', 'subjectaccessreviews'],
  ['authentication.k8s.io', 'SelfSubjectReview', 'selfsubjectreviews'],
].map(([group, kind, plural]) => ({
  ...builtin({ group: group as string, kind: kind as string, plural: plural as string, namespaced: false }),
  verbs: ['create'],
  columns: [],
}));

/** The lookup tables: by group/version/plural for routing, by group/kind for owner GC. */
export class Registry {
  private byPath = new Map<string, ResourceInfo>();
  /** Bumped on every change so discovery and OpenAPI caches know when to rebuild. */
  generation = 0;

  constructor() {
    for (const b of BUILTINS) this.add(builtin(b));
  }

  add(r: ResourceInfo): void {
    this.byPath.set(`${r.group}/${r.version}/${r.plural}`, r);
    this.generation++;
  }

  removeCrd(crdName: string): void {
    for (const [k, r] of this.byPath) if (r.crdName === crdName) this.byPath.delete(k);
    this.generation++;
  }

  get(group: string, version: string, plural: string): ResourceInfo | undefined {
    return this.byPath.get(`${group}/${version}/${plural}`);
  }

  all(): ResourceInfo[] {
    return [...this.byPath.values()];
  }

  /** What discovery lists: the stored resources and the review APIs. */
  served(): ResourceInfo[] {
    return [...this.byPath.values(), ...REVIEWS];
  }

  /** A review API by group and plural (served by auth/, not stored). */
  static review(group: string, plural: string): ResourceInfo | undefined {
    return REVIEWS.find((r) => r.group === group && r.plural === plural);
  }

  crds(): ResourceInfo[] {
    return this.all().filter((r) => r.crdName !== undefined);
  }

  /** Group → versions (in registration order, the preferred one first); `withReviews` for discovery. */
  groups(withReviews = false): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const r of withReviews ? this.served() : this.byPath.values()) {
      const vs = m.get(r.group) ?? [];
      if (!vs.includes(r.version)) vs.push(r.version);
      m.set(r.group, vs);
    }
    return m;
  }

  /** The etcd key of one object (or the prefix of a collection when name is empty). */
  static key(r: ResourceInfo, namespace: string | undefined, name: string): string {
    const base = `/registry/${r.storagePrefix}/`;
    if (!r.namespaced) return base + name;
    if (namespace === undefined) return base;
    return `${base}${namespace}/${name}`;
  }
}

export const CRD_RESOURCE = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions' };
