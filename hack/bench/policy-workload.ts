// A deterministic synthetic cluster for the policy engine: namespaces, identities, local
// endpoints and a mix of policies shaped like real ones (namespaced allows, cross-namespace
// CCNPs, denies, CIDRs, NetworkPolicies, fromRequires, L4-only). Shared by the benchmark
// (hack/bench/policy.ts) and the property test (test/policy/incremental.property.test.ts).
import { endpointLabels, type LabelSet, type PolicyObject } from '../../policy/index.js';

/** mulberry32: a small seeded PRNG, so every run sees the same cluster. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface WorkloadSize {
  namespaces: number;
  appsPerNamespace: number;
  versions: number;
  endpoints: number;
  policies: number;
}

export const FULL_SIZE: WorkloadSize = {
  namespaces: 50,
  appsPerNamespace: 20,
  versions: 10,
  endpoints: 1000,
  policies: 1000,
};

export interface IdentityDef {
  id: number;
  labels: LabelSet;
}

export interface Workload {
  identities: IdentityDef[];
  endpoints: {
    id: number;
    identity: number;
    namedPorts?: Record<string, { port: number; protocol?: 'TCP' | 'UDP' }>;
  }[];
  policies: PolicyObject[];
  /** Makes a fresh identity (not in `identities`) for add/remove churn. */
  newIdentity(id: number): IdentityDef;
}

const TEAMS = ['payments', 'search', 'ads', 'infra', 'data', 'web', 'ml'];
const ENVS = ['prod', 'staging', 'dev'];
const CIDRS = [
  '10.0.0.0/8',
  '10.1.0.0/16',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '8.8.8.8/32',
  '1.1.1.0/24',
  '203.0.113.0/24',
  '0.0.0.0/0',
];

export function nsName(i: number): string {
  return `ns-${i}`;
}

export function nsLabels(i: number): Record<string, string> {
  return {
    'kubernetes.io/metadata.name': nsName(i),
    team: TEAMS[i % TEAMS.length] ?? 'x',
    env: ENVS[i % ENVS.length] ?? 'x',
  };
}

function labelsFor(ns: number, app: number, version: string, tier: string): LabelSet {
  return endpointLabels({
    podLabels: { app: `app-${app}`, version, tier, 'pod-template-hash': `h${ns}${app}${version}` },
    namespace: nsName(ns),
    namespaceLabels: nsLabels(ns),
    serviceAccount: `sa-${app % 5}`,
  });
}

