// A watch over one key prefix that never misses a change: list, then watch from the list's
// revision; etcd3 resumes the watch from its last revision over reconnects (an etcd restart), and
// when etcd cancels it (the revision was compacted away) or the stream fails for good we list
// again and emit what changed — an upsert for every key that is new or changed, a delete for every
// key that vanished — as upstream's `Watch` does. `synced` is emitted once, after the first list.
import type { Watcher } from 'etcd3';
import type { Kvstore } from './client.js';

export type KvWatchEvent =
  | { type: 'upsert'; key: string; value: string; modRevision: number }
  | { type: 'delete'; key: string }
  | { type: 'synced' };

export interface PrefixWatchOptions {
  /** Wait between attempts to list while etcd is away. */
  retryMs?: number;
}

export class PrefixWatcher {
  /** key → mod revision of what was last emitted. */
  private readonly known = new Map<string, number>();
  private watcher: Watcher | undefined;
  private readonly cancelledByEtcd = new WeakSet<Watcher>();
  private stopped = false;
  private syncedOnce = false;
  private resyncing: Promise<void> | undefined;
  private readonly retryMs: number;
  /** How many full re-lists ran after the first (for tests and metrics). */
  resyncs = 0;
  /** True while the watch stream is connected. */
  connected = false;

  constructor(
    private readonly kv: Kvstore,
    readonly prefix: string,
    private readonly onEvent: (e: KvWatchEvent) => void,
    options: PrefixWatchOptions = {},
  ) {
    this.retryMs = options.retryMs ?? 1000;
  }

  /** Resolves after the first list was emitted (and `synced` with it). */
  start(): Promise<void> {
    return this.resync();
  }

  /** The keys currently known, with their mod revisions. */
  keys(): ReadonlyMap<string, number> {
    return this.known;
  }

  private resync(): Promise<void> {
    this.resyncing ??= this.listAndWatch().finally(() => (this.resyncing = undefined));
    return this.resyncing;
  }

  private async listAndWatch(): Promise<void> {
    const old = this.watcher;
    this.watcher = undefined;
    if (old) await this.cancel(old);
    for (;;) {
      if (this.stopped) return;
      try {
        const list = await this.kv.list(this.prefix);
        const seen = new Set<string>();
        for (const e of list.entries) {
          seen.add(e.key);
          if (this.known.get(e.key) === e.modRevision) continue;
          this.known.set(e.key, e.modRevision);
          this.onEvent({ type: 'upsert', key: e.key, value: e.value, modRevision: e.modRevision });
        }
        for (const key of [...this.known.keys()])
          if (!seen.has(key)) {
            this.known.delete(key);
            this.onEvent({ type: 'delete', key });
          }
        if (!this.syncedOnce) {
          this.syncedOnce = true;
          this.onEvent({ type: 'synced' });
        } else this.resyncs++;
        await this.watchFrom(list.revision + 1);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, this.retryMs));
      }
    }
  }

  private async watchFrom(revision: number): Promise<void> {
    if (this.stopped) return;
    const w = await this.kv.etcd.watch().prefix(this.prefix).startRevision(String(revision)).create();
    if (this.stopped) {
      await this.cancel(w);
      return;
    }
    this.watcher = w;
    this.connected = true;
    w.on('put', (kv) => {
      const key = kv.key.toString('utf8');
      const modRevision = Number(kv.mod_revision);
      if ((this.known.get(key) ?? 0) >= modRevision) return;
      this.known.set(key, modRevision);
      this.onEvent({ type: 'upsert', key, value: kv.value.toString('utf8'), modRevision });
    });
    w.on('delete', (kv) => {
      const key = kv.key.toString('utf8');
      if (!this.known.delete(key)) return;
      this.onEvent({ type: 'delete', key });
    });
    w.on('disconnected', () => (this.connected = false));
    w.on('connected', () => (this.connected = true));
    // Cancelled by etcd (the start revision was compacted) or failed: list again.
    w.on('error', () => {
      this.connected = false;
      this.cancelledByEtcd.add(w);
      if (this.watcher === w && !this.stopped) void this.resync();
    });
  }

  /**
   * Detaches `w` from etcd3's watch stream. One etcd cancelled already is only dropped (etcd3 would
   * wait forever for the end of a watch etcd no longer has); a cancel etcd does not answer (it is
   * away) is given up after a while — the stream goes with the connection anyway.
   */
  private async cancel(w: Watcher): Promise<void> {
    w.removeAllListeners('put').removeAllListeners('delete');
    if (this.cancelledByEtcd.has(w)) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      w.cancel().catch(() => undefined),
      new Promise<void>((r) => (timer = setTimeout(r, 2000))),
    ]).finally(() => clearTimeout(timer));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const w = this.watcher;
    this.watcher = undefined;
    if (w) await this.cancel(w);
  }
}
