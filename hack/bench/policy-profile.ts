// Profiling harness (not a benchmark): builds the full cluster, then repeats the policy-added
// changes of hack/bench/policy.ts many times, so a CPU profile is dominated by them.
// Run: node --expose-gc --cpu-prof --cpu-prof-dir=/tmp/pprof --import tsx hack/bench/policy-profile.ts [kind]
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { performance } from 'node:perf_hooks';
import { PolicyEngine, translatePolicy, type PolicyEvent } from '../../policy/index.js';
import { FULL_SIZE, makeWorkload } from './policy-workload.js';

const kind = process.argv[2] ?? 'policy';
const w = makeWorkload(1, FULL_SIZE);
const engine = new PolicyEngine();
engine.apply(w.identities.map((i): PolicyEvent => ({ type: 'identity-upserted', id: i.id, labels: i.labels })));
engine.apply(w.policies.map((p): PolicyEvent => ({ type: 'policy-upserted', policy: translatePolicy(p) })));
engine.apply(w.endpoints.map((endpoint): PolicyEvent => ({ type: 'endpoint-upserted', endpoint })));
const extra = makeWorkload(2, { ...FULL_SIZE, policies: 300 });
const translated = extra.policies.map((pol, i) =>
  translatePolicy({
    ...pol,
    object: { ...pol.object, metadata: { ...pol.object.metadata, name: `bench-${i}` } },
  } as never),
);
// Profile the changes only (not the set-up): PROFILE=out.cpuprofile.
const session = new Session();
const post = (m: string, p?: object): Promise<unknown> =>
  new Promise((res, rej) => session.post(m, p, (e, r) => (e ? rej(e) : res(r))));
if (process.env.HEAP) {
  session.connect();
  await post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: process.env.HEAP_MAJOR !== '0',
    includeObjectsCollectedByMinorGC: process.env.HEAP_MINOR === '1',
  });
}
if (process.env.PROFILE) {
  session.connect();
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 100 });
  await post('Profiler.start');
}
const s = performance.now();
let n = 0;
for (let round = 0; round < 10; round++) {
  if (kind === 'policy' || kind === 'some') {
    const list = kind === 'some' ? (process.argv[3] ?? '').split(',').map((i) => translated[Number(i)]!) : translated;
    for (const t of list) {
      engine.apply([{ type: 'policy-upserted', policy: t }]);
      engine.apply([{ type: 'policy-removed', key: t.key }]);
      n++;
    }
  } else {
    for (let i = 0; i < 300; i++) {
      const ident = w.newIdentity(300_000 + round * 1000 + i);
      engine.apply([{ type: 'identity-upserted', id: ident.id, labels: ident.labels }]);
      engine.apply([{ type: 'identity-removed', id: ident.id }]);
      n++;
    }
  }
}
console.log(`${kind}: ${n} add+remove pairs in ${(performance.now() - s).toFixed(0)} ms`);
if (process.env.HEAP)
  writeFileSync(
    process.env.HEAP,
    JSON.stringify(((await post('HeapProfiler.stopSampling')) as { profile: unknown }).profile),
  );
if (process.env.PROFILE)
  writeFileSync(process.env.PROFILE, JSON.stringify(((await post('Profiler.stop')) as { profile: unknown }).profile));
if (kind === 'top') {
  const rows: { i: number; ms: number; n: number; eps: number; kind: string }[] = [];
  for (const [i, t] of translated.entries()) {
    const s0 = performance.now();
    const o = engine.apply([{ type: 'policy-upserted', policy: t }]);
    const ms = performance.now() - s0;
    let n = 0;
    let eps = 0;
    for (const x of o) {
      if (x.type !== 'endpoint-delta') continue;
      n += x.size;
      eps++;
    }
    rows.push({
      i,
      ms,
      n,
      eps,
      kind: `${extra.policies[i]?.kind} ${JSON.stringify(extra.policies[i]?.object.spec).slice(0, 200)}`,
    });
    engine.apply([{ type: 'policy-removed', key: t.key }]);
  }
  rows.sort((a, b) => b.ms - a.ms);
  for (const r of rows.slice(0, 12)) console.log(r.ms.toFixed(2), r.n, r.eps, r.i, r.kind);
}
