// The testing kit: wait-for helpers, a fake clock, and a manager started against any kubeconfig
// (the devcluster's in this project's tests) that is always stopped afterwards.
import { FakeClock, flushMicrotasks } from './clock.js';
import { Manager, type ManagerOptions } from './manager.js';
import { FrameworkError, FrameworkErrorCode } from './errors.js';
import type { KubeClient, ResourceRef } from './client.js';
import type { KubeObject } from './types.js';
import { pino } from 'pino';

export { FakeClock, flushMicrotasks };

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Says what was awaited in the timeout error. */
  what?: string;
}

/** Polls `probe` until it returns a truthy value (returned) or throws after the timeout. */
export async function waitFor<T>(probe: () => T | Promise<T>, o: WaitOptions = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new FrameworkError(
        FrameworkErrorCode.WaitTimeout,
        `timed out after ${o.timeoutMs ?? 10_000} ms waiting for ${o.what ?? 'condition'}${last ? `: ${(last as Error).message}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 50));
  }
}

/** A quiet manager for tests: logs only warnings, health server on a free loopback port. */
export function testManager(o: ManagerOptions): Manager {
  return new Manager({
    log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    health: { port: 0 },
    shutdownTimeoutMs: 5_000,
    ...o,
  });
}

/**
 * A stand-in client with only what a controller's watcher calls: one list answering `items`
 * (with the collection's resourceVersion), then a watch that stays silent until aborted. For
 * driving a controller's own path (store, queue, workers, metrics) without an API server: unit
 * tests and hack/bench/framework-queue.ts. Any other call throws.
 */
export function staticListClient(items: readonly KubeObject[]): KubeClient {
  const client = {
    list: async () => ({ items: items.slice(), metadata: { resourceVersion: String(items.length) } }),
    // the watcher's list: the items as one batch, as KubeClient.listItems yields a body's chunk
    async *listItems() {
      if (items.length) yield items.slice();
      return { resourceVersion: String(items.length) };
    },
    async *watch(_r: ResourceRef, _o: unknown, signal: AbortSignal) {
      await new Promise<void>((r) =>
        signal.aborted ? r() : signal.addEventListener('abort', () => r(), { once: true }),
      );
      yield* [];
    },
    close() {},
  };
  return new Proxy(client, {
    get(target, prop) {
      if (prop in target || typeof prop === 'symbol' || prop === 'then') return Reflect.get(target, prop);
      throw new FrameworkError(FrameworkErrorCode.Api, `staticListClient has no ${String(prop)}()`);
    },
  }) as unknown as KubeClient;
}
