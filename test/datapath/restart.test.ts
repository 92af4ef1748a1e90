// Pinned state survives the process that created it: an "agent" process loads, programs and
// attaches everything, then exits. Traffic stays enforced; a new process opens the pinned maps,
// syncs the same desired state and writes nothing, and its later changes take effect.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MapNames } from '../../datapath/constants.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { loadAddon } from '../../datapath/addon.js';
import { dumpMap } from '../../datapath/map-sync.js';
import { pinRoot, removePins } from './harness.js';
import { Topology } from './netns.js';
import { setRules, type RuleSpec } from './policy-rules.js';

const script = fileURLToPath(new URL('./fixtures/agent-once.ts', import.meta.url));
const topo = new Topology();
const pins = pinRoot();
let dp: KernelDatapath | undefined;

const policies: [number, RuleSpec[]][] = [
  [
    201,
    [
      { identity: 2002, direction: 'egress', protocol: 6, port: 8080 },
      { identity: 2002, direction: 'egress', protocol: 6, port: 9090 },
    ],
  ],
  [202, [{ identity: 1001, direction: 'ingress', protocol: 6, port: 8080 }]],
];

function plan(): string {
  return JSON.stringify({
    pinRoot: pins,
    netns: topo.nodePath,
    attach: [topo.ifindex(topo.a), topo.ifindex(topo.b)],
    endpoints: [
      { id: 201, ips: [topo.a.ip], ifindex: topo.ifindex(topo.a), identity: 1001 },
      { id: 202, ips: [topo.b.ip], ifindex: topo.ifindex(topo.b), identity: 2002 },
    ],
    ipcache: [
      { prefix: topo.a.ip, identity: 1001 },
      { prefix: topo.b.ip, identity: 2002 },
    ],
    policies,
  });
}

beforeAll(async () => {
  topo.create();
  await topo.start(topo.b, 'serve-tcp', '8080');
  await topo.start(topo.b, 'serve-tcp', '9090');
});

afterAll(() => {
  try {
    dp?.close();
  } finally {
    topo.destroy();
    removePins(pins);
  }
});

describe('pinned state across processes', () => {
  it('keeps enforcing after the loading process exits, and a new process rewrites nothing that was right', async () => {
    const first = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', script, plan()]).toString()) as {
      endpoints: { added: number };
      policies: { replaced: boolean }[];
    };
    expect(first.endpoints.added).toBe(2);
    expect(first.policies.every((p) => p.replaced)).toBe(true);
    expect(existsSync(`${pins}/${MapNames.policy}`)).toBe(true);

    // the first process is gone; the kernel still enforces its policy
    expect(await topo.probe(topo.a, 'tcp', topo.b, 8080)).toBe(true);
    expect(await topo.probe(topo.a, 'tcp', topo.b, 9090, 500)).toBe(false);

    const addon = loadAddon();
    const progBefore = addon.tcQuery(topo.ifindex(topo.a), topo.nodePath, 'ingress', 1, 1);
    expect(progBefore).toBeGreaterThan(0);

    // a new process opens the pins and syncs the same desired state: zero writes
    dp = new KernelDatapath({ pinRoot: pins, readEvents: false });
    const p = JSON.parse(plan()) as { endpoints: never[]; ipcache: never[] };
    expect(dp.syncEndpoints(p.endpoints)).toEqual({ added: 0, updated: 0, removed: 0, unchanged: 2 });
    // the ipcache read ahead on a worker thread, as a restarting agent reads it while its caches sync
    await dp.readIpcacheAhead();
    expect(dp.syncIpcache(p.ipcache)).toEqual({ added: 0, updated: 0, removed: 0, unchanged: 2 });
    // a write between the read ahead and the sync makes the read stale: the sync reads the map
    // again (the stale read would not know 10.9.9.9, and would leave it)
    await dp.readIpcacheAhead();
    dp.updateIpcache([{ prefix: '10.9.9.9', identity: 7 }], []);
    expect(dp.syncIpcache(p.ipcache)).toEqual({ added: 0, updated: 0, removed: 1, unchanged: 2 });
    for (const [id, rules] of policies)
      expect(setRules(dp, id, rules)).toEqual({
        added: 0,
        updated: 0,
        removed: 0,
        unchanged: rules.length,
        replaced: false,
      });
    // conntrack survived too (the probes above made entries through the old process's programs)
    expect(dumpMap(addon, dp.map(MapNames.ct4)).length).toBeGreaterThan(0);
    // the programs attached by the first process are still the ones running
    expect(addon.tcQuery(topo.ifindex(topo.a), topo.nodePath, 'ingress', 1, 1)).toBe(progBefore);

    // and a change from the new process reaches them through the shared maps
    setRules(dp, 202, [{ identity: 1001, direction: 'ingress', protocol: 6, port: 9090 }]);
    expect(await topo.probe(topo.a, 'tcp', topo.b, 9090)).toBe(true);
    expect(await topo.probe(topo.a, 'tcp', topo.b, 8080, 500)).toBe(false);
  });
});
