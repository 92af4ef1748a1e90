// What the agent does with the cilium-config keys that are more than a value passed on:
// conntrack-gc-interval (the GC's schedule, fixed or adaptive as upstream's), cni-exclusive (other
// CNI configurations renamed to *.cilium_bak, at start and on every change), cluster-id (bits
// 16-23 of every identity) and identity-change-grace-period (a relabelled endpoint keeps its old
// identity that long). Unit tests over fakes and a temporary directory.
import { afterEach, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { CILIUM_CONFLIST, CniExclusiveGuard, moveOtherCniConfigs } from '../../../controllers/agent/cni-exclusive.js';
import { CT_GC_ADAPTIVE, ConntrackGc, nextGcInterval } from '../../../controllers/agent/conntrack-gc.js';
import {
  IdentityAllocator,
  labelsKey,
  type CiliumIdentityObject,
} from '../../../controllers/agent/identity-allocator.js';
import { Store, testing, type KubeObject } from '../../../controllers/framework/index.js';
import type { ConntrackGcResult } from '../../../datapath/datapath.js';
import { fakeEndpointManager, podRequest } from './fixtures/endpoint-manager.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'kts-agent-cfg-'));
  dirs.push(d);
  return d;
};
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('conntrack-gc-interval', () => {
  it('adapts as upstream: shorter after a run that deletes over 25% of the capacity, longer under 5%, within 10 s..12 h', () => {
    expect(nextGcInterval(300_000, 0.5)).toBe(150_000);
    expect(nextGcInterval(300_000, 0.95)).toBe(30_000); // at most 10x shorter
    expect(nextGcInterval(20_000, 0.9)).toBe(CT_GC_ADAPTIVE.minMs);
    expect(nextGcInterval(300_000, 0.1)).toBe(300_000);
    expect(nextGcInterval(300_000, 0.01)).toBe(450_000);
    expect(nextGcInterval(CT_GC_ADAPTIVE.maxMs, 0)).toBe(CT_GC_ADAPTIVE.maxMs);
  });

  it('a fixed interval stays; adaptive starts at 5 min and follows what each run deleted', () => {
    let result: ConntrackGcResult = { deleted: 500, alive: 100, capacity: 1000 };
    const dp = { gcConntrack: () => result };
    const fixed = new ConntrackGc(dp, 60_000, log);
    fixed.run();
    expect(fixed.interval).toBe(60_000);
    const adaptive = new ConntrackGc(dp, 0, log);
    expect(adaptive.interval).toBe(CT_GC_ADAPTIVE.startMs);
    expect(adaptive.run()).toEqual(result);
    expect(adaptive.interval).toBe(150_000);
    result = { deleted: 0, alive: 10, capacity: 1000 };
    adaptive.run();
    expect(adaptive.interval).toBe(225_000);
  });

  it('runs on its period and survives a failing run', async () => {
    let runs = 0;
    const gc = new ConntrackGc(
      {
        gcConntrack: () => {
          runs++;
          if (runs === 1) throw new Error('map gone');
          return { deleted: 0, alive: 0, capacity: 1 };
        },
      },
      20,
      log,
    );
    gc.start();
    cleanups.push(() => gc.stop());
    await testing.waitFor(() => runs >= 3, { what: 'three GC runs' });
  });
});

describe('cni-exclusive', () => {
  it('renames other CNI configurations to *.cilium_bak and leaves ours and other files alone', () => {
    const d = tmp();
    for (const f of [
      CILIUM_CONFLIST,
      '10-flannel.conflist',
      '99-loopback.conf',
      '20-bridge.json',
      'README',
      '30-old.conf.cilium_bak',
    ])
      writeFileSync(join(d, f), '{}');
    expect(moveOtherCniConfigs(d).sort()).toEqual(['10-flannel.conflist', '20-bridge.json', '99-loopback.conf']);
    expect(readdirSync(d).sort()).toEqual([
      CILIUM_CONFLIST,
      '10-flannel.conflist.cilium_bak',
      '20-bridge.json.cilium_bak',
      '30-old.conf.cilium_bak',
      '99-loopback.conf.cilium_bak',
      'README',
    ]);
    expect(moveOtherCniConfigs(join(d, 'absent'))).toEqual([]);
  });

  it('keeps the directory exclusive while running: a configuration written later is moved aside too', async () => {
    const d = tmp();
    writeFileSync(join(d, CILIUM_CONFLIST), '{}');
    writeFileSync(join(d, '10-other.conflist'), '{}');
    const guard = new CniExclusiveGuard(d, log);
    guard.start();
    cleanups.push(() => guard.stop());
    expect(existsSync(join(d, '10-other.conflist.cilium_bak'))).toBe(true);
    writeFileSync(join(d, '00-late.conf'), '{}');
    await testing.waitFor(() => existsSync(join(d, '00-late.conf.cilium_bak')), {
      what: 'the late configuration to be renamed',
    });
    expect(existsSync(join(d, CILIUM_CONFLIST))).toBe(true);
  });
});

