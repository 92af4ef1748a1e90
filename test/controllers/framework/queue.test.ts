import { describe, expect, it } from '@jest/globals';
import { FakeClock } from '../../../controllers/framework/clock.js';
import { WorkQueue } from '../../../controllers/framework/queue.js';

const drain = (q: WorkQueue) => {
  const out: string[] = [];
  for (;;) {
    if (!q.depth) return out;
    void q.get().then((k) => k && out.push(k));
  }
};

describe('WorkQueue', () => {
  it('keeps FIFO order over a relist of 5,000 keys taken past its compaction, with a live upgrade midway', async () => {
    const q = new WorkQueue({ liveBurst: 1 });
    for (let i = 0; i < 5000; i++) q.add(`ns/k${i}`, 'initial');
    const got: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const k = (await q.get())!;
      got.push(k);
      q.done(k);
    }
    q.add('ns/k4000', 'live'); // waiting in the initial lane: moves to the live lane
    expect(q.depth).toBe(2000);
    for (;;) {
      if (!q.depth) break;
      const k = (await q.get())!;
      got.push(k);
      q.done(k);
    }
    expect(got[3000]).toBe('ns/k4000');
    expect(got).toHaveLength(5000);
    expect(new Set(got).size).toBe(5000);
    const rest = got.filter((k) => k !== 'ns/k4000');
    expect(rest).toEqual(Array.from({ length: 5000 }, (_, i) => `ns/k${i}`).filter((k) => k !== 'ns/k4000'));
  });

  it('queues a key once however often it is added', async () => {
    const q = new WorkQueue();
    for (let i = 0; i < 100; i++) q.add('ns/a');
    q.add('ns/b');
    expect(q.depth).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
  });

  it('never hands out a key that is being processed; a change meanwhile queues it for afterwards', async () => {
    const q = new WorkQueue();
    q.add('k');
    const k = await q.get();
    q.add('k');
    q.add('k');
    expect(q.depth).toBe(0);
    expect(q.isProcessing('k')).toBe(true);
    q.done(k!);
    expect(q.depth).toBe(1);
    expect(await q.get()).toBe('k');
  });

  it('backs off per key exponentially from 5 ms up to 1000 s, and forget() resets it', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, qps: 1e9, burst: 1e9 });
    const delays = Array.from({ length: 20 }, () => q.addRateLimited('k'));
    expect(delays.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
    expect(Math.max(...delays)).toBe(1_000_000);
    expect(q.numRequeues('k')).toBe(20);
    q.forget('k');
    expect(q.addRateLimited('k')).toBe(5);
    expect(q.addRateLimited('other')).toBe(5);
  });

  it('a retried key comes back when its delay has passed', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addRateLimited('k');
    q.addRateLimited('k');
    expect(clock.pending()).toEqual([5]); // the earlier pending delay wins
    await clock.advance(4);
    expect(q.depth).toBe(0);
    await clock.advance(1);
    expect(q.depth).toBe(1);
  });

  it('shares a global token bucket (10 qps, burst 100) across keys', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const delays = Array.from({ length: 110 }, (_, i) => q.addRateLimited(`k${i}`));
    expect(delays.slice(0, 100).every((d) => d === 5)).toBe(true);
    expect(delays[100]).toBe(100);
    expect(delays[109]).toBe(1000);
  });

  it('serves live changes ahead of a relist without starving it', () => {
    const q = new WorkQueue({ liveBurst: 4 });
    for (let i = 0; i < 10; i++) q.add(`init${i}`, 'initial');
    for (let i = 0; i < 10; i++) q.add(`live${i}`, 'live');
    const order = drain(q);
    return Promise.resolve().then(() => {
      expect(order.slice(0, 5)).toEqual(['live0', 'live1', 'live2', 'live3', 'init0']);
      expect(order).toHaveLength(20);
    });
  });

  it('a live add of a key waiting in the relist lane moves it forward', async () => {
    const q = new WorkQueue();
    q.add('a', 'initial');
    q.add('b', 'initial');
    q.add('b', 'live');
    expect(await q.get()).toBe('b');
  });

  it('shutdown wakes waiting workers with undefined', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutdown();
    expect(await waiting).toBeUndefined();
    q.add('x');
    expect(q.depth).toBe(0);
  });

  it('reopen() after shutdown hands out keys again (a controller run again after a lost lease)', async () => {
    const q = new WorkQueue();
    q.shutdown();
    q.add('x');
    expect(q.depth).toBe(0);
    q.reopen();
    q.add('y');
    expect(await q.get()).toBe('y');
  });

  it('poll() takes a waiting key without a promise, under the same rules as get()', async () => {
    const q = new WorkQueue({ liveBurst: 1 });
    expect(q.poll()).toBeUndefined();
    q.add('ns/i1', 'initial');
    q.add('ns/i2', 'initial');
    q.add('ns/l1', 'live');
    q.add('ns/l2', 'live');
    // one live key, then the relist's turn, then live again
    expect([q.poll(), q.poll(), q.poll()]).toEqual(['ns/l1', 'ns/i1', 'ns/l2']);
    expect(q.isProcessing('ns/l1')).toBe(true);
    q.add('ns/l1'); // changed while processing: not handed out again until done
    expect(q.poll()).toBe('ns/i2');
    expect(q.poll()).toBeUndefined();
    q.done('ns/l1');
    expect(q.poll()).toBe('ns/l1');
    // a waiting get() is served by add, not left for poll
    const waiting = q.get();
    q.add('ns/next');
    expect(await waiting).toBe('ns/next');
    expect(q.poll()).toBeUndefined();
  });

  it('processingLongerThan() names the keys taken longer ago than the limit and not done; done() returns the span', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.add('ns/slow');
    q.add('ns/fast');
    expect(q.poll()).toBe('ns/slow');
    await clock.advance(60_000);
    expect(q.poll()).toBe('ns/fast');
    await clock.advance(1_000);
    expect(q.processingLongerThan(30_000)).toEqual(['ns/slow']);
    expect(q.processingLongerThan(500)).toEqual(['ns/slow', 'ns/fast']);
    expect(q.done('ns/slow')).toBe(61_000); // done() returns the work span (the reconcile time metric uses it)
    expect(q.done('ns/never-taken')).toBe(0);
    expect(q.processingLongerThan(500)).toEqual(['ns/fast']);
  });
});
