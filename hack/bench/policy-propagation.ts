// Policy propagation inside one process: the agent's path from a CiliumNetworkPolicy event to the
// kernel's policy maps (PolicyHub → engine → per-endpoint writes → KernelDatapath.writePolicy),
// without the cluster, the API server or the probe around it. The same shape as bench:agent: N
// local endpoints (a server, a client and fillers sharing one identity), a lockdown policy that
// selects all of them, then rounds of an allow-client policy created and deleted, each change
// regenerating every endpoint. Needs root (real BPF maps under a unique bpffs pin dir, removed).
//   node --import tsx hack/bench/policy-propagation.ts [--endpoints 1000] [--rounds 20] [--cpu-prof FILE]
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { PolicyHub } from '../../controllers/agent/policy-hub.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { checkPolicy, endpointLabels, type PolicyEvent, type TranslatedPolicy } from '../../policy/index.js';
import { pinRoot, removePins } from '../../test/datapath/harness.js';

const { values } = parseArgs({
  options: { endpoints: { type: 'string' }, rounds: { type: 'string' }, 'cpu-prof': { type: 'string' } },
});
const N = Number(values.endpoints ?? 1000);
const ROUNDS = Number(values.rounds ?? 20);

const labels = (role: string) =>
  endpointLabels({ podLabels: { role }, namespace: 'bench', namespaceLabels: {}, serviceAccount: 'default' });
const cnp = (name: string, fromRole: string): TranslatedPolicy => {
  const { translated } = checkPolicy(
    {
      kind: 'CiliumNetworkPolicy',
      object: {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name, namespace: 'bench', uid: name },
        spec: { endpointSelector: {}, ingress: [{ fromEndpoints: [{ matchLabels: { role: fromRole } }] }] },
      },
    } as never,
    { clusterName: 'default' },
  );
  if (!translated) throw new Error(`policy ${name} did not translate`);
  return translated;
};
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const pins = pinRoot();
let dp: KernelDatapath | undefined;
try {
  // node --cpu-prof would break the BPF load: the verifier answers EAGAIN to a pending SIGPROF
  dp = new KernelDatapath({ pinRoot: pins, readEvents: false });
  const hub = new PolicyHub(dp, {
    enforcement: 'default',
    clusterName: 'default',
    log: pino({ level: 'silent' }),
    onCidrIdentities: () => undefined,
  });
  const ids = { server: 30001, client: 30002, filler: 30003 };
  const events: PolicyEvent[] = Object.entries(ids).map(([role, id]) => ({
    type: 'identity-upserted',
    id,
    labels: labels(role),
  }));
  for (let ep = 1; ep <= N; ep++)
    events.push({
      type: 'endpoint-upserted',
      endpoint: { id: ep, identity: ep === 1 ? ids.server : ep === 2 ? ids.client : ids.filler },
    });
  events.push({ type: 'policy-upserted', policy: cnp('lockdown', 'nobody') });
  hub.apply(events);
  hub.openGate(Array.from({ length: N }, (_, i) => i + 1));
  const allow = cnp('allow-client', 'client');
  const profiler = values['cpu-prof'] ? new Session() : undefined;
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  const add: number[] = [];
  const del: number[] = [];
  const cpu: number[] = [];
  const delCpu: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const c0 = process.cpuUsage();
    let t0 = performance.now();
    hub.apply([{ type: 'policy-upserted', policy: allow }]);
    add.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    const d0 = process.cpuUsage();
    t0 = performance.now();
    hub.apply([{ type: 'policy-removed', key: allow.key }]);
    del.push(performance.now() - t0);
    const d = process.cpuUsage(d0);
    delCpu.push((d.user + d.system) / 1000);
  }
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(values['cpu-prof']!, JSON.stringify(profile));
  }
  const allowed = dp.dumpPolicy(1)?.length ?? 0;
  console.log(
    `policy propagation in process, ${N} endpoints, ${ROUNDS} rounds (Node ${process.version}, load ${(
      await import('node:os')
    )
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}):`,
  );
  console.log(
    `  CNP added   p50 ${pct(add, 50).toFixed(1)} ms  p99 ${pct(add, 99).toFixed(1)} ms  (CPU p50 ${pct(cpu, 50).toFixed(1)} ms)`,
  );
  console.log(
    `  CNP removed p50 ${pct(del, 50).toFixed(1)} ms  p99 ${pct(del, 99).toFixed(1)} ms  (CPU p50 ${pct(delCpu, 50).toFixed(1)} ms)`,
  );
  // a new process's first changes run code V8 has not compiled yet (an agent's first after a restart)
  const first = (xs: number[]) =>
    xs
      .slice(0, 4)
      .map((x) => x.toFixed(1))
      .join(', ');
  console.log(`  first rounds in this process: added ${first(add)} ms; removed ${first(del)} ms`);
  console.log(`  maps rewritten ${hub.mapsRewritten}, deltas ${hub.deltasApplied}, server map entries ${allowed}`);
} finally {
  dp?.close();
  removePins(pins);
}
