// The watch cache: one etcd watch over the whole keyspace feeds a bounded history of events and
// the live subscribers (HTTP watches, the CRD, namespace and garbage controllers). Like
// kube-apiserver's cacher, a watch from resourceVersion N replays the cached events after N and
// then follows live; N older than the history gives 410 Expired. On start the cache preloads
// etcd's own history (up to the configured size), so after a restart of the API server a client
// resumes from its last resourceVersion without missing or repeating an event. Beside the history
// it keeps the current state of every object (cache-state.ts), loaded at the revision its watch
// starts from and moved by the same events, for lists served from the cache.
//
// A subscriber gets each live event with its objects decoded. The history keeps an event as text
// (the object's JSON and the previous state's, mostly the very strings the state held) and decodes
// it again only for a watch that replays it. Decoded, the history was most of the server's heap
// objects (7,700 events held 590,000 of 1,070,000 in a snapshot during bench:agent at 1,000
// endpoints), and every mark-compact had to trace them.
import type { Watcher } from 'etcd3';
import { CacheState } from './cache-state.js';
import { decode, type KubeObject, type Store } from './store.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface CacheEvent {
  rev: number;
  key: string;
  type: EventType;
  /** The new state (DELETED: the last state, with the deletion's resourceVersion). */
  obj: KubeObject;
  /** `obj` as JSON (ADDED, MODIFIED), shared with the current state: a watch sends it as is. */
  json?: string;
  /** The state before the change (for selector transitions). */
  prev?: KubeObject;
}

/** What the history keeps of an event: strings and numbers, which a mark-compact does not trace. */
interface StoredEvent {
  rev: number;
  key: string;
  type: EventType;
  /** ADDED, MODIFIED: the object's JSON (CacheEvent.json). */
  json?: string;
  /**
   * The previous state's JSON and its revision: the state's text of it while that was current
   * (shared, no copy), else the bytes etcd returned as the previous value.
   */
  prevText?: string;
  prevRev?: number;
}

/** The event a subscriber gets from a stored one: its objects decoded as when it was live. */
function hydrate(s: StoredEvent): CacheEvent {
  const prev = s.prevText === undefined ? undefined : decode(s.prevText, s.prevRev ?? 0);
  if (s.type === 'DELETED') {
    const last = prev as KubeObject;
    return { rev: s.rev, key: s.key, type: s.type, obj: deletedState(last, s.rev), prev: last };
  }
  const obj = decode(s.json as string, s.rev);
  return { rev: s.rev, key: s.key, type: s.type, obj, json: s.json, prev };
}

/** A deleted object as its DELETED event shows it: the last state, at the deletion's revision. */
function deletedState(last: KubeObject, rev: number): KubeObject {
  return { ...last, metadata: { ...last.metadata, resourceVersion: String(rev) } };
}

export interface Subscriber {
  /** Only keys under this prefix are delivered. */
  prefix: string;
  onEvent(e: CacheEvent): void;
  /** The cache lost continuity (etcd compacted under it): the watch must end with 410. */
  onExpired?(): void;
}

const REGISTRY = '/registry/';
/** How often a revision wait checks its budget (see waitFor). */
const WAIT_STEP_MS = 100;

export class WatchCache {
  private events: StoredEvent[] = [];
  private head = 0;
  /** Every event with rev > floor is in `events` (or was trimmed, raising floor). */
  floor = 0;
  /** The highest etcd revision seen. */
  lastRev = 0;
  private subs = new Set<Subscriber>();
  private waiters: { rev: number; resolve: () => void }[] = [];
  private watcher?: Watcher;
  private closed = false;
  /** Every object's latest state up to `lastRev`; lists wait for `stateReady` (a reset reloads it). */
  readonly state = new CacheState();
  stateReady = false;

  constructor(
    private readonly store: Store,
    private readonly capacity: number,
  ) {}

  async start(): Promise<void> {
    const compacted = await this.store.compactedRevision();
    // A marker write gives a revision the cache is sure to see: once it arrives, all history
    // up to the moment of start is in.
    const marker = await this.store.client.kv.put({
      key: Buffer.from('/devcluster/apiserver-started'),
      value: Buffer.from(new Date().toISOString()),
    });
    const headRev = Number(marker.header.revision);
    const startRev = Math.max(compacted + 1, headRev - this.capacity + 1, 1);
    this.floor = startRev - 1;
    this.lastRev = startRev - 1;
    // The state as of the revision before the watch's first: the watch's events move it from there.
    if (startRev > 1) await this.state.load(this.store, REGISTRY, startRev - 1);
    this.stateReady = true;
    await this.watchFrom(startRev);
    await this.waitFor(headRev, 30_000);
  }

  private async watchFrom(rev: number): Promise<void> {
    const w = await this.store.client.watch().prefix('/').startRevision(String(rev)).withPreviousKV().create();
    this.watcher = w;
    w.on('data', (res) => {
      for (const ev of res.events) {
        const rev = Number(ev.kv.mod_revision);
        const key = ev.kv.key.toString('utf8');
        if (key.startsWith(REGISTRY) && rev > this.lastRev - 1)
          this.ingest(ev.type, key, rev, ev.kv.value, ev.kv.create_revision, ev.prev_kv);
        if (rev > this.lastRev) this.lastRev = rev;
      }
      this.wake();
    });
    w.on('error', () => {
      // etcd cancelled the watch (history compacted under us). Continuity is gone: expire every
      // subscriber and start over from the present.
      if (this.closed) return;
      void this.reset();
    });
  }

