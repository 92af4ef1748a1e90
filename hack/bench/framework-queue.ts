// Benchmark of the controller alone: a Manager over an in-memory client that serves N objects in one
// list and then a silent watch, timed from start to the N-th reconcile, in rounds. No API server
// and no JSON: what it measures is the framework's own path (store, queue, workers, context,
// metrics), the part `npm run bench:framework` cannot separate from the list. For profiles:
//   node --expose-gc --import tsx hack/bench/framework-queue.ts [--objects 10000] [--rounds 7]
//   node --cpu-prof --cpu-prof-dir DIR --import tsx hack/bench/framework-queue.ts
import { pino } from 'pino';
import { Action, Manager, testing, type KubeObject } from '../../controllers/framework/index.js';
import { CNPS as CNP } from '../../controllers/agent/resources.js';

const arg = (name: string, d: number) => Number(process.argv[process.argv.indexOf(name) + 1] || d) || d;
const N = process.argv.includes('--objects') ? arg('--objects', 10_000) : 10_000;
const ROUNDS = process.argv.includes('--rounds') ? arg('--rounds', 7) : 7;

function objects(n: number): KubeObject[] {
  return Array.from({ length: n }, (_, i) => ({
    metadata: {
      name: `p-${i}`,
      namespace: 'bench',
      resourceVersion: String(i + 1),
      generation: 1,
      labels: { app: `a${i % 50}` },
    },
    spec: { endpointSelector: { matchLabels: { app: `a${i % 50}` } } },
  }));
}

async function round(items: KubeObject[]): Promise<{ syncMs: number; drainMs: number; drainCpuMs: number }> {
  let reconciled = 0;
  let allDone!: () => void;
  const done = new Promise<void>((r) => (allDone = r));
  const m = new Manager({ name: 'bench', client: testing.staticListClient(items), log: pino({ level: 'silent' }) });
  const c = m.add<KubeObject>({
    name: 'bench',
    resource: CNP,
    concurrency: 4,
    async reconcile(_key, ctx) {
      if (ctx.object && ++reconciled === N) allDone();
      return Action.awaitChange();
    },
  });
  const t = performance.now();
  await m.start();
  await c.store.waitUntilReady();
  const synced = performance.now();
  const cpu0 = process.cpuUsage();
  await done;
  const end = performance.now();
  const cpu = process.cpuUsage(cpu0);
  await m.stop();
  return { syncMs: synced - t, drainMs: end - synced, drainCpuMs: (cpu.user + cpu.system) / 1000 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const items = objects(N);
const drains: number[] = [];
const syncs: number[] = [];
const cpus: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const r = await round(items);
  syncs.push(r.syncMs);
  drains.push(r.drainMs);
  cpus.push(r.drainCpuMs);
}
const rate = (ms: number) => Math.round(N / (ms / 1000)).toLocaleString('en-US');
console.log(
  `${N.toLocaleString('en-US')} objects, ${ROUNDS} rounds (first is warm-up for the JIT): store sync median ${median(syncs.slice(1)).toFixed(1)} ms; ` +
    `queue drain median ${median(drains.slice(1)).toFixed(1)} ms = ${rate(median(drains.slice(1)))} reconciles/s ` +
    `(range ${rate(Math.max(...drains.slice(1)))}–${rate(Math.min(...drains.slice(1)))}/s); ` +
    `CPU per reconcile median ${((median(cpus.slice(1)) * 1000) / N).toFixed(2)} µs (CPU time: steadier than wall time on a loaded machine)`,
);
