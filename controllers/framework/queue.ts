// The work queue between watches and reconcilers (client-go's workqueue semantics): a key is
// queued at most once, never handed to two workers at once (a change during a reconcile queues
// it again for afterwards), failures back off per key (5 ms doubling to 1000 s) under a global
// token bucket (10 qps, burst 100), and live changes go ahead of a relist without starving it.
import { realClock, type Clock } from './clock.js';

export type Lane = 'live' | 'initial';

export interface QueueOptions {
  /** First per-key retry delay; doubles on each consecutive failure. */
  baseDelayMs?: number;
  /** Cap of the per-key delay (client-go: 1000 s). */
  maxDelayMs?: number;
  /** Global retry budget: tokens per second and bucket size, shared by all keys. */
  qps?: number;
  burst?: number;
  /**
   * How many `live` keys may be served in a row while `initial` keys wait. Live changes are what
   * users are waiting on; the bound keeps a large relist moving (controller-runtime #3496).
   */
  liveBurst?: number;
  clock?: Clock;
}

export const QUEUE_DEFAULTS: Required<Omit<QueueOptions, 'clock'>> = {
  baseDelayMs: 5,
  maxDelayMs: 1_000_000,
  qps: 10,
  burst: 100,
  liveBurst: 4,
};

/** Observations for metrics (workqueue_* names); every hook optional. */
export interface QueueHooks {
  onAdd?(key: string): void;
  onDepth?(depth: number): void;
  onGet?(key: string, waitedMs: number): void;
  onDone?(key: string, workMs: number): void;
  onRetry?(key: string): void;
}

/** client-go's token bucket: `qps` tokens a second, at most `burst` saved (the queue's retry budget, the client's rate limit). */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly clock: Clock,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }
  /** Reserves one token; returns how long the caller must wait for it. */
  reserve(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.qps) * 1000);
  }
}

/** Keys in FIFO order with a head index: shift() on a 10,000-key array copies it every time. */
class KeyFifo {
  private items: string[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(key: string): void {
    this.items.push(key);
  }
  shift(): string | undefined {
    if (this.head >= this.items.length) return undefined;
    const key = this.items[this.head++];
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return key;
  }
  remove(key: string): void {
    const i = this.items.indexOf(key, this.head);
    if (i >= 0) this.items.splice(i, 1);
  }
}

export class WorkQueue {
  private readonly o: Required<Omit<QueueOptions, 'clock'>>;
  private readonly clock: Clock;
  private readonly lanes: Record<Lane, KeyFifo> = { live: new KeyFifo(), initial: new KeyFifo() };
  /** Keys waiting to be taken ("dirty"): their lane and when they were first added. One map, not three: every add and take touches it. */
  private readonly queued = new Map<string, { lane: Lane; addedAt: number }>();
  private readonly processing = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; cancel: () => void }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly bucket: TokenBucket;
  private liveStreak = 0;
  private closed = false;

  constructor(
    options: QueueOptions = {},
    private readonly hooks: QueueHooks = {},
  ) {
    this.o = { ...QUEUE_DEFAULTS, ...options };
    this.clock = options.clock ?? realClock;
    this.bucket = new TokenBucket(this.o.qps, this.o.burst, this.clock);
  }

  /** Keys waiting (not counting delayed ones or those being processed). */
  get depth(): number {
    return this.lanes.live.length + this.lanes.initial.length;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  /** Queues `key` now. A key already waiting is not queued twice (a live add upgrades its lane). */
  add(key: string, lane: Lane = 'live'): void {
    if (this.closed) return;
    this.hooks.onAdd?.(key);
    const pendingDelay = this.delayed.get(key);
    if (pendingDelay) {
      pendingDelay.cancel();
      this.delayed.delete(key);
    }
    const waiting = this.queued.get(key);
    if (waiting) {
      if (lane === 'live' && waiting.lane === 'initial' && !this.processing.has(key)) {
        this.lanes.initial.remove(key);
        this.lanes.live.push(key);
        waiting.lane = 'live';
      }
      return;
    }
    this.queued.set(key, { lane, addedAt: this.clock.now() });
    if (this.processing.has(key)) return; // re-queued by done()
    this.lanes[lane].push(key);
    this.hooks.onDepth?.(this.depth);
    this.wake();
  }

  /** Queues `key` after `ms`; an earlier pending delay for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.closed) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    existing?.cancel();
    const cancel = this.clock.setTimer(ms, () => {
      this.delayed.delete(key);
      this.add(key);
    });
    this.delayed.set(key, { at, cancel });
  }

  /** The delay the next failure of `key` gets: per-key exponential, under the global bucket. */
  private nextDelay(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const perKey = Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** n);
    return Math.max(perKey, this.bucket.reserve());
  }

  /** Queues `key` again after its backoff (a failed reconcile). Returns the delay chosen. */
  addRateLimited(key: string): number {
    const delay = this.nextDelay(key);
    this.hooks.onRetry?.(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the key's failure count (a successful reconcile). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to work on if one is waiting now (no promise): what `get()` resolves with at once. */
  poll(): string | undefined {
    return this.take();
  }

  /** Keys taken by a worker more than `ms` ago and not done yet (a stuck reconcile). */
  processingLongerThan(ms: number): string[] {
    const now = this.clock.now();
    const out: string[] = [];
    for (const [key, since] of this.processing) if (now - since > ms) out.push(key);
    return out;
  }

  /** The next key to work on; waits while the queue is empty; undefined once shut down. */
  get(): Promise<string | undefined> {
    const key = this.take();
    if (key !== undefined || this.closed) return Promise.resolve(key);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private take(): string | undefined {
    const { live, initial } = this.lanes;
    let key: string | undefined;
    if (live.length && (this.liveStreak < this.o.liveBurst || !initial.length)) {
      key = live.shift();
      this.liveStreak++;
    } else if (initial.length) {
      key = initial.shift();
      this.liveStreak = 0;
    }
    if (key === undefined) return undefined;
    const waiting = this.queued.get(key);
    this.queued.delete(key);
    const now = this.clock.now();
    this.processing.set(key, now);
    this.hooks.onGet?.(key, now - (waiting?.addedAt ?? now));
    this.hooks.onDepth?.(this.depth);
    return key;
  }

  /**
   * Marks `key` finished; if it changed meanwhile, it is queued again. Returns how long it was
   * processed (ms since it was taken; 0 if it was not), so that a caller timing the same span
   * needs no clock reading of its own.
   */
  done(key: string): number {
    const started = this.processing.get(key);
    let workMs = 0;
    if (started !== undefined) {
      this.processing.delete(key);
      workMs = this.clock.now() - started;
      this.hooks.onDone?.(key, workMs);
    }
    const waiting = this.queued.get(key);
    if (waiting && !this.closed) {
      this.lanes[waiting.lane].push(key);
      this.hooks.onDepth?.(this.depth);
      this.wake();
    }
    return workMs;
  }

  private wake(): void {
    while (this.waiters.length) {
      const key = this.take();
      if (key === undefined) return;
      this.waiters.shift()!(key);
    }
  }

  /**
   * Hands out keys again after a shutdown: a controller run again (an operator that lost its
   * leader lease and won it back) must not find its queue closed for good. Seen at 50,000 CEPs
   * under load: the re-elected operator reconciled nothing for 12 minutes, its queue shut.
   */
  reopen(): void {
    this.closed = false;
  }

  /** Stops handing out keys; waiting `get()` calls resolve with undefined. */
  shutdown(): void {
    this.closed = true;
    for (const d of this.delayed.values()) d.cancel();
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
