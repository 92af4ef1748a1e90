// The prefix watch against a real etcd: events in order; resume over a broken connection; and a
// full resync — upserts for present keys, deletes for vanished ones — when the revision it would
// resume from was compacted away while it was cut off.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Kvstore } from '../../controllers/kvstore/client.js';
import { PrefixWatcher, type KvWatchEvent } from '../../controllers/kvstore/watch.js';
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
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  fx = await startEtcdFixture();
  proxy = await startProxy(fx.etcd.clientPort);
});
afterAll(async () => {
  for (const s of stops.reverse()) await s();
  await proxy?.close();
  await fx?.stop();
});

/** A watcher over `prefix` through the proxy, recording what it emits as a key → value view too. */
async function watch(prefix: string): Promise<{ events: KvWatchEvent[]; view: Map<string, string>; w: PrefixWatcher }> {
  const kv = new Kvstore(testOptions(proxy.endpoint, { requestTimeoutMs: 1000 }));
  const events: KvWatchEvent[] = [];
  const view = new Map<string, string>();
  const w = new PrefixWatcher(
    kv,
    prefix,
    (e) => {
      events.push(e);
      if (e.type === 'upsert') view.set(e.key, e.value);
      if (e.type === 'delete') view.delete(e.key);
    },
    { retryMs: 100 },
  );
  stops.push(async () => {
    await w.stop();
    await kv.close();
  });
  await w.start();
  return { events, view, w };
}

const put = (k: string, v: string) => fx.direct.put(k).value(v).exec();

describe('PrefixWatcher', () => {
  it('lists, says synced once, then follows puts and deletes of its prefix only', async () => {
    await put('w1/a', '1');
    const { events } = await watch('w1/');
    await put('w1/b', '2');
    await put('w10/x', 'other prefix');
    await put('w1/a', '3');
    await fx.direct.delete().key('w1/b').exec();
    await until(() => events.length >= 5, 5000, 'events');
    expect(
      events.map((e) => (e.type === 'upsert' ? `+${e.key}=${e.value}` : e.type === 'delete' ? `-${e.key}` : e.type)),
    ).toEqual(['+w1/a=1', 'synced', '+w1/b=2', '+w1/a=3', '-w1/b']);
  });

  it('resumes over a cut connection without missing or repeating a change', async () => {
    const { events, view } = await watch('w2/');
    await put('w2/a', '1');
    await until(() => view.get('w2/a') === '1', 5000, 'first put');
    proxy.cut();
    await put('w2/a', '2');
    await put('w2/b', '1');
    await fx.direct.delete().key('w2/a').exec();
    proxy.restore();
    await until(() => view.has('w2/b') && !view.has('w2/a'), 15_000, 'changes made while cut off');
    await put('w2/c', '1');
    await until(() => view.has('w2/c'), 5000, 'a put after');
    const changes = events
      .filter((e) => e.type !== 'synced')
      .map((e) => (e.type === 'delete' ? `-${e.key}` : `+${e.key}`));
    // each change once, in order (the watch replays from its revision)
    expect(changes).toEqual(['+w2/a', '+w2/a', '+w2/b', '-w2/a', '+w2/c']);
  });

  it('lists again after a compaction: upserts what is present, deletes what vanished', async () => {
    await put('w3/stay', '1');
    await put('w3/gone', '1');
    await put('w3/changed', '1');
    const { events, view, w } = await watch('w3/');
    expect([...view.keys()].sort()).toEqual(['w3/changed', 'w3/gone', 'w3/stay']);
    proxy.cut();
    await fx.direct.delete().key('w3/gone').exec();
    await put('w3/changed', '2');
    await put('w3/new', '1');
    const rev = Number((await fx.direct.kv.range({ key: Buffer.from('w3/new') })).header.revision);
    await fx.direct.kv.compact({ revision: String(rev), physical: true });
    const before = events.length;
    proxy.restore();
    await until(() => w.resyncs > 0, 20_000, 'a resync');
    await until(
      () => view.get('w3/changed') === '2' && view.has('w3/new') && !view.has('w3/gone'),
      5000,
      'resynced view',
    );
    const after = events
      .slice(before)
      .map((e) => (e.type === 'delete' ? `-${e.key}` : e.type === 'upsert' ? `+${e.key}` : e.type));
    // the unchanged key is not emitted again; synced is not repeated
    expect(after.sort()).toEqual(['+w3/changed', '+w3/new', '-w3/gone']);
    await put('w3/later', '1');
    await until(() => view.has('w3/later'), 5000, 'watch after the resync');
  });
});
