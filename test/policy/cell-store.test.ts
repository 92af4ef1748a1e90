// The cell store (policy/cell-store.ts) against a plain model: random contributions added and
// withdrawn (single peers and whole selections, allows and denies, covering keys), flushed at
// random points. After every flush the store's entries must be what the model's counts say
// (deny wins; an allow under a covering deny of the same peer and direction is left out), and
// the flushed deltas applied in order must rebuild them. Peers crowd a few hash slots (dense
// runs and multiples of a power of two), so probing, growth and backward-shift deletion all run.
import { describe, expect, it } from '@jest/globals';
import { l4Compact } from '../../policy/cell-key.js';
import { CellArena, CellStore } from '../../policy/cell-store.js';
import { rng } from '../../hack/bench/policy-workload.js';
import { covers, entryText, type MapEntry } from '../../policy/index.js';

const KEYS = [
  { proto: 0, port: 0, len: 0 },
  { proto: 6, port: 80, len: 16 },
  { proto: 6, port: 0x1f00, len: 8 },
  { proto: 6, port: 0x1f40, len: 12 },
  { proto: 17, port: 53, len: 16 },
  { proto: 1, port: 8, len: 16 },
] as const;
const DIRS = ['ingress', 'egress'] as const;

interface Count {
  allow: number;
  deny: number;
}

function expected(model: Map<string, Count>): string[] {
  const out: string[] = [];
  for (const [k, c] of model) {
    const [dir, ki, id] = k.split('|').map(Number) as [number, number, number];
    const key = KEYS[ki];
    if (!key) continue;
    let verdict: 'allow' | 'deny' | undefined;
    if (c.deny > 0) verdict = 'deny';
    else if (c.allow > 0) {
      const hidden = KEYS.some(
        (d, di) => di !== ki && (model.get(`${dir}|${di}|${id}`)?.deny ?? 0) > 0 && covers(d, key),
      );
      if (!hidden) verdict = 'allow';
    }
    if (verdict) out.push(`${DIRS[dir] === 'egress' ? 'e' : 'i'}${id}:${key.proto}/${key.port}/${key.len}=${verdict}`);
  }
  return out.sort();
}

const texts = (list: readonly MapEntry[]): string[] => list.map((e) => `${entryText(e)}=${e.verdict}`).sort();

/**
 * Drives one store with the random contributions of `seed`, one step per call of the returned
 * function; a step may flush (the last one does) and returns the check of that flush's delta and
 * entries against the model, to run at once or after other stores' steps.
 */
function modelRun(seed: number, store: CellStore): (step: number) => () => void {
  const r = rng(seed);
  const model = new Map<string, Count>();
  const state = new Map<string, MapEntry>();
  // Crowded peers: a dense run, multiples of 64 (same low bits), CIDR-like large numbers.
  const peers = [
    ...Array.from({ length: 40 }, (_, i) => i),
    ...Array.from({ length: 40 }, (_, i) => 64 * (i + 1)),
    ...Array.from({ length: 20 }, (_, i) => (1 << 24) + i),
  ];
  const live: { dir: number; ids: number[]; keys: number[]; deny: boolean }[] = [];
  return (step) => {
    const withdraw = live.length > 0 && r() < 0.45;
    let c: { dir: number; ids: number[]; keys: number[]; deny: boolean };
    if (withdraw) {
      const i = Math.floor(r() * live.length);
      c = live[i] as (typeof live)[number];
      live.splice(i, 1);
    } else {
      const n = r() < 0.3 ? 1 + Math.floor(r() * 60) : 1;
      const ids = [...new Set(Array.from({ length: n }, () => peers[Math.floor(r() * peers.length)] ?? 0))];
      const keys = [...new Set(Array.from({ length: 1 + Math.floor(r() * 2) }, () => Math.floor(r() * KEYS.length)))];
      c = { dir: r() < 0.5 ? 0 : 1, ids, keys, deny: r() < 0.2 };
      live.push(c);
    }
    const sign = withdraw ? -1 : 1;
    const l4 = c.keys.map((ki) => {
      const k = KEYS[ki] ?? KEYS[0];
      return l4Compact(k.proto, k.port, k.len);
    });
    const dir = DIRS[c.dir] ?? 'ingress';
    if (c.ids.length === 1 && r() < 0.5) store.add(dir, c.ids[0] ?? 0, l4, c.deny, sign);
    else store.addMany(dir, new Set(c.ids), l4, c.deny, sign);
    for (const id of c.ids) {
      for (const ki of c.keys) {
        const k = `${c.dir}|${ki}|${id}`;
        const have = model.get(k) ?? { allow: 0, deny: 0 };
        if (c.deny) have.deny += sign;
        else have.allow += sign;
        if (have.allow === 0 && have.deny === 0) model.delete(k);
        else model.set(k, have);
      }
    }
    if (!(r() < 0.3 || step === 399)) return () => {};
    const d = store.flush();
    return () => {
      for (const e of d.removed) state.delete(entryText(e));
      for (const e of d.added) state.set(entryText(e), e);
      const want = expected(model);
      expect(texts(store.entries())).toEqual(want);
      expect(texts([...state.values()])).toEqual(want);
      expect(store.count()).toBe(want.length);
    };
  };
}

describe('cell store against a model', () => {
  it.each([1, 2, 3, 4, 5, 6])('seed %i: entries and deltas match the counts after every flush', (seed) => {
    const run = modelRun(seed, new CellStore());
    for (let step = 0; step < 400; step++) run(step)();
  });

  it("stores sharing one arena (as the engine's do) stay apart: a delta is read after the others' flushes", () => {
    const arena = new CellArena();
    const runs = [1, 2, 3].map((seed) => modelRun(seed, new CellStore(arena)));
    for (let step = 0; step < 400; step++) for (const check of runs.map((run) => run(step))) check();
  });
});
