// Least-privilege RBAC of each component: every rule says why the process needs it, and the
// install writers print that reason as a comment above the rule. No rule uses `*`, the agent
// cannot read Secrets, relay needs no API access at all. test/install/rbac.test.ts compares these
// tables with the allowed list documented there; change both together, deliberately.

import { HUBBLE_UI_RULES } from './hubble-ui.js';

export interface RbacRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
  readonly resourceNames?: readonly string[];
  /** Why the process needs this access (printed above the rule in the manifests). */
  readonly why: string;
  /**
   * Why grants of this rule that no e2e run uses (test/install/fixtures/recorded-use.jsonl) are
   * kept: upstream parity, or a code path the suites do not reach yet. test/install/recorded-use.test.ts
   * requires it exactly when some grant is unused.
   */
  readonly unexercised?: string;
}

const READ = ['get', 'list', 'watch'] as const;

/** ClusterRole `cilium`: the agent on every node. */
export const AGENT_RULES: readonly RbacRule[] = [
  {
    apiGroups: [''],
    resources: ['namespaces', 'pods'],
    verbs: READ,
    why: 'identities are computed from pod and namespace labels; pods also give endpoints their service account and named ports',
    unexercised: 'get: the informers list and watch; the single-object read is kept for parity with upstream',
  },
  {
    apiGroups: [''],
    resources: ['nodes'],
    verbs: READ,
    why: 'node addresses for tunnels and the ipcache; pod CIDRs in ipam=kubernetes',
    unexercised: 'list/watch: ipam=kubernetes follows every Node, a mode the e2e suites do not run',
  },
  {
    apiGroups: [''],
    resources: ['services'],
    verbs: READ,
    why: 'service load-balancing: frontends for the lb4 service maps',
    unexercised: 'the Service watchers of service load-balancing are not merged yet (issue #15)',
  },
  {
    apiGroups: ['discovery.k8s.io'],
    resources: ['endpointslices'],
    verbs: READ,
    why: 'service load-balancing: backends for the lb4 backend maps',
    unexercised: 'the EndpointSlice watchers of service load-balancing are not merged yet (issue #15)',
  },
  {
    apiGroups: ['networking.k8s.io'],
    resources: ['networkpolicies'],
    verbs: READ,
    why: 'Kubernetes NetworkPolicy is enforced alongside CiliumNetworkPolicy',
    unexercised: 'get: the informer lists and watches; kept for parity with upstream',
  },
  {
    apiGroups: ['apiextensions.k8s.io'],
    resources: ['customresourcedefinitions'],
    verbs: READ,
    why: 'the agent waits until the cilium.io CRDs are established before starting its reconcilers',
    unexercised: 'list/watch: the CRD check reads each CRD by name; kept for parity with upstream',
  },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumnetworkpolicies', 'ciliumclusterwidenetworkpolicies'],
    verbs: READ,
    why: 'the policies to compile into per-endpoint policy maps',
    unexercised: 'get: the informers list and watch; kept for parity with upstream',
  },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumnetworkpolicies/status', 'ciliumclusterwidenetworkpolicies/status'],
    verbs: ['patch', 'update'],
    why: 'reports the Valid condition of each policy when disable-cnp-status-updates is "false"',
    unexercised:
      'patch: only with disable-cnp-status-updates "false" (the operator writes Valid by default); update: status is written with merge patches, update is the conflict-checked fallback upstream uses',
  },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumendpoints'],
    verbs: [...READ, 'create', 'update', 'patch', 'delete'],
    why: 'publishes one CiliumEndpoint per local pod and removes it with the pod; reads all of them for the ipcache',
    unexercised:
      'get/update/patch: an endpoint whose CiliumEndpoint already exists (agent restart with a changed pod) takes these paths, which the suites do not reach',
  },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumendpoints/status'],
    verbs: ['patch', 'update'],
    why: 'endpoint state, identity and policy enforcement status',
    unexercised: 'update: status is written with merge patches; kept for parity with upstream',
  },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumidentities'],
    verbs: [...READ, 'create', 'update'],
    why: 'allocates identities for new label sets and refreshes their heartbeat; deletion is the operator GC',
    unexercised: 'get/update: the heartbeat refresh runs on a period longer than an e2e run',
  },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumnodes'],
    verbs: [...READ, 'create', 'update', 'patch'],
    why: 'registers its own CiliumNode, waits for spec.ipam.podCIDRs and patches in its CiliumInternalIP; reads the others for routes and tunnels',
    unexercised:
      'get/update: re-registration after an agent restart with a changed CiliumNode; kept for parity with upstream',
  },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumnodes/status'],
    verbs: ['patch', 'update'],
    why: 'reports its IPAM usage (status.ipam.used)',
    unexercised: 'status.ipam.used reporting is not exercised by the suites',
  },
];