  private ingest(
    type: string,
    key: string,
    rev: number,
    value: Buffer,
    createRev: string,
    prevKv?: { value: Buffer; mod_revision: string },
  ): void {
    if (this.events.length && rev <= (this.events[this.events.length - 1]?.rev ?? 0) && this.isDuplicate(key, rev))
      return;
    let e: CacheEvent;
    let stored: StoredEvent;
    const prevRev = prevKv ? Number(prevKv.mod_revision) : undefined;
    const current = prevKv ? this.state.get(key) : undefined;
    const prevText = current?.modRev === prevRev ? current?.json : prevKv?.value.toString('utf8');
    const prev = prevText === undefined ? undefined : decode(prevText, prevRev ?? 0);
    if (type === 'Delete') {
      this.state.delete(key, rev);
      if (!prev) return;
      e = { rev, key, type: 'DELETED', obj: deletedState(prev, rev), prev };
      stored = { rev, key, type: 'DELETED', prevText, prevRev };
    } else {
      const obj = decode(value, rev);
      const json = JSON.stringify(obj);
      this.state.put(key, rev, obj, json);
      e = { rev, key, type: Number(createRev) === rev ? 'ADDED' : 'MODIFIED', obj, json, prev };
      stored = { rev, key, type: e.type, json, prevText, prevRev };
    }
    this.events.push(stored);
    if (this.events.length - this.head > this.capacity) {
      const dropped = this.events[this.head];
      this.head++;
      if (dropped) this.floor = dropped.rev;
      if (this.head > 4096) {
        this.events = this.events.slice(this.head);
        this.head = 0;
      }
    }
    for (const s of this.subs) if (key.startsWith(s.prefix)) s.onEvent(e);
  }

  /** etcd replays a revision after a reconnect only if we had not seen it; guard anyway. */
  private isDuplicate(key: string, rev: number): boolean {
    for (let i = this.events.length - 1; i >= this.head; i--) {
      const e = this.events[i];
      if (!e || e.rev < rev) return false;
      if (e.rev === rev && e.key === key) return true;
    }
    return false;
  }

  private async reset(): Promise<void> {
    try {
      await this.watcher?.cancel();
    } catch {
      /* already gone */
    }
    const rev = await this.store.revision();
    this.events = [];
    this.head = 0;
    this.floor = rev;
    this.lastRev = rev;
    for (const s of this.subs) s.onExpired?.();
    // Events were lost: the state is reloaded at the new start (lists go to etcd meanwhile).
    this.stateReady = false;
    this.state.clear();
    await this.state.load(this.store, REGISTRY, rev);
    this.stateReady = true;
    await this.watchFrom(rev + 1);
  }

  private wake(): void {
    if (!this.waiters.length) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.rev <= this.lastRev) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /**
   * Resolves true once the cache has seen revision `rev`, false after `timeoutMs` of the event
   * loop's own time. kube-apiserver's cacher waits up to 3 s for its watch to reach a revision a
   * client names, then answers 504 "Too large resource version". Here the cache and the wait share
   * one thread: after the loop was busy for longer than the timeout (a 10,000-object list encoded
   * at load 30), the expired timer would run before the etcd watch data already waiting in the
   * socket is read, and a revision the cache was about to see got a 504 (the agent's watches got
   * them for 24 s after a restart at scale). So the budget is spent in short steps, a late step
   * counts as one step, and the last check comes after one more turn of the loop (its I/O).
   */
  waitFor(rev: number, timeoutMs: number): Promise<boolean> {
    if (rev <= this.lastRev) return Promise.resolve(true);
    return new Promise((resolve) => {
      const step = Math.max(1, Math.min(WAIT_STEP_MS, timeoutMs));
      let left = timeoutMs;
      let last = performance.now();
      let timer: NodeJS.Timeout | undefined;
      let immediate: NodeJS.Immediate | undefined;
      const entry = {
        rev,
        resolve: () => {
          clearTimeout(timer);
          if (immediate) clearImmediate(immediate);
          resolve(true);
        },
      };
      const giveUp = (): void => {
        immediate = undefined;
        if (!this.waiters.includes(entry)) return;
        this.waiters = this.waiters.filter((w) => w !== entry);
        if (rev <= this.lastRev) resolve(true);
        else resolve(false);
      };
      const tick = (): void => {
        const now = performance.now();
        left -= Math.min(now - last, step);
        last = now;
        if (left > 0) timer = setTimeout(tick, Math.min(step, left));
        else immediate = setImmediate(giveUp);
      };
      timer = setTimeout(tick, Math.min(step, left));
      this.waiters.push(entry);
    });
  }

  /**
   * Subscribes from revision `fromRev` (exclusive): returns the cached events after it (to send
   * first) — the caller must have checked `fromRev >= floor`. Live events follow via onEvent.
   */
  subscribe(sub: Subscriber, fromRev: number): CacheEvent[] {
    const backlog: CacheEvent[] = [];
    if (fromRev < this.lastRev) {
      for (let i = this.head; i < this.events.length; i++) {
        const e = this.events[i];
        if (e && e.rev > fromRev && e.key.startsWith(sub.prefix)) backlog.push(hydrate(e));
      }
    }
    this.subs.add(sub);
    return backlog;
  }

  unsubscribe(sub: Subscriber): void {
    this.subs.delete(sub);
  }

  /** Compacts etcd to the current revision and forgets the history before it. */
  async compact(): Promise<number> {
    // etcd's current revision, not lastRev: the cache may not have seen the latest write yet.
    const rev = await this.store.revision();
    await this.waitFor(rev, 5000);
    await this.store.compact(rev);
    this.floor = Math.max(this.floor, rev);
    while (this.head < this.events.length && (this.events[this.head]?.rev ?? 0) <= rev) this.head++;
    return rev;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    this.subs.clear();
    try {
      await this.watcher?.cancel();
    } catch {
      /* etcd may already be gone */
    }
  }
}
