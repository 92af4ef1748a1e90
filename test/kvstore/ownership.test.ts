// What the agents and the operator keep in etcd over time, against a real etcd: owned keys come
// back after a new lease, a deletion by someone else, or an outage; the heartbeat's age turns into
// quorum errors and back; the identity GC marks, then deletes unreferenced ids only.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KvIdentityAllocator } from '../../controllers/kvstore/allocator.js';
import { Kvstore } from '../../controllers/kvstore/client.js';
import { HeartbeatMonitor, HeartbeatWriter } from '../../controllers/kvstore/heartbeat.js';
import { KvIdentityGc } from '../../controllers/kvstore/identity-gc.js';
import { HEARTBEAT_KEY, identityIdKey, ipcacheKey } from '../../controllers/kvstore/keys.js';
import { OwnedKeys } from '../../controllers/kvstore/owned-keys.js';
import {
  startEtcdFixture,
  startProxy,
  testOptions,
  until,
  type CuttableProxy,
  type EtcdFixture,
} from './etcd-fixture.js';

let fx: EtcdFixture;
let proxy: CuttableProxy;
const stops: (() => Promise<void> | void)[] = [];
const client = (endpoint = fx.etcd.endpoint, over = {}): Kvstore => {
  const kv = new Kvstore(testOptions(endpoint, over));
  stops.push(() => kv.close());
  return kv;
};

beforeAll(async () => {
  fx = await startEtcdFixture();
  proxy = await startProxy(fx.etcd.clientPort);
});
afterAll(async () => {
  for (const s of stops.reverse()) await s();
  await proxy?.close();
  await fx?.stop();
});

const value = async (k: string) => (await fx.direct.get(k).string()) ?? undefined;

describe('OwnedKeys', () => {
  it('writes under the lease, deletes, and puts back a key someone else deleted', async () => {
    const kv = client();
    const owned = new OwnedKeys(kv, { retryMs: 100 });
    stops.push(() => owned.stop());
    const w = owned.watch('o1/');
    stops.push(() => w.stop());
    await w.start();
    owned.set('o1/a', '1');
    owned.set('o1/b', '2');
    await owned.settled();
    expect(await value('o1/a')).toBe('1');
    owned.delete('o1/b');
    await owned.settled();
    expect(await value('o1/b')).toBeUndefined();
    await fx.direct.delete().key('o1/a').exec();
    await until(async () => (await value('o1/a')) === '1', 5000, 'owned key put back');
  });

  it('keeps writes made while etcd is away and sends them when it is back', async () => {
    const kv = client(proxy.endpoint, { requestTimeoutMs: 500 });
    const owned = new OwnedKeys(kv, { retryMs: 100 });
    stops.push(() => owned.stop());
    await kv.sessionId();
    proxy.cut();
    owned.set(ipcacheKey('10.9.0.1'), 'x');
    await new Promise((r) => setTimeout(r, 700));
    expect(await value(ipcacheKey('10.9.0.1'))).toBeUndefined();
    proxy.restore();
    await until(async () => (await value(ipcacheKey('10.9.0.1'))) === 'x', 15_000, 'write after the outage');
  });
});

describe('heartbeat', () => {
  it('a fresh heartbeat is healthy; a stale one fails after the quorum errors; a new beat heals', async () => {
    const writerKv = client();
    const agentKv = client(fx.etcd.endpoint, { heartbeatStaleMs: 300, maxConsecutiveQuorumErrors: 2 });
    const writer = new HeartbeatWriter(writerKv, 100);
    writer.start();
    stops.push(() => writer.stop());
    const mon = new HeartbeatMonitor(agentKv);
    mon.start(50);
    stops.push(() => mon.stop());
    await until(() => mon.health().lastValue !== undefined, 5000, 'first heartbeat');
    expect(Date.parse(mon.health().lastValue!)).not.toBeNaN();
    await new Promise((r) => setTimeout(r, 400));
    expect(mon.health().problem).toBeUndefined();
    writer.stop();
    await until(() => mon.health().problem !== undefined, 5000, 'stale heartbeat');
    expect(mon.health().problem).toMatch(/quorum check failed \d+ times in a row: \d+s since last heartbeat update/);
    writer.start();
    await until(() => mon.health().problem === undefined, 5000, 'healthy again');
    expect((await fx.direct.get(HEARTBEAT_KEY).string()) ?? '').toMatch(/^\d{4}-\d\d-\d\dT/);
  });
});

describe('KvIdentityGc', () => {
  it('marks an unreferenced id, deletes it the round after; referenced ids stay', async () => {
    const a = client();
    const alloc = new KvIdentityAllocator(a, { nodeIp: '10.8.0.1' });
    await alloc.start();
    stops.push(() => alloc.stop());
    const kept = await alloc.allocate({ 'k8s:app': 'gc-kept' });
    const dropped = await alloc.allocate({ 'k8s:app': 'gc-dropped' });
    const gc = new KvIdentityGc(client());
    await alloc.release({ 'k8s:app': 'gc-dropped' });
    expect(await gc.round()).toMatchObject({ marked: 1, deleted: 0 });
    expect(await value(identityIdKey(dropped))).toBeDefined();
    expect(await gc.round()).toMatchObject({ marked: 0, deleted: 1 });
    expect(await value(identityIdKey(dropped))).toBeUndefined();
    expect(await value(identityIdKey(kept))).toBe('k8s:app=gc-kept;');
  });

  it('a marked id that gets a reference again is not deleted', async () => {
    const a = client();
    const alloc = new KvIdentityAllocator(a, { nodeIp: '10.8.0.2' });
    await alloc.start();
    stops.push(() => alloc.stop());
    const labels = { 'k8s:app': 'gc-back' };
    const id = await alloc.allocate(labels);
    await alloc.release(labels);
    const gc = new KvIdentityGc(client());
    await gc.round();
    expect(await alloc.allocate(labels)).toBe(id);
    await gc.round();
    await gc.round();
    expect(await value(identityIdKey(id))).toBe('k8s:app=gc-back;');
  });
});
