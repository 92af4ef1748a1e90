// Policy engine benchmark: full resolution of 1,000 policies × 10,000 identities × 1,000
// endpoints (time, memory, entries) and the cost of one incremental change (identity added,
// identity removed, policy added, policy removed; p50/p99 over many runs).
// Run: npm run bench:policy   (or: npx tsx --expose-gc hack/bench/policy.ts [--quick])
import { performance } from 'node:perf_hooks';
import {
  PolicyEngine,
  translatePolicy,
  type PolicyEvent,
  type PolicyOutput,
  type TranslatedPolicy,
} from '../../policy/index.js';
import { FULL_SIZE, makeWorkload, rng } from './policy-workload.js';

const quick = process.argv.includes('--quick');
// The engine makes a delta's MapEntry objects on the first read of `added` / `removed`; the agent
// reads only which endpoints changed. --materialize reads every entry inside the timed region
// (what a consumer of every entry object pays).
const materialize = process.argv.includes('--materialize');
const touch = (o: PolicyOutput): number =>
  o.type === 'endpoint-delta' ? (materialize ? o.added.length + o.removed.length : o.size) : -1;
const size = quick ? { ...FULL_SIZE, endpoints: 200, policies: 200 } : FULL_SIZE;
const gc = (globalThis as { gc?: () => void }).gc;

function heapMiB(): number {
  // Twice: one full GC can leave what a finalization pass frees.
  gc?.();
  gc?.();
  // Typed-array backing stores (the cell tables) live outside the JS heap: count them too.
  const m = process.memoryUsage();
  return (m.heapUsed + m.arrayBuffers) / 2 ** 20;
}

