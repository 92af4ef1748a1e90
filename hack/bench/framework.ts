// Benchmark: kopf-ts against @kubernetes/client-node's own informer, in one run, on the same
// devcluster and the same 10,000 CiliumNetworkPolicies: initial sync time, heap per cached
// object, and reconciles (handler calls) per second.
//   npm run bench:framework [-- --objects 10000] [--paged] [--cpu-prof DIR]   (--paged: ours lists in pages, not rv=0)
// Run with --expose-gc for stable heap figures (the npm script does).
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
}

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
    async reconcile() {
      if (++reconciled === N) allDone();
      return Action.awaitChange();
    },
  });
  const t = performance.now();
  await m.start();
  await c.store.waitUntilReady();
  const syncMs = performance.now() - t;
  await done;
  const totalMs = performance.now() - t;
  const bytes = (heap() - h0) / c.store.size;
  await m.stop();
  return { syncMs, bytesPerObject: bytes, reconcilesPerSec: N / (totalMs / 1000) };
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
  informer.on('add', () => {
    if (++handled === N) allDone();
  });
  // client-node's informer stops on any error; the benchmark restarts it as its README advises.
  informer.on('error', (e: unknown) => {
    console.error(`baseline informer error: ${(e as Error)?.message ?? String(e)}; restarting`);
    setTimeout(() => void informer.start(), 100);
  });
  const t = performance.now();
  await informer.start();
  await done;
  const syncMs = performance.now() - t;
  const bytes = (heap() - h0) / informer.list().length;
  await informer.stop();
  return { syncMs, bytesPerObject: bytes, reconcilesPerSec: N / (syncMs / 1000) };
}

/** Each side runs in a fresh process so that neither inherits the other's heap. */
function runChild(mode: 'ours' | 'baseline', kubeconfig: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const args = [
      '--expose-gc',
      ...(PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROF_DIR, '--cpu-prof-name', `${mode}.cpuprofile`] : []),
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
  const base = await runChild('baseline', cluster.kubeconfig);
  const mine = await runChild('ours', cluster.kubeconfig);
  const row = (name: string, a: number, b: number, unit: string, d = 0) =>
    console.log(
      `${name.padEnd(28)} ${fmt(a, d).padStart(12)} ${fmt(b, d).padStart(14)}  ${unit.padEnd(10)} ratio ${fmt(a / b, 2)}`,
    );
  console.log(`\n${fmt(N)} CiliumNetworkPolicies, devcluster on etcd, Node ${process.version}`);
  console.log(`${''.padEnd(28)} ${'kopf-ts'.padStart(12)} ${'client-node'.padStart(14)}`);
  row('initial sync', mine.syncMs, base.syncMs, 'ms');
  row('heap per cached object', mine.bytesPerObject, base.bytesPerObject, 'bytes');
  row('reconciles per second', mine.reconcilesPerSec, base.reconcilesPerSec, '1/s');
  console.log(
    '(client-node: makeInformer; its "reconcile" is the synchronous add handler, with no queue, dedup or backoff)',
  );
} finally {
  await cluster.stop();
}
