// Benchmark: kopf-ts against @kubernetes/client-node's own informer, in one run, on the same
// devcluster and the same 10,000 CiliumNetworkPolicies: initial sync time, heap per cached
// object, and reconciles (handler calls) per second.
//   npm run bench:framework [-- --objects 10000] [--rounds 6] [--paged] [--cpu-prof DIR]   (--paged: ours lists in pages, not rv=0)
// Run with --expose-gc for stable heap figures (the npm script does).
// The two sides run alternately, each round in fresh processes and in the other order than the
// round before, an even number of rounds (so each side goes first equally often), after one
// untimed warm-up run of each side (the API server's first lists after seeding are slower, and
// that cost fell on whoever went first); the medians are compared: the machine's drift between
// two single runs was as large as the difference measured.
// Both handlers do the same work (count the object and read its name). What differs is what the
// framework does around it, and that is what is measured: the informer calls its add handler
// during the list, before its cache is complete, with no queue; ours reconciles once the cache
// has synced (controller-runtime's WaitForCacheSync), through the queue (dedup, per-key
// serialization, metrics). So ours' reconciles per second include its whole sync, and its drain
// (sync → last reconcile) is printed apart.
import { CustomObjectsApi, KubeConfig, makeInformer, type KubernetesObject } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { pino } from 'pino';
import {
  Action,
  KubeClient,
  Manager,
  type KubeObject,
  type ResourceRef,
  CRDS_RESOURCE as CRD,
} from '../../controllers/framework/index.js';
import { Devcluster } from '../../devcluster/cluster.js';
import { CNPS as CNP } from '../../controllers/agent/resources.js';

const N = Number(process.argv[process.argv.indexOf('--objects') + 1] || 10_000) || 10_000;
const NS = 'bench';
/** even: an odd count would let one side go first once more than the other */
const ROUNDS = 2 * Math.ceil((Number(process.argv[process.argv.indexOf('--rounds') + 1] || 6) || 6) / 2);
/** --paged: ours lists in pages from etcd (the watcher's listFromCache off), as before rv=0 lists */
const PAGED = process.argv.includes('--paged');
/** --cpu-prof DIR: each side's process writes a V8 CPU profile there (node --cpu-prof) */
const PROF_DIR = process.argv.includes('--cpu-prof') ? process.argv[process.argv.indexOf('--cpu-prof') + 1] : undefined;
const NSR: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false };

const gc = () => (globalThis as { gc?: () => void }).gc?.();
const heap = () => (gc(), process.memoryUsage().heapUsed);
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function seed(client: KubeClient): Promise<void> {
  const crd = parse(
    readFileSync(new URL('../../crds/v2/ciliumnetworkpolicies.yaml', import.meta.url), 'utf8'),
  ) as KubeObject;
  await client.create(CRD, crd);
  await client.create(NSR, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  for (;;) {
    try {
      await client.list(CNP, { namespace: NS, limit: 1 });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      await client.create(CNP, {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name: `p-${i}`, namespace: NS, labels: { app: `a${i % 50}` } },
        spec: {
          endpointSelector: { matchLabels: { app: `a${i % 50}` } },
          ingress: [
            {
              fromEndpoints: [{ matchLabels: { role: 'client' } }],
              toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
            },
          ],
        },
      });
    }
  };
  const t = performance.now();
  await Promise.all(Array.from({ length: 16 }, worker));
  console.log(`seeded ${fmt(N)} CNPs in ${fmt((performance.now() - t) / 1000, 1)} s`);
}

interface Result {
  syncMs: number;
  bytesPerObject: number;
  reconcilesPerSec: number;
  /** ours: from the store's sync to the last reconcile (the baseline's handlers run during its sync: 0) */
  drainMs: number;
  /** this process's CPU time from start to the last handler call: steadier than wall time on a loaded machine */
  cpuMs: number;
}

const cpuSince = (c: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(c);
  return (d.user + d.system) / 1000;
};

async function ours(kubeconfig: string): Promise<Result> {
  const h0 = heap();
  let reconciled = 0;
  let allDone: () => void;
  const done = new Promise<void>((r) => (allDone = r));
  const m = new Manager({ name: 'bench', kubeconfig, log: pino({ level: 'silent' }) });
  const c = m.add<KubeObject>({
    name: 'bench',
    resource: CNP,
    concurrency: 4,
    watcher: { namespace: NS, listFromCache: !PAGED },
    async reconcile(_key, ctx) {
      if (ctx.object?.metadata?.name && ++reconciled === N) allDone();
      return Action.awaitChange();
    },
  });
  const cpu = process.cpuUsage();
  const t = performance.now();
  await m.start();
  await c.store.waitUntilReady();
  const syncMs = performance.now() - t;
  await done;
  const totalMs = performance.now() - t;
  const cpuMs = cpuSince(cpu);
  const bytes = (heap() - h0) / c.store.size;
  await m.stop();
  return { syncMs, bytesPerObject: bytes, reconcilesPerSec: N / (totalMs / 1000), drainMs: totalMs - syncMs, cpuMs };
}