function pct(list: number[], p: number): number {
  const s = [...list].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

const fmt = (ms: number): string => `${ms.toFixed(2)} ms`;

const w = makeWorkload(1, size);
const heap0 = heapMiB();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const translated: TranslatedPolicy[] = w.policies.map((p) => translatePolicy(p));
const t1 = performance.now();
const engine = new PolicyEngine();
engine.apply(w.identities.map((i): PolicyEvent => ({ type: 'identity-upserted', id: i.id, labels: i.labels })));
const t2 = performance.now();
engine.apply(translated.map((policy): PolicyEvent => ({ type: 'policy-upserted', policy })));
const t3 = performance.now();
// In a function, so that the outputs (the datapath's to write, then drop) are garbage after it.
const attachAll = (): number[] =>
  engine
    .apply(w.endpoints.map((endpoint): PolicyEvent => ({ type: 'endpoint-upserted', endpoint })))
    .map(touch)
    .filter((n) => n >= 0);
const perEndpoint = attachAll();
const t4 = performance.now();
const cpu = process.cpuUsage(cpu0);
const stats = engine.stats();
const heap1 = heapMiB();

console.log(
  `policy engine benchmark (${quick ? 'quick' : 'full'}${materialize ? ', every entry object materialized' : ''}, node ${process.version}): ${size.policies} policies × ${w.identities.length} identities × ${size.endpoints} endpoints`,
);
console.log(
  `full resolution: ${fmt(t4 - t0)} wall, ${fmt((cpu.user + cpu.system) / 1000)} CPU (translate ${fmt(t1 - t0)}, identities ${fmt(t2 - t1)}, policies ${fmt(t3 - t2)}, endpoints ${fmt(t4 - t3)})`,
);
console.log(
  `  engine heap +${(heap1 - heap0).toFixed(1)} MiB (JS heap + array buffers, outputs dropped); ${stats.resolvedPolicies} resolved policies shared by ${stats.endpoints} endpoints; ${stats.selectors} selectors; ` +
    `${stats.entries} map entries (per endpoint p50 ${pct(perEndpoint, 50)}, p99 ${pct(perEndpoint, 99)}, max ${Math.max(...perEndpoint)})`,
);

if (process.argv.includes('--resolve-only')) process.exit(0);

const r = rng(99);
const runs = quick ? 100 : 300;
const timings: Record<string, number[]> = {
  'identity added': [],
  'identity removed': [],
  'policy added': [],
  'policy removed': [],
};
const touched: Record<string, number[]> = {
  'identity added': [],
  'identity removed': [],
  'policy added': [],
  'policy removed': [],
};
/** CPU time per change (less sensitive than wall time to other jobs on a shared machine). */
const cpuTimes: Record<string, number[]> = {
  'identity added': [],
  'identity removed': [],
  'policy added': [],
  'policy removed': [],
};
/** Map entries written (added + removed, summed over endpoints) per change. */
const written: Record<string, number[]> = {
  'identity added': [],
  'identity removed': [],
  'policy added': [],
  'policy removed': [],
};
const extra = makeWorkload(2, { ...size, policies: runs });
// The extra workload is the harness's, not the engine's: collect before timing, so its promotion
// out of the young generation is not charged to the first changes.
gc?.();
let nextId = 200_000;
const time = (name: string, events: PolicyEvent[]): void => {
  const c = process.cpuUsage();
  const s = performance.now();
  const o = engine.apply(events);
  const n = o.reduce((k, x) => k + Math.max(0, touch(x)), 0);
  timings[name]?.push(performance.now() - s);
  const dc = process.cpuUsage(c);
  cpuTimes[name]?.push((dc.user + dc.system) / 1000);
  touched[name]?.push(o.filter((x) => x.type === 'endpoint-delta').length);
  written[name]?.push(n);
};
for (let i = 0; i < runs; i++) {
  const ident = w.newIdentity(nextId++);
  time('identity added', [{ type: 'identity-upserted', id: ident.id, labels: ident.labels }]);
  time('identity removed', [{ type: 'identity-removed', id: ident.id }]);
  // Existing identities too (not the subject of a local endpoint): remove, then re-add.
  const existing = w.identities[Math.floor(r() * w.identities.length)];
  if (existing && !w.endpoints.some((e) => e.identity === existing.id)) {
    time('identity removed', [{ type: 'identity-removed', id: existing.id }]);
    time('identity added', [{ type: 'identity-upserted', id: existing.id, labels: existing.labels }]);
  }
  const pol = extra.policies[i];
  if (!pol) continue;
  const t = translatePolicy({
    ...pol,
    object: { ...pol.object, metadata: { ...pol.object.metadata, name: `bench-${i}` } },
  } as never);
  time('policy added', [{ type: 'policy-upserted', policy: t }]);
  time('policy removed', [{ type: 'policy-removed', key: t.key }]);
}
for (const [name, list] of Object.entries(timings)) {
  const t = touched[name] ?? [];
  const e = written[name] ?? [];
  console.log(
    `${name.padEnd(17)} wall p50 ${fmt(pct(list, 50))}  p99 ${fmt(pct(list, 99))}  max ${fmt(Math.max(...list))}; CPU p50 ${fmt(pct(cpuTimes[name] ?? [], 50))}  p99 ${fmt(pct(cpuTimes[name] ?? [], 99))}  ` +
      `(n=${list.length}; endpoints changed p50 ${pct(t, 50)}, max ${Math.max(...t)}; entries written p50 ${pct(e, 50)}, p99 ${pct(e, 99)}, max ${Math.max(...e)})`,
  );
}
// Changes that rewrite tens of thousands of entries (a peer such as the cluster entity selects
// every identity: one entry per identity per endpoint, as upstream) are bounded by entries/ms.
const all = Object.keys(timings).flatMap((k) =>
  (timings[k] ?? []).map((ms, i) => ({ ms, cpu: cpuTimes[k]?.[i] ?? 0, n: written[k]?.[i] ?? 0 })),
);
const small = all.filter((x) => x.n <= 5000);
const sw = small.map((x) => x.ms);
const sc = small.map((x) => x.cpu);
console.log(
  `all changes writing ≤ 5,000 entries: wall p50 ${fmt(pct(sw, 50))}  p99 ${fmt(pct(sw, 99))}; CPU p50 ${fmt(pct(sc, 50))}  p99 ${fmt(pct(sc, 99))}  (n=${small.length} of ${all.length})`,
);
if (process.argv.includes('--top')) {
  // The slowest changes of each kind (what the p99 is made of), with the entries they wrote.
  for (const [name, list] of Object.entries(timings)) {
    const rows = list.map((ms, i) => ({
      i,
      ms,
      cpu: cpuTimes[name]?.[i] ?? 0,
      n: written[name]?.[i] ?? 0,
      eps: touched[name]?.[i] ?? 0,
    }));
    const show = (x: (typeof rows)[number]): string =>
      `#${x.i} ${fmt(x.ms)} (CPU ${fmt(x.cpu)}, ${x.n} entries, ${x.eps} endpoints)`;
    console.log(
      `  slowest ${name} (wall): ${[...rows]
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 5)
        .map(show)
        .join('; ')}`,
    );
    console.log(
      `  slowest ${name} (CPU): ${[...rows]
        .sort((a, b) => b.cpu - a.cpu)
        .slice(0, 5)
        .map(show)
        .join('; ')}`,
    );
  }
}
const big = all.filter((x) => x.n > 5000);
if (big.length > 0) {
  const rate = big.map((x) => (x.ms * 1000) / x.n);
  console.log(
    `changes writing > 5,000 entries: n=${big.length}, cost per entry written p50 ${pct(rate, 50).toFixed(2)} µs, p99 ${pct(rate, 99).toFixed(2)} µs`,
  );
}