/** A CiliumIdentity store fed by hand, and a client whose creates succeed. */
function identities(clusterId: number, existing: CiliumIdentityObject[] = []) {
  const store = new Store<CiliumIdentityObject>();
  const allocator = new IdentityAllocator(
    { create: async (_r: unknown, o: KubeObject) => o, get: async () => undefined } as never,
    store,
    clusterId,
  );
  store.apply({ type: 'Init' });
  for (const object of existing) store.apply({ type: 'InitApply', object });
  store.apply({ type: 'InitDone', resourceVersion: '1' });
  return allocator;
}
const cid = (id: number, labels: Record<string, string>): CiliumIdentityObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumIdentity',
  metadata: { name: String(id) },
  'security-labels': labels,
});

describe('cluster-id', () => {
  it('fills bits 16-23 of every identity allocated', async () => {
    const id = await identities(7).allocate({ 'k8s:app': 'web' });
    expect(id >>> 16).toBe(7);
    expect(id & 0xffff).toBeGreaterThanOrEqual(256);
    expect(await identities(0).allocate({ 'k8s:app': 'web' })).toBe(id & 0xffff);
  });

  it('reuses an existing identity of its own range only', async () => {
    const labels = { 'k8s:app': 'db' };
    expect(await identities(0, [cid(300, labels)]).allocate(labels)).toBe(300);
    const other = await identities(3, [cid(300, labels)]).allocate(labels);
    expect(other >>> 16).toBe(3);
    expect(await identities(3, [cid(300, labels), cid((3 << 16) | 400, labels)]).allocate(labels)).toBe(
      (3 << 16) | 400,
    );
  });
});

describe('identity-change-grace-period', () => {
  interface Pod extends KubeObject {
    spec: { serviceAccountName: string };
  }
  const pod = (app: string): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'ns', uid: 'u1', labels: { app } },
    spec: { serviceAccountName: 'default' },
  });

  function manager(graceMs: number) {
    const pods = new Store<Pod>();
    pods.apply({ type: 'Apply', object: pod('a') });
    const byLabels = new Map<string, number>();
    const fakeIdentities = {
      allocate: async (l: Record<string, string>) =>
        byLabels.get(labelsKey(l)) ?? byLabels.set(labelsKey(l), 1000 + byLabels.size).get(labelsKey(l))!,
    };
    const m = fakeEndpointManager({
      pods,
      identities: fakeIdentities as never,
      stateDir: tmp(),
      identityChangeGracePeriodMs: graceMs,
    });
    cleanups.push(() => m.close());
    const relabel = async (app: string) => {
      pods.apply({ type: 'Apply', object: pod(app) });
      await m.regeneratePod('ns', 'p');
    };
    return { m, relabel };
  }
  const request = podRequest;

  it('a relabelled endpoint keeps its identity for the grace period, then switches', async () => {
    const { m, relabel } = manager(300);
    const ep = await m.create('cni-attachment-id:c1:eth0', request);
    const first = ep.identity!.id;
    const t0 = Date.now();
    await relabel('b');
    expect(m.find('cni-attachment-id:c1:eth0')!.identity).toBe(first);
    await testing.waitFor(() => m.find('cni-attachment-id:c1:eth0')!.identity !== first, {
      what: 'the identity switch',
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('labels that go back before the grace period ends cancel the switch; 0 switches at once', async () => {
    const { m, relabel } = manager(200);
    const first = (await m.create('cni-attachment-id:c1:eth0', request)).identity!.id;
    await relabel('b');
    await relabel('a');
    await new Promise((r) => setTimeout(r, 350));
    expect(m.find('cni-attachment-id:c1:eth0')!.identity).toBe(first);

    const now = manager(0);
    const before = (await now.m.create('cni-attachment-id:c1:eth0', request)).identity!.id;
    await now.relabel('b');
    expect(now.m.find('cni-attachment-id:c1:eth0')!.identity).not.toBe(before);
  });
});
