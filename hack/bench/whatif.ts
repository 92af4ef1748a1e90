// Policy what-if benchmark: 100,000 flows re-decided against 1,000 policies (the synthetic cluster
// of policy-workload.ts: 10,000 identities, 1,000 endpoints), today's policies and a proposed
// change (one deny policy added, one policy deleted). Prints wall and CPU time of whatIf().
// Run: npx tsx hack/bench/whatif.ts [--flows N] [--quick]   (one core: taskset -c 0 …)
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { CiliumEndpoint, CiliumIdentity } from '../../crds/index.js';
import type { Flow } from '../../hubble/types.js';
import type { PolicyObject } from '../../policy/index.js';
import { whatIf, type ClusterState } from '../../whatif/index.js';
import { FULL_SIZE, makeWorkload, rng } from './policy-workload.js';

const { values } = parseArgs({ options: { flows: { type: 'string' }, quick: { type: 'boolean' } } });
const FLOWS = Number(values.flows ?? 100_000);
const size = values.quick ? { ...FULL_SIZE, endpoints: 200, policies: 200 } : FULL_SIZE;

const w = makeWorkload(1, size);
const ipOf = (i: number): string => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const identities: CiliumIdentity[] = w.identities.map((i) => ({
  metadata: { name: String(i.id) },
  'security-labels': i.labels.toRecord(),
}));
const byId = new Map(w.identities.map((i) => [i.id, i.labels]));
const endpoints: CiliumEndpoint[] = w.endpoints.map((e, i) => {
  const labels = byId.get(e.identity)!;
  return {
    metadata: { name: `pod-${i}`, namespace: labels.value('k8s', 'io.kubernetes.pod.namespace') ?? 'default' },
    status: {
      identity: { id: e.identity },
      networking: { addressing: [{ ipv4: ipOf(i + 1) }] },
      'named-ports': Object.entries(e.namedPorts ?? {}).map(([name, p]) => ({
        name,
        port: p.port,
        protocol: p.protocol,
      })),
    },
  };
});
const state: ClusterState = { policies: w.policies, identities, endpoints };

// Flows: a source pod to a destination pod (80%) or a world address (20%), on a port drawn from
// ports the policies name and a few common ones, seen at egress or ingress, TCP or UDP.
const r = rng(7);
const int = (n: number): number => Math.floor(r() * n);
const PORTS = [80, 443, 8080, 53, 5432, 6379, 9090, 22, 3306, 8443];
const WORLD = ['8.8.8.8', '1.1.1.1', '203.0.113.7', '192.168.3.4', '172.20.0.9', '52.1.2.3'];
const side = (i: number): NonNullable<Flow['source']> => ({
  identity: w.endpoints[i]!.identity,
  namespace: endpoints[i]!.metadata!.namespace,
  pod_name: endpoints[i]!.metadata!.name,
});
const flows: Flow[] = Array.from({ length: FLOWS }, () => {
  const s = int(w.endpoints.length);
  const toPod = r() < 0.8;
  const d = int(w.endpoints.length);
  const port = r() < 0.7 ? PORTS[int(PORTS.length)]! : 1 + int(9000);
  const ports = { source_port: 30000 + int(30000), destination_port: port };
  return {
    verdict: 'FORWARDED',
    IP: { source: ipOf(s + 1), destination: toPod ? ipOf(d + 1) : WORLD[int(WORLD.length)]!, ipVersion: 'IPv4' },
    l4: r() < 0.85 ? { TCP: { ...ports, flags: { SYN: true } } } : { UDP: ports },
    source: side(s),
    destination: toPod ? side(d) : { identity: 2, labels: ['reserved:world'] },
    traffic_direction: r() < 0.5 ? 'EGRESS' : 'INGRESS',
    event_type: { type: 5, sub_type: 0 },
  } satisfies Flow;
});

// The change: a namespaced deny of the same shape as the workload's, and one existing policy deleted.
const victim = w.policies[3]!;
const deny: PolicyObject = {
  kind: 'CiliumNetworkPolicy',
  object: {
    metadata: { name: 'whatif-deny', namespace: 'ns-1' },
    spec: {
      endpointSelector: { matchLabels: { app: 'app-1' } },
      ingressDeny: [{ fromEndpoints: [{ matchLabels: { tier: 'front' } }] }],
    },
  } as never,
};
const delRef = {
  kind: victim.kind,
  name: victim.object.metadata!.name!,
  ...(victim.kind === 'CiliumClusterwideNetworkPolicy' ? {} : { namespace: victim.object.metadata!.namespace }),
};

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const report = whatIf(flows, state, { apply: [deny], delete: [delRef] });
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const s = report.summary;
console.log(
  `whatif: ${FLOWS.toLocaleString('en-US')} flows × ${w.policies.length.toLocaleString('en-US')} policies (${identities.length.toLocaleString('en-US')} identities, ${endpoints.length.toLocaleString('en-US')} endpoints)`,
);
console.log(
  `  examined ${s.examined}, unchanged ${s.unchanged}, newly dropped ${s.newlyDropped}, newly allowed ${s.newlyAllowed}; ${report.changes.length} connections change`,
);
console.log(
  `  whatIf(): ${(ms / 1000).toFixed(2)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s CPU (target: under 5 s on one core)`,
);