export function makeWorkload(seed: number, size: WorkloadSize = FULL_SIZE): Workload {
  const r = rng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(r() * list.length)] as T;
  const int = (n: number): number => Math.floor(r() * n);
  const tiers = ['front', 'back', 'data'];
  const identities: IdentityDef[] = [];
  let id = 256;
  for (let ns = 0; ns < size.namespaces; ns++)
    for (let app = 0; app < size.appsPerNamespace; app++)
      for (let v = 0; v < size.versions; v++)
        identities.push({ id: id++, labels: labelsFor(ns, app, `v${v}`, tiers[(app + v) % 3] ?? 'front') });
  const endpoints: Workload['endpoints'] = [];
  for (let e = 0; e < size.endpoints; e++) {
    // Pods of one deployment share an identity: draw with replacement.
    const ident = pick(identities);
    endpoints.push({
      id: 1000 + e,
      identity: ident.id,
      namedPorts: e % 3 === 0 ? { http: { port: 8080 }, dns: { port: 53, protocol: 'UDP' } } : undefined,
    });
  }
  const apps = size.appsPerNamespace;
  const port = (): Record<string, unknown> => {
    const k = int(10);
    if (k < 5) return { port: String(1 + int(9000)), protocol: pick(['TCP', 'UDP']) };
    if (k < 7) {
      const p = 1000 + int(30000);
      return { port: String(p), endPort: p + 1 + int(2000), protocol: 'TCP' };
    }
    if (k < 8) return { port: String(1 + int(1000)), protocol: 'ANY' };
    if (k < 9) return { port: 'http', protocol: 'TCP' };
    return { protocol: 'TCP' };
  };
  const toPorts = () => [{ ports: Array.from({ length: 1 + int(2) }, port) }];
  const appSel = () => ({ matchLabels: { app: `app-${int(apps)}` } });
  const policies: PolicyObject[] = [];
  for (let p = 0; p < size.policies; p++) {
    const ns = nsName(int(size.namespaces));
    const kind = int(100);
    const name = `p${p}`;
    if (kind < 50) {
      const spec: Record<string, unknown> = {
        endpointSelector: appSel(),
        ingress: [{ fromEndpoints: [appSel()], toPorts: toPorts() }],
      };
      if (kind < 15)
        spec.egress = [
          {
            toEndpoints: [
              appSel(),
              {
                matchLabels: {
                  app: `app-${int(apps)}`,
                  'k8s:io.kubernetes.pod.namespace': nsName(int(size.namespaces)),
                },
              },
            ],
            toPorts: toPorts(),
          },
        ];
      policies.push({
        kind: 'CiliumNetworkPolicy',
        object: { metadata: { name, namespace: ns }, spec: spec as never },
      });
    } else if (kind < 60) {
      policies.push({
        kind: 'CiliumClusterwideNetworkPolicy',
        object: {
          metadata: { name },
          spec: {
            endpointSelector: { matchLabels: { app: `app-${int(apps)}`, version: `v${int(size.versions)}` } },
            ingress: [
              {
                fromEndpoints: [
                  { matchLabels: { app: `app-${int(apps)}`, 'io.cilium.k8s.namespace.labels.team': pick(TEAMS) } },
                ],
                toPorts: toPorts(),
              },
              // Entities: `cluster` costs one entry per identity (upstream too), so one port only.
              {
                fromEntities: [pick(['cluster', 'world', 'host', 'remote-node', 'kube-apiserver', 'health'] as const)],
                toPorts: [{ ports: [{ port: String(1 + int(9000)), protocol: 'TCP' }] }],
              },
            ],
          } as never,
        },
      });
    } else if (kind < 68) {
      policies.push({
        kind: 'CiliumNetworkPolicy',
        object: {
          metadata: { name, namespace: ns },
          spec: {
            endpointSelector: appSel(),
            ingressDeny: [
              {
                fromEndpoints: [
                  {
                    matchExpressions: [
                      { key: 'version', operator: 'In', values: [`v${int(size.versions)}`, `v${int(size.versions)}`] },
                    ],
                  },
                ],
                toPorts: toPorts(),
              },
            ],
            egressDeny: [{ toCIDRSet: [{ cidr: pick(CIDRS) }] }],
            enableDefaultDeny: { ingress: r() < 0.5, egress: false },
          } as never,
        },
      });
    } else if (kind < 76) {
      const cidr = pick(CIDRS);
      policies.push({
        kind: 'CiliumNetworkPolicy',
        object: {
          metadata: { name, namespace: ns },
          spec: {
            endpointSelector: appSel(),
            egress: [
              {
                toCIDRSet: [
                  {
                    cidr,
                    ...(cidr === '10.0.0.0/8'
                      ? { except: ['10.1.0.0/16'] }
                      : cidr === '0.0.0.0/0'
                        ? { except: ['10.0.0.0/8'] }
                        : {}),
                  },
                ],
                toPorts: toPorts(),
              },
              { toEntities: ['kube-apiserver'] },
            ],
          } as never,
        },
      });
    } else if (kind < 86) {
      policies.push({
        kind: 'NetworkPolicy',
        object: {
          metadata: { name, namespace: ns },
          spec: {
            podSelector: { matchLabels: { app: `app-${int(apps)}` } },
            policyTypes: r() < 0.3 ? ['Ingress', 'Egress'] : ['Ingress'],
            ingress: [
              {
                from: [
                  { namespaceSelector: { matchLabels: { team: pick(TEAMS) } }, podSelector: appSel() },
                  { podSelector: { matchLabels: { tier: pick(tiers) } } },
                ],
                ports: [{ port: 1 + int(9000) }],
              },
            ],
            egress: [
              {
                to: [
                  { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
                  {
                    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': nsName(int(size.namespaces)) } },
                  },
                ],
                ports: [{ port: 53, protocol: 'UDP' }],
              },
            ],
          },
        },
      });
    } else if (kind < 91) {
      policies.push({
        kind: 'CiliumNetworkPolicy',
        object: {
          metadata: { name, namespace: ns },
          spec: {
            endpointSelector: appSel(),
            ingress: [
              { fromRequires: [{ matchLabels: { tier: pick(tiers) } }] },
              { fromEndpoints: [{}], toPorts: toPorts() },
            ],
          } as never,
        },
      });
    } else if (kind < 96) {
      policies.push({
        kind: 'CiliumNetworkPolicy',
        object: {
          metadata: { name, namespace: ns },
          spec: {
            endpointSelector: appSel(),
            ingress: [{ toPorts: toPorts() }],
            egress: [{ toEntities: ['world'], toPorts: toPorts() }],
          } as never,
        },
      });
    } else {
      policies.push({
        kind: 'CiliumClusterwideNetworkPolicy',
        object: {
          metadata: { name },
          spec: {
            endpointSelector: {
              matchExpressions: [
                { key: 'tier', operator: 'In', values: [pick(tiers)] },
                { key: 'app', operator: 'In', values: [`app-${int(apps)}`, `app-${int(apps)}`] },
              ],
            },
            egress: [
              {
                toEndpoints: [
                  {
                    matchExpressions: [
                      { key: 'io.kubernetes.pod.namespace', operator: 'In', values: [nsName(int(size.namespaces))] },
                      { key: 'tier', operator: 'NotIn', values: ['data'] },
                    ],
                  },
                ],
              },
            ],
            egressDeny: [
              { toEndpoints: [{ matchLabels: { app: `app-${int(apps)}` } }], icmps: [{ fields: [{ type: 8 }] }] },
            ],
          } as never,
        },
      });
    }
  }
  let extra = 0;
  const newIdentity = (nid: number): IdentityDef => {
    extra++;
    return { id: nid, labels: labelsFor(int(size.namespaces), int(apps), `x${extra}`, pick(tiers)) };
  };
  return { identities, endpoints, policies, newIdentity };
}
