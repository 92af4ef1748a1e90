// A tiny deduplicating work queue for the server's own controllers: keys added while a key is
// being processed are processed again afterwards; failures are retried after a delay. Up to
// `workers` keys are processed at once, never one key twice at once (kube-controller-manager's
// collectors run on several workers: `--concurrent-gc-syncs` 20).
export class WorkQueue {
  private dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private stopped = false;
  private timers = new Set<NodeJS.Timeout>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly handler: (key: string) => Promise<'done' | 'retry'>,
    private readonly retryMs = 250,
    private readonly onError: (key: string, err: unknown) => void = () => {},
    private readonly workers = 1,
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    this.dirty.add(key);
    this.pump();
  }

  /** Starts keys that are queued and not in process, up to the number of workers. */
  private pump(): void {
    if (this.processing.size >= this.workers || this.stopped) return;
    for (const key of this.dirty) {
      if (this.processing.has(key)) continue;
      this.dirty.delete(key);
      this.processing.add(key);
      void this.process(key);
      if (this.processing.size >= this.workers) return;
    }
  }

  private async process(key: string): Promise<void> {
    let outcome: 'done' | 'retry' = 'done';
    try {
      outcome = await this.handler(key);
    } catch (e) {
      this.onError(key, e);
      outcome = 'retry';
    }
    this.processing.delete(key);
    if (outcome === 'retry' && !this.stopped) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.add(key);
      }, this.retryMs);
      this.timers.add(t);
    }
    this.pump();
    if (!this.processing.size && !this.dirty.size && !this.timers.size) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves when nothing is queued, running or waiting for a retry. */
  idle(): Promise<void> {
    if (!this.processing.size && !this.dirty.size && !this.timers.size) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
