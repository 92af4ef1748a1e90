// Benchmark of the devcluster API server (issue 3): create, list and watch-delivery throughput
// and watch latency for N custom resources (default 10 000 CiliumNetworkPolicies), measured twice
// in one run: with authentication and RBAC off (the baseline) and on, the client then being a
// ServiceAccount (a signed token) whose ClusterRole grants the CNP verbs, so every request goes
// through token verification and the RBAC evaluator. Ratios are printed side by side.
//   tsx hack/bench/apiserver.ts [--count 10000] [--concurrency 16] [--watchers 1]
// etcd and the API server run as their own processes (as `npm run devcluster -- up` starts
// them), so the client's work here does not share a thread with the server.
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { downDetached, upDetached } from '../../devcluster/cluster.js';

const { values } = parseArgs({
  options: { count: { type: 'string' }, concurrency: { type: 'string' }, watchers: { type: 'string' } },
});
const COUNT = Number(values.count ?? 10_000);
const CONCURRENCY = Number(values.concurrency ?? 16);
const WATCHERS = Number(values.watchers ?? 1);
const CNP = '/apis/cilium.io/v2/namespaces/default/ciliumnetworkpolicies';

const crdYaml = readFileSync(
  fileURLToPath(new URL('../../crds/v2/ciliumnetworkpolicies.yaml', import.meta.url)),
  'utf8',
);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

interface Figures {
  createPerSec: number;
  createP50: number;
  createP99: number;
  deliveryPerSec: number;
  replayPerSec: number;
  watchP50: number;
  watchP99: number;
  listMs: number;
  pagedMs: number;
  selMs: number;
}

const BENCH_RBAC = [
  {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'bench', namespace: 'default' },
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'bench' },
    rules: [
      { apiGroups: ['cilium.io'], resources: ['ciliumnetworkpolicies'], verbs: ['create', 'get', 'list', 'watch'] },
    ],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'bench', namespace: 'default' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'bench' },
    subjects: [{ kind: 'ServiceAccount', name: 'bench', namespace: 'default' }],
  },
];
const COLLECTION: Record<string, string> = {
  ServiceAccount: '/api/v1/namespaces/default/serviceaccounts',
  ClusterRole: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  RoleBinding: '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings',
};

