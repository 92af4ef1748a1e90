// writePolicy with many swaps: many endpoints' policies switched in one batched update of the outer map; each
// endpoint sees its old map or its new one, and unchanged endpoints are left alone.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Drop } from '../../datapath/constants.js';
import type { PolicyWrite, ResolvedEntry } from '../../datapath/datapath.js';
import { buildFrame } from '../../datapath/packet.js';
import { Pair } from './harness.js';

const N = 20;
const ids = Array.from({ length: N }, (_, i) => 500 + i);
const ipOf = (i: number): string => `10.44.${i >> 8}.${i & 255}`;
let dp: Pair;

beforeAll(() => {
  dp = new Pair();
  dp.endpoints(ids.map((id, i) => ({ id, ips: [ipOf(i + 1)], ifindex: 1, identity: 7000 + i })));
  dp.ipcache([{ prefix: '10.99.0.1', identity: 9001 }]);
});

afterAll(() => dp?.close());

/** Egress to 10.99.0.1 (identity 9001) on TCP `port`. */
const allow = (port: number): ResolvedEntry => ({
  identity: 9001,
  direction: 'egress',
  protocol: 6,
  portPrefix: { port, prefixLen: 16 },
  verdict: 'allow',
});

const allowPort = (port: number): PolicyWrite => ({ mode: 'swap', entries: [allow(port)] });

function verdict(i: number, port: number): { allowed: boolean; reason: number } {
  const { k, s } = dp.run(
    buildFrame({ src: ipOf(i + 1), dst: '10.99.0.1', proto: 'tcp', dport: port, sport: 20000 + port * 50 + i }),
    'from-container',
  );
  expect({ allowed: s.allowed, reason: s.reason }).toEqual({ allowed: k.allowed, reason: k.reason });
  return { allowed: k.allowed, reason: k.reason };
}

describe('writePolicy (swap)', () => {
  it('installs many endpoints in one batch, and rewrites only the ones that changed', () => {
    const first = dp.kernel.writePolicy(new Map(ids.map((id) => [id, allowPort(80)])));
    dp.sim.writePolicy(new Map(ids.map((id) => [id, allowPort(80)])));
    expect([...first.values()].every((r) => r.replaced && r.added === 1)).toBe(true);
    for (let i = 0; i < N; i += 5) {
      expect(verdict(i, 80)).toEqual({ allowed: true, reason: 0 });
      expect(verdict(i, 81)).toEqual({ allowed: false, reason: Drop.policy });
    }
    // half change to port 81, half stay
    const next = new Map(ids.map((id, i) => [id, allowPort(i % 2 ? 81 : 80)]));
    const second = dp.kernel.writePolicy(next);
    dp.sim.writePolicy(next);
    ids.forEach((id, i) => expect(second.get(id)?.replaced).toBe(i % 2 === 1));
    expect(verdict(1, 81).allowed).toBe(true);
    expect(verdict(3, 80).allowed).toBe(false);
    expect(verdict(2, 80).allowed).toBe(true);
  });

  it('writes one delta shared by many endpoints in place, also after a swap replaced their maps', () => {
    // the engine hands endpoints of one resolved policy the same arrays: one encoding for all
    const added = [allow(90)];
    const shared = new Map(ids.map((id): [number, PolicyWrite] => [id, { mode: 'delta', added, removed: [] }]));
    const r = dp.kernel.writePolicy(shared);
    dp.sim.writePolicy(shared);
    expect([...r.values()].every((x) => x.added === 1 && !x.replaced)).toBe(true);
    for (let i = 0; i < N; i += 4) expect(verdict(i, 90).allowed).toBe(true);
    // a swap installs new maps (the fds kept for the old ones must not be written to afterwards)
    const swaps = new Map(ids.map((id) => [id, allowPort(100)]));
    dp.kernel.writePolicy(swaps);
    dp.sim.writePolicy(swaps);
    expect(dp.kernel.dumpPolicy(ids[0]!)?.map((e) => e.portPrefix.port)).toEqual([100]);
    const again = new Map(
      ids.map((id): [number, PolicyWrite] => [id, { mode: 'delta', added: [allow(91)], removed: [] }]),
    );
    dp.kernel.writePolicy(again);
    dp.sim.writePolicy(again);
    for (let i = 0; i < N; i += 4) {
      expect(verdict(i, 91).allowed).toBe(true);
      expect(verdict(i, 100).allowed).toBe(true);
      expect(dp.kernel.policyEntryCount(ids[i]!)).toBe(2);
    }
    // deleted and written again: the map is created from the delta
    dp.kernel.deletePolicy(ids[0]!);
    expect(dp.kernel.dumpPolicy(ids[0]!)).toBeUndefined();
    dp.kernel.writePolicy(new Map([[ids[0]!, { mode: 'delta', added: [allow(92)], removed: [] }]]));
    expect(dp.kernel.policyEntryCount(ids[0]!)).toBe(1);
  });

  it('one write mixes endpoints with and without a map; removals in place count what each map had', () => {
    const base = new Map(ids.map((id) => [id, allowPort(110)]));
    dp.kernel.writePolicy(base);
    dp.sim.writePolicy(base);
    // two endpoints lose their maps: the same delta creates theirs whole, the others get it in place
    dp.kernel.deletePolicy(ids[1]!);
    dp.kernel.deletePolicy(ids[2]!);
    const added = [allow(111)];
    const grow = new Map(ids.map((id): [number, PolicyWrite] => [id, { mode: 'delta', added, removed: [] }]));
    const r = dp.kernel.writePolicy(grow);
    expect([ids[1], ids[2]].map((id) => r.get(id!)?.replaced)).toEqual([true, true]);
    expect(r.get(ids[3]!)).toMatchObject({ added: 1, removed: 0, replaced: false });
    expect(dp.kernel.policyEntryCount(ids[1]!)).toBe(1);
    expect(dp.kernel.policyEntryCount(ids[3]!)).toBe(2);
    // one removal shared by all: each map says whether it had the entry (the recreated ones did not have 110)
    const removed = [allow(110)];
    const shrink = new Map(ids.map((id): [number, PolicyWrite] => [id, { mode: 'delta', added: [], removed }]));
    const s2 = dp.kernel.writePolicy(shrink);
    expect(s2.get(ids[1]!)).toMatchObject({ removed: 0, replaced: false });
    expect(s2.get(ids[3]!)).toMatchObject({ removed: 1, replaced: false });
    for (const id of ids) expect(dp.kernel.dumpPolicy(id)?.map((e) => e.portPrefix.port)).toEqual([111]);
  });
});
