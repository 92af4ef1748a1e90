// The watch cache's revision wait (kube-apiserver's 3 s "Too large resource version" wait) against a
// real etcd, with the event loop blocked longer than the wait's timeout while the awaited write
// arrives: the wait must read what arrived, not time out first (the 504s an agent got for 24 s
// after a restart at scale). Another process writes to etcd, as a client of the API server would
// through it while the server's one thread is busy.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../devcluster/apiserver/store.js';
import { WatchCache } from '../../devcluster/apiserver/watchcache.js';
import { startEtcdFixture, type EtcdFixture } from '../kvstore/etcd-fixture.js';

let fx: EtcdFixture;
let store: Store;
let cache: WatchCache;
let dir: string;

beforeAll(async () => {
  fx = await startEtcdFixture();
  store = new Store(fx.etcd.endpoint);
  cache = new WatchCache(store, 1000);
  await cache.start();
  dir = mkdtempSync(join(tmpdir(), 'cilium-ts-watchcache-'));
}, 60_000);

afterAll(async () => {
  await cache?.close();
  store?.close();
  await fx?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Spins the event loop's thread (no I/O is read meanwhile) until `until` holds, then `extraMs` more. */
function spin(until: () => boolean, extraMs: number, maxMs: number): void {
  const start = performance.now();
  while (!until() && performance.now() - start < maxMs) {
    /* busy */
  }
  const end = performance.now() + extraMs;
  while (performance.now() < end) {
    /* busy */
  }
}

/** A process that, once told on stdin, writes one key under /registry/ through etcd's HTTP gateway. */
function writer(flag: string): { go(): void; done: Promise<number | null> } {
  const body = JSON.stringify({
    key: Buffer.from('/registry/test.example.io/waits/w1').toString('base64'),
    value: Buffer.from(JSON.stringify({ metadata: { name: 'w1' } })).toString('base64'),
  });
  const child = spawn(
    'sh',
    [
      '-c',
      `read go; curl -sf -X POST "$1/v3/kv/put" -H 'Content-Type: application/json' -d "$2" >/dev/null && touch "$3"`,
      'sh',
      fx.etcd.endpoint,
      body,
      flag,
    ],
    { stdio: ['pipe', 'ignore', 'inherit'] },
  );
  const done = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { go: () => child.stdin.end('go\n'), done };
}

describe('watch cache: waiting for a revision', () => {
  it('sees a revision that arrived while the loop was busy past the timeout, instead of timing out first', async () => {
    const target = (await store.revision()) + 1;
    const flag = join(dir, 'written');
    const w = writer(flag);
    const waited = cache.waitFor(target, 100);
    w.go();
    // Busy until the write is acknowledged (etcd has sent the watch event by then), and well past
    // the 100 ms budget: the event sits unread in the socket while the wait's timer is overdue.
    spin(() => existsSync(flag), 300, 30_000);
    expect(existsSync(flag)).toBe(true);
    expect(await waited).toBe(true);
    expect(cache.lastRev).toBeGreaterThanOrEqual(target);
    expect(await w.done).toBe(0);
  });

  it('still answers false for a revision that does not come, after its budget of loop time', async () => {
    const target = (await store.revision()) + 1000;
    const t0 = performance.now();
    expect(await cache.waitFor(target, 300)).toBe(false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
  });
});
