// Benchmark: the cost of one remote pod event in the agent's ipcache at N remote pods — the
// incremental assembler (its owner's claims, the dirty prefixes, a delta write) against the full
// rebuild it replaced (every source listed, the whole map read back and diffed), same run, same
// sim datapath, same stores. Prints µs per event and the ratio.
//   node --import tsx hack/bench/scale-ipcache.ts [--pods 10000,50000] [--events 200]
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadavg } from 'node:os';
import { IpcacheAssembler, type IpcacheSources } from '../../controllers/agent/ipcache.js';
import { agentMetrics } from '../../controllers/agent/metrics.js';
import type { CepObject, CiliumNodeObject } from '../../controllers/agent/resources.js';
import { Store } from '../../controllers/framework/index.js';
import type { IpcacheEntry } from '../../datapath/datapath.js';
import { SimDatapath } from '../../datapath/sim.js';

const { values } = parseArgs({ options: { pods: { type: 'string' }, events: { type: 'string' } } });
const SIZES = (values.pods ?? '10000,50000').split(',').map(Number);
const EVENTS = Number(values.events ?? 200);

const cep = (i: number, identity: number): CepObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumEndpoint',
  metadata: { name: `pod-${i}`, namespace: `ns-${i % 100}`, resourceVersion: String(i) },
  status: {
    identity: { id: identity },
    networking: { addressing: [{ ipv4: `10.${128 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` }] },
  },
});

/** The ipcache as the agent built it before #25: every source listed on every change. */
function fullRebuild(nodes: Store<CiliumNodeObject>, ceps: Store<CepObject>): IpcacheEntry[] {
  const out = new Map<string, IpcacheEntry>();
  for (const n of nodes.list())
    for (const a of n.spec?.addresses ?? []) if (a.ip) out.set(`${a.ip}/32`, { prefix: `${a.ip}/32`, identity: 6 });
  for (const c of ceps.list()) {
    const id = c.status?.identity?.id;
    for (const a of c.status?.networking?.addressing ?? [])
      if (a.ipv4 && id) out.set(`${a.ipv4}/32`, { prefix: `${a.ipv4}/32`, identity: id });
  }
  return [...out.values()];
}

function run(n: number): { fullUs: number; incUs: number } {
  const ceps = new Store<CepObject>();
  const nodes = new Store<CiliumNodeObject>();
  for (let i = 0; i < n; i++) ceps.apply({ type: 'Apply', object: cep(i, 1000 + (i % 500)) });
  const sources = (dp: SimDatapath): IpcacheSources => ({
    nodeName: 'node-1',
    datapath: dp,
    hub: { gateOpen: true, cidrIdentities: new Map() } as never,
    nodes,
    ceps,
    endpoints: { list: () => [], datapathEndpoints: () => [] } as never,
    ipam: { ready: false } as never,
    nodeIp: () => undefined,
    metrics: agentMetrics(new Registry(), () => []),
    log: pino({ level: 'silent' }),
  });
  // Each event: one CEP changes identity, then the ipcache is written.
  const fullDp = new SimDatapath();
  fullDp.syncIpcache(fullRebuild(nodes, ceps));
  let t = performance.now();
  for (let e = 0; e < EVENTS; e++) {
    ceps.apply({ type: 'Apply', object: cep((e * 37) % n, 2000 + e) });
    fullDp.syncIpcache(fullRebuild(nodes, ceps));
  }
  const fullUs = ((performance.now() - t) / EVENTS) * 1000;

  const incDp = new SimDatapath();
  const a = new IpcacheAssembler(sources(incDp));
  a.sync();
  t = performance.now();
  for (let e = 0; e < EVENTS; e++) {
    ceps.apply({ type: 'Apply', object: cep((e * 37) % n, 3000 + e) });
    a.sync();
  }
  const incUs = ((performance.now() - t) / EVENTS) * 1000;
  // same result both ways
  const key = (x: { prefix: string; identity: number }) => `${x.prefix}=${x.identity}`;
  const want = fullRebuild(nodes, ceps).map(key).sort().join();
  if (incDp.dumpIpcache().map(key).sort().join() !== want) throw new Error('the incremental ipcache differs');
  a.stop();
  return { fullUs, incUs };
}

console.log(
  `ipcache per remote pod event (sim datapath), ${EVENTS} events per size; Node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
console.log(
  `${'pods'.padStart(8)} ${'full rebuild µs'.padStart(16)} ${'incremental µs'.padStart(15)} ${'ratio'.padStart(8)}`,
);
for (const n of SIZES) {
  const r = run(n);
  console.log(
    `${String(n).padStart(8)} ${r.fullUs.toFixed(0).padStart(16)} ${r.incUs.toFixed(1).padStart(15)} ${(r.fullUs / r.incUs).toFixed(0).padStart(7)}×`,
  );
}
