// The controller's per-reconcile path over an in-memory client (one list, then a silent watch):
// every key reconciled once per change, never two at once, and the per-reconcile metrics
// (counted in cells and numbers between scrapes) exposed with the right counts.
import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import {
  Action,
  Manager,
  PermanentError,
  TemporaryError,
  testing,
  type KubeObject,
} from '../../../controllers/framework/index.js';
import { CNPS as CNP } from '../../../controllers/agent/resources.js';

const items = (n: number): KubeObject[] =>
  Array.from({ length: n }, (_, i) => ({
    metadata: { name: `p-${i}`, namespace: 'hot', resourceVersion: String(i + 1), generation: 1 },
  }));

const sample = (text: string, line: string) => {
  const m = text.split('\n').find((l) => l.startsWith(line + ' '));
  return m === undefined ? undefined : Number(m.slice(line.length + 1));
};

describe('controller hot path', () => {
  it('without a reconcile is an informer only: its store syncs and tells subscribers, nothing is queued', async () => {
    const N = 500;
    const m = new Manager({ name: 'inf', client: testing.staticListClient(items(N)), log: pino({ level: 'silent' }) });
    const c = m.add<KubeObject>({ name: 'inf', resource: CNP });
    let added = 0;
    c.store.subscribe((ch) => void (ch.type === 'added' && added++));
    await m.start();
    try {
      await c.store.waitUntilReady();
      expect(m.ready).toBe(true);
      expect(c.store.size).toBe(N);
      expect(added).toBe(N);
      const text = await m.metrics.registry.metrics();
      expect(sample(text, 'workqueue_adds_total{name="inf"}') ?? 0).toBe(0);
      expect(c.queue.inFlight).toBe(0);
    } finally {
      await m.stop();
    }
  });

  it('reconciles 2,000 listed keys once each with 4 workers, one at a time per key, and counts them in the metrics', async () => {
    const N = 2000;
    const seen = new Map<string, number>();
    const running = new Set<string>();
    let overlap = 0;
    let failedOnce = false;
    const m = new Manager({ name: 'hot', client: testing.staticListClient(items(N)), log: pino({ level: 'silent' }) });
    const c = m.add<KubeObject>({
      name: 'hot',
      resource: CNP,
      concurrency: 4,
      queue: { baseDelayMs: 1 },
      async reconcile(key, ctx) {
        if (running.has(key)) overlap++;
        running.add(key);
        seen.set(key, (seen.get(key) ?? 0) + 1);
        // every 100th key yields to the event loop; one key fails once and is retried
        if (Number(key.slice('hot/p-'.length)) % 100 === 0) await new Promise((r) => setTimeout(r, 2));
        running.delete(key);
        expect(ctx.object?.metadata?.name).toBe(key.slice('hot/'.length));
        if (key === 'hot/p-7' && !failedOnce) {
          failedOnce = true;
          throw new TemporaryError('once', 1);
        }
        return Action.awaitChange();
      },
    });
    await m.start();
    try {
      await testing.waitFor(() => seen.size === N && seen.get('hot/p-7') === 2, {
        timeoutMs: 30_000,
        what: 'every key reconciled',
      });
      await testing.waitFor(() => c.queue.inFlight === 0, { what: 'the workers to finish' });
      expect(overlap).toBe(0);
      expect([...seen.values()].filter((n) => n !== 1)).toEqual([2]);
      expect(c.runningLongerThan(0)).toEqual([]);
      const text = await m.metrics.registry.metrics();
      expect(sample(text, 'controller_runtime_reconcile_total{controller="hot",result="success"}')).toBe(N);
      expect(sample(text, 'controller_runtime_reconcile_total{controller="hot",result="requeue"}')).toBe(1);
      expect(sample(text, 'controller_runtime_reconcile_time_seconds_count{controller="hot"}')).toBe(N + 1);
      expect(sample(text, 'controller_runtime_reconcile_time_seconds_bucket{le="+Inf",controller="hot"}')).toBe(N + 1);
      expect(sample(text, 'workqueue_work_duration_seconds_count{name="hot"}')).toBe(N + 1);
      expect(sample(text, 'workqueue_queue_duration_seconds_count{name="hot"}')).toBe(N + 1);
      expect(sample(text, 'workqueue_adds_total{name="hot"}')).toBe(N + 1);
      expect(sample(text, 'controller_runtime_active_workers{controller="hot"}')).toBe(0);
      expect(sample(text, 'workqueue_depth{name="hot"}')).toBe(0);
      // the 20 reconciles that waited for a 2 ms timer took time
      expect(sample(text, 'controller_runtime_reconcile_time_seconds_sum{controller="hot"}')).toBeGreaterThan(0);
    } finally {
      await m.stop();
    }
  });

  it('a failure is retried with backoff, a permanent one is not, a requeue comes back; each counted under its result', async () => {
    const seen = new Map<string, number>();
    const m = new Manager({ name: 'err', client: testing.staticListClient(items(20)), log: pino({ level: 'silent' }) });
    m.add<KubeObject>({
      name: 'err',
      resource: CNP,
      concurrency: 2,
      queue: { baseDelayMs: 1 },
      async reconcile(key) {
        const n = (seen.get(key) ?? 0) + 1;
        seen.set(key, n);
        if (key === 'hot/p-3' && n === 1) throw new Error('flaky');
        if (key === 'hot/p-5') throw new PermanentError('never');
        if (key === 'hot/p-9' && n === 1) return Action.requeue(1);
        return Action.awaitChange();
      },
    });
    await m.start();
    try {
      await testing.waitFor(() => seen.size === 20 && seen.get('hot/p-3') === 2 && seen.get('hot/p-9') === 2, {
        what: 'the retry and the requeue',
      });
      await new Promise((r) => setTimeout(r, 50)); // a permanent failure would be back by now if it were retried
      expect(seen.get('hot/p-5')).toBe(1);
      const text = await m.metrics.registry.metrics();
      expect(sample(text, 'controller_runtime_reconcile_total{controller="err",result="error"}')).toBe(2);
      expect(sample(text, 'controller_runtime_reconcile_total{controller="err",result="requeue_after"}')).toBe(1);
      expect(sample(text, 'controller_runtime_reconcile_total{controller="err",result="success"}')).toBe(19);
      expect(sample(text, 'controller_runtime_reconcile_errors_total{controller="err"}')).toBe(2);
      expect(sample(text, 'workqueue_retries_total{name="err"}')).toBe(1);
      expect(sample(text, 'controller_runtime_reconcile_time_seconds_count{controller="err"}')).toBe(22);
      expect(sample(text, 'controller_runtime_active_workers{controller="err"}')).toBe(0);
    } finally {
      await m.stop();
    }
  });

  it('the static list client names a call it does not serve', () => {
    const c = testing.staticListClient([]) as unknown as Record<string, unknown>;
    expect(() => c.patch).toThrow(/staticListClient has no patch\(\)/);
  });
});

describe('controller run again', () => {
  it('reconciles again when run after an aborted run (an operator that lost its lease and won it back)', async () => {
    const seen = new Map<string, number>();
    const m = new Manager({
      name: 'again',
      client: testing.staticListClient(items(5)),
      log: pino({ level: 'silent' }),
    });
    const c = m.add<KubeObject>({
      name: 'again',
      resource: CNP,
      // the resync queues every key again, as the operator's GC interval does
      resyncMs: 50,
      async reconcile(key) {
        seen.set(key, (seen.get(key) ?? 0) + 1);
        return Action.awaitChange();
      },
    });
    let before = new Map<string, number>();
    for (const round of [1, 2]) {
      const ac = new AbortController();
      const running = c.run(ac.signal);
      await testing.waitFor(() => seen.size === 5 && [...seen].every(([k, n]) => n > (before.get(k) ?? 0)), {
        timeoutMs: 10_000,
        what: `every key reconciled in run ${round}`,
      });
      ac.abort();
      await running;
      before = new Map(seen);
    }
  });
});
