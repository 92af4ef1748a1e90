// The testing kit: wait-for helpers, a fake clock, and a manager started against any kubeconfig
// (the devcluster's in this project's tests) that is always stopped afterwards.
import { FakeClock, flushMicrotasks } from './clock.js';
import { Manager, type ManagerOptions } from './manager.js';
import { FrameworkError, FrameworkErrorCode } from './errors.js';
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
