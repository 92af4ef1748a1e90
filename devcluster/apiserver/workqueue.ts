// A tiny deduplicating work queue for the server's own controllers: keys added while a key is
// being processed are processed again afterwards; failures are retried after a delay.
export class WorkQueue {
  private dirty = new Set<string>();
  private running = false;
  private stopped = false;
  private timers = new Set<NodeJS.Timeout>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly handler: (key: string) => Promise<'done' | 'retry'>,
    private readonly retryMs = 250,
    private readonly onError: (key: string, err: unknown) => void = () => {},
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    this.dirty.add(key);
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.dirty.size && !this.stopped) {
      const key = this.dirty.values().next().value as string;
      this.dirty.delete(key);
      let outcome: 'done' | 'retry' = 'done';
      try {
        outcome = await this.handler(key);
      } catch (e) {
        this.onError(key, e);
        outcome = 'retry';
      }
      if (outcome === 'retry' && !this.stopped) {
        const t = setTimeout(() => {
          this.timers.delete(t);
          this.add(key);
        }, this.retryMs);
        this.timers.add(t);
      }
    }
    this.running = false;
    if (!this.timers.size) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves when nothing is queued, running or waiting for a retry. */
  idle(): Promise<void> {
    if (!this.running && !this.dirty.size && !this.timers.size) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
