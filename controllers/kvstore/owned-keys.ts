// The keys one process owns under its session lease (its pods' ipcache entries, its node entry):
// written when they change, put back after the session lease was replaced (the old lease took them
// along), and re-put when someone else deletes one (upstream's ipcache and node stores do the
// same). While etcd is away, writes wait in `pending` and are retried; the caller never blocks.
import type { Kvstore } from './client.js';
import { PrefixWatcher } from './watch.js';

export interface OwnedKeysOptions {
  /** Between retries of writes that failed (etcd away). */
  retryMs?: number;
}

export class OwnedKeys {
  /** key → value we want in etcd. */
  private readonly desired = new Map<string, string>();
  /** keys whose desired state (value or absence) is not known to be in etcd yet. */
  private readonly pending = new Set<string>();
  private flushing = false;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly stopRenew: () => void;
  private readonly retryMs: number;
  /** Writes and deletes sent to etcd (for metrics and the benchmark). */
  writes = 0;

  constructor(
    private readonly kv: Kvstore,
    options: OwnedKeysOptions = {},
  ) {
    this.retryMs = options.retryMs ?? 1000;
    this.stopRenew = kv.onSessionRenewed(() => {
      for (const k of this.desired.keys()) this.pending.add(k);
      this.flush();
    });
  }

  /** Wants `key` = `value` under our lease. */
  set(key: string, value: string): void {
    if (this.desired.get(key) === value) return;
    this.desired.set(key, value);
    this.pending.add(key);
    this.flush();
  }

  /** Wants `key` gone. */
  delete(key: string): void {
    if (!this.desired.delete(key)) return;
    this.pending.add(key);
    this.flush();
  }

  has(key: string): boolean {
    return this.desired.has(key);
  }

  /** A watch on our prefix saw `key` deleted: if we still own it, it goes back. */
  sawDeleted(key: string): void {
    if (!this.desired.has(key)) return;
    this.pending.add(key);
    this.flush();
  }

  /** A watch on our prefix saw `key` with `value`: if we own it with another value, ours goes back. */
  sawValue(key: string, value: string): void {
    const want = this.desired.get(key);
    if (want === undefined || want === value) return;
    this.pending.add(key);
    this.flush();
  }

  /** Resolves when nothing is pending (for tests and shutdown). */
  async settled(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size || this.flushing) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  }

  private flush(): void {
    if (this.flushing || this.stopped || this.retry) return;
    this.flushing = true;
    void this.drain().finally(() => (this.flushing = false));
  }

  private async drain(): Promise<void> {
    while (this.pending.size && !this.stopped) {
      const key = this.pending.values().next().value as string;
      this.pending.delete(key);
      const value = this.desired.get(key);
      try {
        if (value === undefined) await this.kv.delete(key);
        else await this.kv.put(key, value, true);
        this.writes++;
      } catch {
        // etcd away: keep it and try again later (the datapath does not wait for this)
        if (!this.stopped) this.pending.add(key);
        this.retry = setTimeout(() => {
          this.retry = undefined;
          this.flush();
        }, this.retryMs);
        return;
      }
    }
  }

  /** Follows our own prefix so that a deleted or overwritten key of ours goes back. */
  watch(prefix: string): PrefixWatcher {
    return new PrefixWatcher(this.kv, prefix, (e) => {
      if (e.type === 'delete') this.sawDeleted(e.key);
      else if (e.type === 'upsert') this.sawValue(e.key, e.value);
    });
  }

  stop(): void {
    this.stopped = true;
    this.stopRenew();
    clearTimeout(this.retry);
  }
}