async function baseline(kubeconfig: string): Promise<Result> {
  const h0 = heap();
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api = kc.makeApiClient(CustomObjectsApi);
  let handled = 0;
  let allDone: () => void;
  const done = new Promise<void>((r) => (allDone = r));
  const informer = makeInformer<KubernetesObject>(
    kc,
    `/apis/cilium.io/v2/namespaces/${NS}/ciliumnetworkpolicies`,
    () =>
      api.listNamespacedCustomObject({
        group: 'cilium.io',
        version: 'v2',
        namespace: NS,
        plural: 'ciliumnetworkpolicies',
      }) as never,
  );
  // The informer's "reconcile": its add handler, called synchronously per object.
  informer.on('add', (obj) => {
    if (obj.metadata?.name && ++handled === N) allDone();
  });
  // client-node's informer stops on any error; the benchmark restarts it as its README advises.
  informer.on('error', (e: unknown) => {
    console.error(`baseline informer error: ${(e as Error)?.message ?? String(e)}; restarting`);
    setTimeout(() => void informer.start(), 100);
  });
  const cpu = process.cpuUsage();
  const t = performance.now();
  // start() resolves only once the watch after the list has its response headers: one more round
  // trip that ours' figure does not wait for (its watch starts after the list, unawaited), so the
  // clock stops at the last handler call, not at start()'s end.
  const started = informer.start();
  await done;
  const syncMs = performance.now() - t;
  const cpuMs = cpuSince(cpu);
  await started;
  const bytes = (heap() - h0) / informer.list().length;
  await informer.stop();
  return { syncMs, bytesPerObject: bytes, reconcilesPerSec: N / (syncMs / 1000), drainMs: 0, cpuMs };
}

/** Each side runs in a fresh process so that neither inherits the other's heap. */
function runChild(mode: 'ours' | 'baseline', kubeconfig: string, round: number | 'warmup'): Promise<Result> {
  return new Promise((resolve, reject) => {
    const args = [
      '--expose-gc',
      ...(PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROF_DIR, '--cpu-prof-name', `${mode}-${round}.cpuprofile`] : []),
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--child',
      mode,
      '--kubeconfig',
      kubeconfig,
      '--objects',
      String(N),
      ...(PAGED ? ['--paged'] : []),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').at(-1)!) as Result)
        : reject(new Error(`${mode} exited ${code}`)),
    );
  });
}

const childMode = process.argv.includes('--child') ? process.argv[process.argv.indexOf('--child') + 1] : undefined;
if (childMode) {
  const kubeconfig = process.argv[process.argv.indexOf('--kubeconfig') + 1]!;
  const r = childMode === 'ours' ? await ours(kubeconfig) : await baseline(kubeconfig);
  console.log(JSON.stringify(r));
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'kts-bench-framework-'));
const cluster = await Devcluster.start({ dir });
try {
  const client = KubeClient.fromFile(cluster.kubeconfig);
  await seed(client);
  client.close();
  for (const mode of ['baseline', 'ours'] as const) {
    const w = await runChild(mode, cluster.kubeconfig, 'warmup');
    console.log(`warm-up ${mode} (not counted): sync ${fmt(w.syncMs)} ms, reconciles ${fmt(w.reconcilesPerSec)} per s`);
  }
  const mine: Result[] = [];
  const base: Result[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // alternate who goes first: the second finds the API server's caches warm
    const order = r % 2 === 0 ? (['baseline', 'ours'] as const) : (['ours', 'baseline'] as const);
    for (const mode of order) (mode === 'ours' ? mine : base).push(await runChild(mode, cluster.kubeconfig, r));
    const a = mine[r]!;
    const b = base[r]!;
    console.log(
      `round ${r + 1}/${ROUNDS} (${order[0]} first): sync ${fmt(a.syncMs)} / ${fmt(b.syncMs)} ms, ` +
        `reconciles ${fmt(a.reconcilesPerSec)} / ${fmt(b.reconcilesPerSec)} per s (ours' drain ${fmt(a.drainMs)} ms), CPU ${fmt(a.cpuMs)} / ${fmt(b.cpuMs)} ms, ` +
        `heap ${fmt(a.bytesPerObject)} / ${fmt(b.bytesPerObject)} bytes per object`,
    );
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((x, y) => x - y);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const spread = (xs: number[], d = 0) => `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}`;
  const row = (name: string, pick: (r: Result) => number, unit: string) => {
    const a = mine.map(pick);
    const b = base.map(pick);
    const ratios = mine.map((m, i) => pick(m) / pick(base[i]!));
    console.log(
      `${name.padEnd(24)} ${fmt(median(a)).padStart(8)} (${spread(a)})`.padEnd(48) +
        `${fmt(median(b)).padStart(8)} (${spread(b)})`.padEnd(26) +
        `${unit.padEnd(7)} ratio of medians ${fmt(median(a) / median(b), 2)}, per round ${spread(ratios, 2)} (median ${fmt(median(ratios), 2)})`,
    );
  };
  console.log(`\n${fmt(N)} CiliumNetworkPolicies, devcluster on etcd, Node ${process.version}, ${ROUNDS} rounds`);
  console.log(`${''.padEnd(24)} ${'kopf-ts median (range)'.padEnd(23)}${'client-node'.padEnd(26)}`);
  row('initial sync', (r) => r.syncMs, 'ms');
  row('heap per cached object', (r) => r.bytesPerObject, 'bytes');
  row('reconciles per second', (r) => r.reconcilesPerSec, '1/s');
  row('CPU, start → last handler', (r) => r.cpuMs, 'ms');
  console.log(
    `(ours' drain, sync → last reconcile: median ${fmt(median(mine.map((r) => r.drainMs)))} ms; client-node: makeInformer, ` +
      'its "reconcile" is the add handler, called during the list with no queue, dedup or backoff)',
  );
} finally {
  await cluster.stop();
}
