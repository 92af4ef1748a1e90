// The cache a reflector fills from watcher events: objects by key, indexers, a transform hook,
// and an atomic swap when a relist (Init … InitDone) completes. Ready means synced once.
import type { WatcherEvent } from './watcher.js';
import { objectKey, type KubeObject } from './types.js';
import { FrameworkError, FrameworkErrorCode } from './errors.js';

export type IndexFn<T> = (obj: T) => string[];

/** What changed in the store; controllers map these to reconcile keys. */
export type StoreChange<T> =
  | { type: 'added'; key: string; object: T }
  | { type: 'updated'; key: string; object: T; old: T }
  | { type: 'deleted'; key: string; object: T }
  | { type: 'synced' };

export interface StoreOptions<T> {
  /** Runs on every object before it is stored: drop managedFields and other bulk here. */
  transform?: (obj: T) => T;
  /** Named indexers; `namespace` and `label:<key>` helpers are in `indexers`. */
  indexers?: Record<string, IndexFn<T>>;
}

export const indexers = {
  namespace: <T extends KubeObject>(obj: T) => (obj.metadata?.namespace ? [obj.metadata.namespace] : []),
  label:
    (key: string) =>
    <T extends KubeObject>(obj: T) => {
      const v = obj.metadata?.labels?.[key];
      return v === undefined ? [] : [v];
    },
};

/** Drops managedFields (often most of an object's bytes) — the default transform. */
export function stripManagedFields<T extends KubeObject>(obj: T): T {
  if (!obj.metadata?.managedFields) return obj;
  const { managedFields: _drop, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

export class Store<T extends KubeObject> {
  private objects = new Map<string, T>();
  /** index name → value → the key holding it (a Set only once several keys share the value) */
  private indices = new Map<string, Map<string, string | Set<string>>>();
  private pending: Map<string, T> | undefined;
  /** An array, replaced on (un)subscribe: emit walks it per change, without a Set iterator each time. */
  private listeners: ((c: StoreChange<T>) => void)[] = [];
  private readyResolvers: (() => void)[] = [];
  private synced = false;
  private readonly transform: (obj: T) => T;
  private readonly indexFns: Record<string, IndexFn<T>>;
  /** Each indexer with its index, listed once (not an Object.entries per put). */
  private readonly indexList: { fn: IndexFn<T>; idx: Map<string, string | Set<string>> }[] = [];
  resourceVersion = '';

  constructor(options: StoreOptions<T> = {}) {
    this.transform = options.transform ?? stripManagedFields;
    this.indexFns = options.indexers ?? {};
    for (const [name, fn] of Object.entries(this.indexFns)) {
      const idx = new Map<string, string | Set<string>>();
      this.indices.set(name, idx);
      this.indexList.push({ fn, idx });
    }
  }

  get ready(): boolean {
    return this.synced;
  }

  /** Resolves once the first list has been applied. */
  waitUntilReady(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((r) => this.readyResolvers.push(r));
  }

  subscribe(fn: (c: StoreChange<T>) => void): () => void {
    this.listeners = [...this.listeners, fn];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn);
    };
  }

  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  keys(): string[] {
    return [...this.objects.keys()];
  }

  get size(): number {
    return this.objects.size;
  }

  /** Objects whose indexer `name` yields `value`. */
  byIndex(name: string, value: string): T[] {
    const keys = this.indices.get(name)?.get(value);
    if (!this.indexFns[name]) throw new FrameworkError(FrameworkErrorCode.NoIndex, `no indexer named ${name}`);
    if (keys === undefined) return [];
    return (typeof keys === 'string' ? [keys] : [...keys]).map((k) => this.objects.get(k)!).filter(Boolean);
  }

  /** Applies one watcher event. */
  apply(ev: WatcherEvent<T>): void {
    switch (ev.type) {
      case 'Init':
        this.pending = new Map();
        return;
      case 'InitApply': {
        const obj = this.transform(ev.object);
        (this.pending ??= new Map()).set(objectKey(obj), obj);
        return;
      }
      case 'InitPage': {
        const pending = (this.pending ??= new Map());
        const transform = this.transform;
        for (const o of ev.objects) {
          const obj = transform(o);
          pending.set(objectKey(obj), obj);
        }
        return;
      }
      case 'InitDone':
        this.swap(this.pending ?? new Map());
        this.pending = undefined;
        this.resourceVersion = ev.resourceVersion;
        if (!this.synced) {
          this.synced = true;
          for (const r of this.readyResolvers.splice(0)) r();
        }
        this.emit({ type: 'synced' });
        return;
      case 'Apply': {
        const obj = this.transform(ev.object);
        const key = objectKey(obj);
        const old = this.objects.get(key);
        this.put(key, obj, old);
        this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
        this.emit(old ? { type: 'updated', key, object: obj, old } : { type: 'added', key, object: obj });
        return;
      }
      case 'Delete': {
        const key = objectKey(ev.object);
        const old = this.objects.get(key);
        if (old) this.remove(key, old);
        this.emit({ type: 'deleted', key, object: old ?? this.transform(ev.object) });
        return;
      }
      case 'Bookmark':
        this.resourceVersion = ev.resourceVersion;
        return;
      case 'Error':
        return;
    }
  }

  /**
   * Replaces the whole content; emits the differences so controllers see what a relist changed.
   * Map.forEach, not for…of: a relist runs once, in code the JIT has not optimized yet, where each
   * for…of step over entries allocates an iterator result and a [key, value] pair.
   */
  private swap(next: Map<string, T>): void {
    const previous = this.objects;
    // the relist's map becomes the store's (10,000 sets saved at the first sync)
    this.objects = next;
    if (this.indexList.length) {
      for (const idx of this.indices.values()) idx.clear();
      next.forEach((obj, key) => this.index(key, obj));
    }
    if (!previous.size) {
      next.forEach((object, key) => this.emit({ type: 'added', key, object }));
      return;
    }
    next.forEach((obj, key) => {
      const old = previous.get(key);
      if (!old) this.emit({ type: 'added', key, object: obj });
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
        this.emit({ type: 'updated', key, object: obj, old });
    });
    previous.forEach((old, key) => {
      if (!next.has(key)) this.emit({ type: 'deleted', key, object: old });
    });
  }

  private put(key: string, obj: T, old: T | undefined): void {
    if (old) this.unindex(key, old);
    this.objects.set(key, obj);
    this.index(key, obj);
  }

  private index(key: string, obj: T): void {
    for (const { fn, idx } of this.indexList) {
      // most values belong to one key (an IP, a name): a Set per value would be most of the
      // index's bytes at 50,000 objects, so one is made only for a shared value
      for (const v of fn(obj)) {
        const held = idx.get(v);
        if (held === undefined || held === key) idx.set(v, key);
        else if (typeof held === 'string') idx.set(v, new Set([held, key]));
        else held.add(key);
      }
    }
  }

  private remove(key: string, old: T): void {
    this.unindex(key, old);
    this.objects.delete(key);
  }

  private unindex(key: string, obj: T): void {
    for (const { fn, idx } of this.indexList) {
      for (const v of fn(obj)) {
        const held = idx.get(v);
        if (held === key) idx.delete(v);
        else if (typeof held === 'object') {
          held.delete(key);
          if (held.size === 1) idx.set(v, held.values().next().value!);
          else if (held.size === 0) idx.delete(v);
        }
      }
    }
  }

  private emit(c: StoreChange<T>): void {
    const ls = this.listeners;
    for (let i = 0; i < ls.length; i++) ls[i]!(c);
  }
}
