// The conntrack table as the agent's configuration shapes it: sized from bpf-ct-global-*-max (a
// pinned table of another size is recreated, as upstream does), and swept of expired entries by
// gcConntrack (the agent's conntrack-gc-interval), in the kernel and in the sim alike.
import { afterEach, describe, expect, it } from '@jest/globals';
import { loadAddon } from '../../datapath/addon.js';
import { ctEntry, ipv4CtTuple } from '../../datapath/codecs.js';
import { MapNames, Sizes } from '../../datapath/constants.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { SimDatapath } from '../../datapath/sim.js';
import { buildFrame } from '../../datapath/packet.js';
import { pinRoot, removePins, testConfig } from './harness.js';
import { setRules } from './policy-rules.js';

const A = { id: 11, v4: '10.0.0.1', identity: 1001 };
const B = { v4: '10.0.0.2', identity: 2002 };

const open: KernelDatapath[] = [];
const pinDirs: string[] = [];
afterEach(() => {
  try {
    for (const dp of open.splice(0)) dp.close();
  } finally {
    for (const d of pinDirs.splice(0)) removePins(d);
  }
});

function kernel(pins: string, ct4?: number): KernelDatapath {
  const dp = new KernelDatapath({
    pinRoot: pins,
    config: testConfig,
    readEvents: false,
    ...(ct4 ? { maxEntries: { [MapNames.ct4]: ct4 } } : {}),
  });
  open.push(dp);
  return dp;
}

/** A CT entry for 10.0.0.1:<sport> → 10.0.0.2:80/udp with this lifetime (monotonic seconds). */
function putCt(dp: KernelDatapath, sport: number, lifetime: number): void {
  const key = ipv4CtTuple.encode({
    saddr: Uint8Array.of(10, 0, 0, 1),
    daddr: Uint8Array.of(10, 0, 0, 2),
    sport,
    dport: 80,
    nexthdr: 17,
    flags: 0,
  });
  const value = ctEntry.encode({ ...ctEntry.decode(new Uint8Array(ctEntry.size)), lifetime });
  loadAddon().mapUpdate(dp.map(MapNames.ct4).fd, key, value, 0);
}

/** Endpoint A with an L3 egress allow to B, and one UDP flow A → B through it (a CT entry). */
function program(dp: KernelDatapath | SimDatapath): void {
  dp.syncEndpoints([{ id: A.id, ips: [A.v4], ifindex: 1, identity: A.identity }]);
  dp.syncIpcache([
    { prefix: `${A.v4}/32`, identity: A.identity },
    { prefix: `${B.v4}/32`, identity: B.identity },
  ]);
  setRules(dp, A.id, [{ identity: B.identity, direction: 'egress', protocol: 0, port: 0 }]);
  expect(
    dp.process(buildFrame({ src: A.v4, dst: B.v4, proto: 'udp', sport: 40000, dport: 53 }), 'from-container').allowed,
  ).toBe(true);
}

describe('conntrack table size (bpf-ct-global-tcp-max + bpf-ct-global-any-max)', () => {
  it('loads cilium_ct4_global with the configured size, keeps a pinned table of that size, recreates one of another size', () => {
    const pins = pinRoot();
    pinDirs.push(pins);
    const first = kernel(pins, 4096);
    expect(first.map(MapNames.ct4).maxEntries).toBe(4096);
    expect(first.map(MapNames.ct6).maxEntries).toBe(Sizes.ct6);
    putCt(first, 1000, 0xffffffff);
    first.close();
    open.length = 0;

    const same = kernel(pins, 4096);
    expect(same.recreatedMaps).toEqual([]);
    expect(same.dumpConntrack()).toHaveLength(1);
    same.close();
    open.length = 0;

    const resized = kernel(pins, 8192);
    expect(resized.recreatedMaps).toEqual([MapNames.ct4]);
    expect(resized.map(MapNames.ct4).maxEntries).toBe(8192);
    expect(resized.dumpConntrack()).toHaveLength(0);
  });
});

describe('conntrack garbage collection', () => {
  it('kernel: deletes expired entries only', () => {
    const pins = pinRoot();
    pinDirs.push(pins);
    const dp = kernel(pins, 4096);
    program(dp);
    putCt(dp, 1001, 1); // expired long ago
    putCt(dp, 1002, 2); // expired too
    expect(dp.dumpConntrack()).toHaveLength(3);
    expect(dp.gcConntrack()).toEqual({ deleted: 2, alive: 1, capacity: 4096 + Sizes.ct6 });
    expect(dp.dumpConntrack()).toEqual([expect.objectContaining({ sport: 40000, dport: 53 })]);
    expect(dp.gcConntrack().deleted).toBe(0);
  });

  it('sim: deletes an entry once its lifetime has passed', () => {
    let now = 1_000n * 1_000_000_000n;
    const dp = new SimDatapath({ config: testConfig, clockNs: () => now });
    program(dp);
    expect(dp.gcConntrack()).toMatchObject({ deleted: 0, alive: 1 });
    now += BigInt(testConfig.ctLifetimeNonTcp + 1) * 1_000_000_000n;
    expect(dp.gcConntrack()).toMatchObject({ deleted: 1, alive: 0 });
    expect(dp.dumpConntrack()).toEqual([]);
  });
});
