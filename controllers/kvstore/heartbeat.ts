// The kvstore heartbeat (upstream `pkg/kvstore/heartbeat`): the operator writes `cilium/.heartbeat`
// = the RFC 3339 time every minute under its session lease; every agent watches it and keeps its
// own clock's time of the last update it saw (clocks are never compared). A heartbeat older than
// the limit (2 min) is a quorum error; more than `maxConsecutiveQuorumErrors` checks in a row with
// an error and the kvstore is reported failed — and a new update makes it healthy again.
import type { Kvstore } from './client.js';
import { HEARTBEAT_KEY } from './keys.js';
import { PrefixWatcher } from './watch.js';

export class HeartbeatWriter {
  private timer: NodeJS.Timeout | undefined;
  /** Successful writes, and the last error (for the operator's log and status). */
  written = 0;
  lastError: string | undefined;

  constructor(
    private readonly kv: Kvstore,
    private readonly intervalMs = kv.options.heartbeatIntervalMs,
  ) {}

  start(): void {
    const beat = async (): Promise<void> => {
      try {
        await this.kv.put(HEARTBEAT_KEY, new Date().toISOString(), true);
        this.written++;
        this.lastError = undefined;
      } catch (e) {
        this.lastError = (e as Error).message;
      }
    };
    void beat();
    this.timer = setInterval(() => void beat(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

export interface HeartbeatHealth {
  /** ms since the last heartbeat update was seen (since start when none was). */
  ageMs: number;
  /** The heartbeat's value (the writer's RFC 3339 time), if seen. */
  lastValue?: string;
  /** Checks in a row that found a quorum error. */
  consecutiveErrors: number;
  /** Why the kvstore is unhealthy, or undefined when healthy. */
  problem?: string;
}

export class HeartbeatMonitor {
  private lastSeen: number;
  private lastValue: string | undefined;
  private consecutiveErrors = 0;
  private lastError: string | undefined;
  private readonly watcher: PrefixWatcher;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly kv: Kvstore,
    private readonly now: () => number = Date.now,
  ) {
    this.lastSeen = now();
    this.watcher = new PrefixWatcher(kv, HEARTBEAT_KEY, (e) => {
      if (e.type !== 'upsert' || e.key !== HEARTBEAT_KEY) return;
      this.lastSeen = this.now();
      this.lastValue = e.value;
      this.consecutiveErrors = 0;
      this.lastError = undefined;
    });
  }

  /** Starts the watch (without waiting for etcd) and the periodic check. */
  start(checkIntervalMs = Math.max(1000, Math.min(this.kv.options.heartbeatStaleMs / 4, 15_000))): void {
    void this.watcher.start();
    this.timer = setInterval(() => this.check(), checkIntervalMs);
  }

  /** One quorum check: the heartbeat's age against the limit. */
  check(): void {
    const age = this.now() - this.lastSeen;
    if (age > this.kv.options.heartbeatStaleMs) {
      this.consecutiveErrors++;
      this.lastError = `${Math.round(age / 1000)}s since last heartbeat update has been received`;
    } else {
      this.consecutiveErrors = 0;
      this.lastError = undefined;
    }
  }

  health(): HeartbeatHealth {
    const failed = this.consecutiveErrors > this.kv.options.maxConsecutiveQuorumErrors;
    return {
      ageMs: this.now() - this.lastSeen,
      ...(this.lastValue ? { lastValue: this.lastValue } : {}),
      consecutiveErrors: this.consecutiveErrors,
      ...(failed ? { problem: `quorum check failed ${this.consecutiveErrors} times in a row: ${this.lastError}` } : {}),
    };
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.watcher.stop();
  }
}