async function measure(enforce: boolean): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'kts-bench-apiserver-'));
  const st = await upDetached({ dir, port: 0, enforce });
  let auth: Record<string, string> = {
    Authorization: `Bearer ${readFileSync(join(dir, 'pki', 'admin.token'), 'utf8').trim()}`,
  };
  const agent = new Agent({
    ca: readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8'),
    keepAlive: true,
    maxSockets: CONCURRENCY + WATCHERS + 4,
  });
  const call = (
    method: string,
    path: string,
    body?: string,
    ct = 'application/json',
  ): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = request(
        `${st.url}${path}`,
        { method, agent, headers: { 'Content-Type': ct, Accept: 'application/json', ...auth } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  try {
    const crd = await call(
      'POST',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      crdYaml,
      'application/yaml',
    );
    if (crd.status !== 201) throw new Error(`CRD create: ${crd.status} ${crd.text}`);
    if (enforce) {
      // From here on the client is the bench ServiceAccount, held to its RoleBinding.
      for (const o of BENCH_RBAC) {
        const r = await call('POST', COLLECTION[o.kind] ?? '', JSON.stringify(o));
        if (r.status !== 201) throw new Error(`${o.kind} create: ${r.status} ${r.text}`);
      }
      const t = await call(
        'POST',
        '/api/v1/namespaces/default/serviceaccounts/bench/token',
        JSON.stringify({ spec: { expirationSeconds: 3600 } }),
      );
      auth = { Authorization: `Bearer ${(JSON.parse(t.text) as { status: { token: string } }).status.token}` };
    }
    for (let i = 0; (await call('GET', CNP)).status !== 200; i++) {
      if (i > 100) throw new Error('CRD not served');
      await new Promise((r) => setTimeout(r, 50));
    }
    const startRv = (JSON.parse((await call('GET', CNP)).text) as { metadata: { resourceVersion: string } }).metadata
      .resourceVersion;

    // Watchers: record when each object's ADDED arrives.
    const sent = new Map<string, number>();
    const watch = (fromRv: string): { got: Map<string, number>; done: Promise<void> } => {
      const got = new Map<string, number>();
      const done = new Promise<void>((resolve, reject) => {
        const req = request(`${st.url}${CNP}?watch=true&resourceVersion=${fromRv}`, { agent, headers: auth }, (res) => {
          let buf = '';
          res.on('data', (d: Buffer) => {
            buf += d.toString('utf8');
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              const ev = JSON.parse(line) as { type: string; object: { metadata: { name: string } } };
              if (ev.type === 'ADDED') got.set(ev.object.metadata.name, performance.now());
              if (got.size === COUNT) {
                req.destroy();
                resolve();
              }
            }
          });
        });
        req.on('error', (e) => (got.size === COUNT ? resolve() : reject(e)));
        req.end();
      });
      return { got, done };
    };
    const live = Array.from({ length: WATCHERS }, () => watch(startRv));
    const arrivals = live.map((w) => w.got);
    const watchDone = live.map((w) => w.done);
    await new Promise((r) => setTimeout(r, 200));

    // Creates.
    const createLat: number[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < COUNT) {
          const i = next++;
          const name = `bench-${String(i).padStart(5, '0')}`;
          const body = JSON.stringify({
            apiVersion: 'cilium.io/v2',
            kind: 'CiliumNetworkPolicy',
            metadata: { name, labels: { bench: 'yes', shard: String(i % 10) } },
            spec: {
              endpointSelector: { matchLabels: { app: name } },
              ingress: [
                {
                  fromEndpoints: [{ matchLabels: { role: 'client' } }],
                  toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
                },
              ],
            },
          });
          const s = performance.now();
          sent.set(name, s);
          const r = await call('POST', CNP, body);
          if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${r.text}`);
          createLat.push(performance.now() - s);
        }
      }),
    );
    const createSecs = (performance.now() - t0) / 1000;
    await Promise.all(watchDone);

    const watchLat: number[] = [];
    let firstArrival = Infinity;
    let lastArrival = 0;
    for (const got of arrivals) {
      for (const [name, t] of got) {
        watchLat.push(t - (sent.get(name) ?? t));
        firstArrival = Math.min(firstArrival, t);
        lastArrival = Math.max(lastArrival, t);
      }
    }
    const deliverySecs = (lastArrival - t0) / 1000;

    // Replay: a new watcher from the resourceVersion before the creates gets all of them from the
    // watch cache at once: the server's raw event delivery rate.
    const r0 = performance.now();
    await watch(startRv).done;
    const replaySecs = (performance.now() - r0) / 1000;

    // Lists: one unpaged, then paged as kubectl does (limit=500).
    const l0 = performance.now();
    const full = JSON.parse((await call('GET', CNP)).text) as { items: unknown[] };
    const listMs = performance.now() - l0;
    const p0 = performance.now();
    let items = 0;
    let cont = '';
    do {
      const page = JSON.parse(
        (await call('GET', `${CNP}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`)).text,
      ) as { items: unknown[]; metadata: { continue?: string } };
      items += page.items.length;
      cont = page.metadata.continue ?? '';
    } while (cont);
    const pagedMs = performance.now() - p0;
    const s0 = performance.now();
    const selRes = await call('GET', `${CNP}?labelSelector=shard%3D3`);
    if (selRes.status !== 200)
      throw new Error(`list with a label selector: ${selRes.status} ${selRes.text.slice(0, 300)}`);
    const sel = JSON.parse(selRes.text) as { items: unknown[] };
    const selMs = performance.now() - s0;

    createLat.sort((a, b) => a - b);
    watchLat.sort((a, b) => a - b);
    if (sel.items.length !== COUNT / 10) throw new Error(`labelSelector list: ${sel.items.length} items`);
    return {
      createPerSec: COUNT / createSecs,
      createP50: pct(createLat, 50),
      createP99: pct(createLat, 99),
      deliveryPerSec: (COUNT * WATCHERS) / deliverySecs,
      replayPerSec: COUNT / replaySecs,
      watchP50: pct(watchLat, 50),
      watchP99: pct(watchLat, 99),
      listMs: full.items.length ? listMs : NaN,
      pagedMs: items ? pagedMs : NaN,
      selMs,
    };
  } finally {
    agent.destroy();
    await downDetached(dir);
  }
}

const ROWS: [keyof Figures, string, string][] = [
  ['createPerSec', 'create throughput', 'objects/s'],
  ['createP50', 'create latency p50', 'ms'],
  ['createP99', 'create latency p99', 'ms'],
  ['deliveryPerSec', 'watch delivery (live)', 'events/s'],
  ['replayPerSec', 'watch replay', 'events/s'],
  ['watchP50', 'watch latency p50', 'ms'],
  ['watchP99', 'watch latency p99', 'ms'],
  ['listMs', 'list, unpaged', 'ms'],
  ['pagedMs', 'list, limit=500', 'ms'],
  ['selMs', 'list, labelSelector', 'ms'],
];

const off = await measure(false);
const on = await measure(true);
console.log(
  `devcluster API server benchmark: ${COUNT} CiliumNetworkPolicies, ${CONCURRENCY} concurrent creators, ${WATCHERS} watcher(s), node ${process.version}`,
);
console.log('| figure | authn+RBAC off | on (ServiceAccount token, RBAC) | on / off |');
console.log('|---|---|---|---|');
for (const [k, name, unit] of ROWS)
  console.log(
    `| ${name} | ${off[k].toFixed(1)} ${unit} | ${on[k].toFixed(1)} ${unit} | ${(on[k] / off[k]).toFixed(2)} |`,
  );
