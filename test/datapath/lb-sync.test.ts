// The LB writer's incremental path against a full rewrite: random Service changes applied one
// sync at a time (only changed objects are new, as the agent keeps unchanged ones) must leave the
// maps saying what a fresh load balancer given the same Services says — the same frontends, counts,
// flags and backends in slot order — with no backend or reverse-NAT entry that nothing names.
import { describe, expect, it } from '@jest/globals';
import { LbIds, type LbBackend, type LbService } from '../../datapath/lb.js';
import { LbMapNames } from '../../datapath/lb-constants.js';
import { SimLoadBalancer } from '../../datapath/lb-sim.js';

/** A deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const semantic = (lb: SimLoadBalancer) =>
  lb
    .dump()
    .map((r) =>
      r.slot === 0
        ? `${r.frontend.address}:${r.frontend.port}/${r.frontend.proto} count=${r.count} flags=${r.flags} aff=${r.affinityTimeoutSec}`
        : `${r.frontend.address}:${r.frontend.port}/${r.frontend.proto} #${r.slot} ${r.backend?.address}:${r.backend?.port} ${r.backend?.state}`,
    );

function orphans(lb: SimLoadBalancer): { backends: number; revNat: number } {
  const rows = lb.dump();
  const usedBackends = new Set(rows.filter((r) => r.slot > 0).map((r) => r.backendId));
  const usedRevNat = new Set(rows.filter((r) => r.slot === 0).map((r) => r.revNatIndex));
  return {
    backends: lb.entries(LbMapNames.backends).length - usedBackends.size,
    revNat: lb.entries(LbMapNames.revNat).length - usedRevNat.size,
  };
}

describe('LbWriter', () => {
  it.each([1, 2, 3, 4, 5])('seed %i: 60 incremental syncs end where a full write ends', (seed) => {
    const rand = rng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    // a backend's state belongs to the endpoint, so every Service sees the same one
    const backend = (): LbBackend => {
      const n = 1 + Math.floor(rand() * 12);
      return { address: `10.0.0.${n}`, port: pick([80, 8080]), proto: 'TCP', state: n % 4 ? 'active' : 'terminating' };
    };
    const service = (i: number): LbService => {
      const bs = new Map<string, LbBackend>();
      for (let n = Math.floor(rand() * 5); n > 0; n--) {
        const b = backend();
        bs.set(`${b.address}:${b.port}`, b);
      }
      return {
        frontend: { address: `10.96.0.${i}`, port: 80, proto: 'TCP' },
        type: pick(['ClusterIP', 'NodePort'] as const),
        backends: [...bs.values()],
        ...(rand() < 0.3 ? { affinityTimeoutSec: 60 } : {}),
      };
    };
    const lb = new SimLoadBalancer();
    let desired = Array.from({ length: 20 }, (_, i) => service(i + 1));
    lb.syncServices(desired);
    for (let step = 0; step < 60; step++) {
      desired = [...desired];
      const r = rand();
      const i = Math.floor(rand() * desired.length);
      if (r < 0.6 && desired.length) desired[i] = service(Number(desired[i]!.frontend.address.split('.')[3]));
      else if (r < 0.8 && desired.length) desired.splice(i, 1);
      else desired.push(service(21 + step));
      lb.syncServices(desired);
      const fresh = new SimLoadBalancer();
      fresh.syncServices(desired);
      expect([step, semantic(lb)]).toEqual([step, semantic(fresh)]);
      expect([step, orphans(lb)]).toEqual([step, { backends: 0, revNat: 0 }]);
    }
  });

  it('a sync with the same objects writes nothing', () => {
    const lb = new SimLoadBalancer();
    const desired: LbService[] = [
      {
        frontend: { address: '10.96.0.1', port: 80, proto: 'TCP' },
        type: 'ClusterIP',
        backends: [{ address: '10.0.0.1', port: 80, proto: 'TCP', state: 'active' }],
      },
    ];
    lb.syncServices(desired);
    expect(lb.syncServices(desired)).toEqual({
      services: { upserts: 0, deletes: 0, unchanged: 2 },
      backends: { upserts: 0, deletes: 0, unchanged: 1 },
      revNat: { upserts: 0, deletes: 0, unchanged: 1 },
    });
  });
});

describe('LbIds', () => {
  it('hands out ids upwards, and after the limit only free ones, never one in use', () => {
    const ids = new LbIds(4, 4);
    expect(['a', 'b', 'c', 'd'].map((k) => ids.frontend(k))).toEqual([1, 2, 3, 4]);
    ids.dropFrontend('b');
    expect(ids.frontend('e')).toBe(2); // wrapped: the only free one
    ids.dropFrontend('a');
    ids.dropFrontend('c');
    const f = ids.frontend('f');
    const g = ids.frontend('g');
    expect(new Set([f, g, 2, 4]).size).toBe(4);
    expect(() => ids.frontend('h')).toThrow(RangeError);
  });
});