/** ClusterRole `cilium-operator`: the cluster-wide operator. */
export const OPERATOR_RULES: readonly RbacRule[] = [
  {
    apiGroups: [''],
    resources: ['pods'],
    verbs: READ,
    why: 'CiliumEndpoint GC keeps endpoints whose pod still exists and runs',
    unexercised: 'get: the informer lists and watches; kept for parity with upstream',
  },
  {
    apiGroups: [''],
    resources: ['nodes'],
    verbs: READ,
    why: 'CiliumNode GC and cluster-pool IPAM follow the set of Kubernetes nodes',
    unexercised: 'get: the informer lists and watches; kept for parity with upstream',
  },
  {
    apiGroups: ['apiextensions.k8s.io'],
    resources: ['customresourcedefinitions'],
    verbs: READ,
    why: 'the operator waits until the cilium.io CRDs are established',
    unexercised: 'list/watch: the CRD check reads each CRD by name; kept for parity with upstream',
  },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumnodes'],
    verbs: [...READ, 'update', 'patch', 'delete'],
    why: 'cluster-pool IPAM writes spec.ipam.podCIDRs; CiliumNodes of deleted nodes are collected',
    unexercised: 'get/update/delete: CiliumNode GC of deleted nodes, which the suites do not provoke',
  },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumnodes/status'],
    verbs: ['patch', 'update'],
    why: 'IPAM errors go to status.ipam.operator-status',
    unexercised: 'update: status is written with merge patches; kept for parity with upstream',
  },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumendpoints'],
    verbs: [...READ, 'delete'],
    why: 'CiliumEndpoint GC deletes endpoints of pods that are gone',
    unexercised:
      'get/delete: the agent deletes the CiliumEndpoints of its pods first; GC only acts on leftovers of crashed agents',
  },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumidentities'],
    verbs: [...READ, 'update', 'patch', 'delete'],
    why: 'identity GC marks unused identities (heartbeat annotation, a merge patch) and deletes them after the timeout',
    unexercised: 'get/update/delete: deletion happens after the GC timeout, longer than an e2e run',
  },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumnetworkpolicies', 'ciliumclusterwidenetworkpolicies'],
    verbs: READ,
    why: 'the policy validator (validate-network-policy) judges every policy; the CRD check at start lists them (framework/crd-install.ts)',
    unexercised:
      'get: the informers list and watch, kept for parity with upstream; watch: test/install/fixtures/recorded-use.jsonl predates the policy validator (regenerate with hack/record-use.ts)',
  },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumnetworkpolicies/status', 'ciliumclusterwidenetworkpolicies/status'],
    verbs: ['patch', 'update'],
    why: 'the policy validator writes the Valid condition of each policy',
    unexercised:
      'patch: test/install/fixtures/recorded-use.jsonl predates the policy validator (regenerate with hack/record-use.ts); update: status is written with merge patches, update is the conflict-checked fallback upstream uses',
  },
];

/** Role `cilium-operator` in the install namespace: leader election only. */
export const OPERATOR_NAMESPACE_RULES: readonly RbacRule[] = [
  {
    apiGroups: ['coordination.k8s.io'],
    resources: ['leases'],
    verbs: ['create'],
    why: 'the first operator creates the leader-election Lease (create cannot be limited by name)',
  },
  {
    apiGroups: ['coordination.k8s.io'],
    resources: ['leases'],
    verbs: ['get', 'update'],
    resourceNames: ['cilium-operator-resource-lock'],
    why: 'leader election: only one operator replica runs IPAM and GC at a time',
  },
];

/** The leader-election Lease the operator replicas compete for. */
export const OPERATOR_LEASE_NAME = 'cilium-operator-resource-lock';

/** A rule as Kubernetes wants it (the reason dropped). */
export function toPolicyRule(r: RbacRule): {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
} {
  return {
    apiGroups: [...r.apiGroups],
    resources: [...r.resources],
    verbs: [...r.verbs],
    ...(r.resourceNames ? { resourceNames: [...r.resourceNames] } : {}),
  };
}

/** The reason for a rule as it appears in a manifest, for the YAML writers' comments. */
export function ruleReason(rule: unknown): string | undefined {
  const key = canonical(rule);
  for (const r of [...AGENT_RULES, ...OPERATOR_RULES, ...OPERATOR_NAMESPACE_RULES, ...HUBBLE_UI_RULES]) {
    if (canonical(toPolicyRule(r)) === key) return r.why;
  }
  return undefined;
}

/** JSON with object keys sorted (cdk8s sorts the keys of what it synthesizes). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
