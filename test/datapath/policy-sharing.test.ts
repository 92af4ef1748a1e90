// Endpoints with the same policy entries share one inner map (decision 47). Whatever the sequence
// of swaps, deltas (shared by all, by some, or one endpoint's own), deletions and agent restarts,
// every endpoint's map — read from the kernel through the pinned outer map, not through our own
// records — holds exactly what that endpoint alone would hold, and a delta written to a shared map
// never reaches an endpoint it was not meant for.
import { afterEach, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { loadAddon } from '../../datapath/addon.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import type { PolicyWrite, ResolvedEntry } from '../../datapath/datapath.js';
import { decodePolicy } from '../../datapath/dump.js';
import { dumpMap } from '../../datapath/map-sync.js';
import { FUZZ_SEED, gen } from '../fuzz/seed.js';
import { pinRoot, removePins } from './harness.js';

const addon = loadAddon();
let pins: string | undefined;
let dp: KernelDatapath | undefined;

afterEach(() => {
  dp?.close();
  dp = undefined;
  if (pins) removePins(pins);
  pins = undefined;
});

function open(): KernelDatapath {
  pins ??= pinRoot();
  return new KernelDatapath({ pinRoot: pins, readEvents: false });
}

const entry = (port: number, identity = 9001): ResolvedEntry => ({
  identity,
  direction: 'ingress',
  protocol: 6,
  portPrefix: { port, prefixLen: 16 },
  verdict: 'allow',
});
const text = (e: { identity: number; portPrefix: { port: number } }): string => `${e.identity}:${e.portPrefix.port}`;

/** endpoint id → (its inner map's kernel id, its entries), read through the pinned outer map. */
function kernelView(): Map<number, { mapId: number; entries: string[] }> {
  const outer = addon.objGet(join(pins!, 'cilium_policy_v2'));
  try {
    const out = new Map<number, { mapId: number; entries: string[] }>();
    for (const e of dumpMap(addon, { fd: outer, name: 'outer', keySize: 4, valueSize: 4, maxEntries: 0 })) {
      const id = new DataView(e.key.buffer, e.key.byteOffset).getUint32(0, true);
      const mapId = new DataView(e.value.buffer, e.value.byteOffset).getUint32(0, true);
      const fd = addon.mapFdById(mapId);
      try {
        const raw = dumpMap(addon, { fd, name: 'inner', keySize: 12, valueSize: 12, maxEntries: 0 });
        out.set(id, { mapId, entries: decodePolicy(raw).map(text).sort() });
      } finally {
        addon.close(fd);
      }
    }
    return out;
  } finally {
    addon.close(outer);
  }
}

describe('policy maps shared by endpoints with the same entries', () => {
  it('a delta for every endpoint of a shared map is one write; one for some of them copies the map', () => {
    dp = open();
    const ids = Array.from({ length: 200 }, (_, i) => 100 + i);
    const base = [entry(80), entry(443)];
    dp.writePolicy(new Map(ids.map((id): [number, PolicyWrite] => [id, { mode: 'swap', entries: base }])));
    let view = kernelView();
    expect(new Set([...view.values()].map((v) => v.mapId)).size).toBe(1);
    // the same delta for all (as separate arrays: grouped by their bytes, not by identity)
    const all = dp.writePolicy(
      new Map(ids.map((id): [number, PolicyWrite] => [id, { mode: 'delta', added: [entry(8080)], removed: [] }])),
    );
    expect([...all.values()].every((r) => r.added === 1 && !r.replaced)).toBe(true);
    view = kernelView();
    expect(new Set([...view.values()].map((v) => v.mapId)).size).toBe(1);
    expect(view.get(100)!.entries).toEqual(['9001:443', '9001:80', '9001:8080']);
    // a delta for the first half only: they move to a copy, the others keep theirs untouched
    const half = ids.slice(0, 100);
    const some = dp.writePolicy(
      new Map(half.map((id): [number, PolicyWrite] => [id, { mode: 'delta', added: [], removed: [entry(80)] }])),
    );
    expect(some.get(100)).toMatchObject({ removed: 1, replaced: true });
    view = kernelView();
    expect(view.get(100)!.entries).toEqual(['9001:443', '9001:8080']);
    expect(view.get(299)!.entries).toEqual(['9001:443', '9001:80', '9001:8080']);
    expect(new Set(half.map((id) => view.get(id)!.mapId)).size).toBe(1);
    expect(view.get(100)!.mapId).not.toBe(view.get(299)!.mapId);
    // swapping the second half to what the first half holds reuses the first half's map
    dp.writePolicy(
      new Map(
        ids.slice(100).map((id): [number, PolicyWrite] => [id, { mode: 'swap', entries: [entry(443), entry(8080)] }]),
      ),
    );
    view = kernelView();
    expect(new Set([...view.values()].map((v) => v.mapId)).size).toBe(1);
  });

  it('a restarted agent learns the sharing from the outer map before its first write', () => {
    dp = open();
    const ids = [1, 2, 3];
    dp.writePolicy(new Map(ids.map((id): [number, PolicyWrite] => [id, { mode: 'swap', entries: [entry(80)] }])));
    dp.close();
    dp = open();
    // a delta for endpoint 1 alone must not reach 2 and 3, which share its map
    dp.writePolicy(new Map([[1, { mode: 'delta', added: [entry(22)], removed: [] }]]));
    const view = kernelView();
    expect(view.get(1)!.entries).toEqual(['9001:22', '9001:80']);
    expect(view.get(2)!.entries).toEqual(['9001:80']);
    expect(view.get(3)!.entries).toEqual(['9001:80']);
    expect(dp.dumpPolicy(2)?.map(text)).toEqual(['9001:80']);
  });

  it('random swaps, deltas, deletions and restarts: every endpoint holds what it alone would', () => {
    const g = gen(0x5a17);
    const rand = (): number => g.next();
    const pick = <T>(xs: readonly T[]): T => g.pick(xs);
    const ids = Array.from({ length: 12 }, (_, i) => 10 + i);
    const ports = [22, 53, 80, 443, 8080];
    const peers = [9001, 9002];
    /** what each endpoint alone would hold (text form); absent: no map */
    const model = new Map<number, Set<string>>();
    dp = open();
    for (let step = 0; step < 400; step++) {
      const where = `FUZZ_SEED ${FUZZ_SEED}, step ${step}`;
      const op = rand();
      const subset = ids.filter(() => rand() < 0.5);
      if (op < 0.3) {
        // swaps from a small pool of contents, so endpoints collide often
        const contents = [[entry(80)], [entry(80), entry(443)], [entry(22, 9002)], []];
        const writes = new Map<number, PolicyWrite>();
        for (const id of subset) {
          const entries = pick(contents);
          writes.set(id, { mode: 'swap', entries });
          model.set(id, new Set(entries.map(text)));
        }
        dp.writePolicy(writes);
      } else if (op < 0.8) {
        // deltas: one shared by the subset (the engine's shared arrays), or each endpoint its own
        const shared = rand() < 0.6;
        const mk = (): { added: ResolvedEntry[]; removed: ResolvedEntry[] } => {
          const a = rand() < 0.5 ? [entry(pick(ports), pick(peers))] : [];
          const r = rand() < 0.5 ? [entry(pick(ports), pick(peers))] : [];
          return { added: a, removed: r.filter((x) => !a.some((y) => text(y) === text(x))) };
        };
        const one = mk();
        const writes = new Map<number, PolicyWrite>();
        let changed = 0;
        for (const id of subset) {
          const d = shared ? one : mk();
          writes.set(id, { mode: 'delta', ...d });
          const before = model.get(id);
          if (d.added.length > 0 || (before && d.removed.some((e) => before.has(text(e))))) changed++;
          const now = before ?? new Set<string>();
          for (const e of d.removed) now.delete(text(e));
          for (const e of d.added) now.add(text(e));
          model.set(id, now);
        }
        if (shared && rand() < 0.5) {
          // as the policy hub writes it: the endpoints sharing the delta object as groups
          const half = Math.floor(subset.length / 2);
          const groups = [subset.slice(0, half), subset.slice(half)].map((endpoints) => ({ endpoints, ...one }));
          expect({ where, changed: dp.writePolicyDeltas(groups) }).toEqual({ where, changed });
        } else dp.writePolicy(writes);
      } else if (op < 0.9) {
        for (const id of subset.slice(0, 2)) {
          dp.deletePolicy(id);
          model.delete(id);
        }
      } else {
        dp.close();
        dp = open();
      }
      const view = kernelView();
      expect({ where, endpoints: [...view.keys()].sort((a, b) => a - b) }).toEqual({
        where,
        endpoints: [...model.keys()].sort((a, b) => a - b),
      });
      for (const [id, want] of model)
        expect({ where, id, entries: view.get(id)!.entries }).toEqual({ where, id, entries: [...want].sort() });
    }
  });
});
