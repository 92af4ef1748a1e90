// The watch cache's current state: every object under /registry/ as its latest revision, kept as
// the JSON text a client gets (the stored object with its resourceVersion), so that a list from the
// cache is a concatenation of strings rather than an etcd read, a parse and a stringify per object
// (kube-apiserver's cacher keeps the current state of every resource in memory and serves
// resourceVersion=0 and, since 1.31, consistent lists from it). Beside the text each object keeps
// what selectors read (its labels and the selectable fields), not the whole decoded object.
import { selectable, matches, type Selector } from './selectors.js';
import type { KubeObject, Store } from './store.js';

export interface CachedObject {
  key: string;
  modRev: number;
  /** The object as stored, with metadata.resourceVersion; no CRD defaults (applied when served). */
  json: string;
  /** Labels, name, namespace and the selectable fields: what a label or field selector reads. */
  sel: KubeObject;
}

/** The objects under one parent path (a namespace of a resource, or a cluster-scoped resource). */
interface Bucket {
  byName: Map<string, CachedObject>;
  /** Names in etcd's (byte) order; dropped when a name comes or goes, rebuilt by the next list. */
  sorted?: string[];
}

/** etcd's key order for our ASCII keys: plain code-unit comparison, not localeCompare. */
const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The parent path of a key: up to and including its last '/'. */
function split(key: string): [string, string] {
  const i = key.lastIndexOf('/');
  return [key.slice(0, i + 1), key.slice(i + 1)];
}

/** How many keys one etcd read of the initial load takes (a page of decoded objects at a time). */
const LOAD_PAGE = 1000;

export class CacheState {
  private readonly buckets = new Map<string, Bucket>();
  /** Parent paths in byte order; dropped when a bucket comes or goes. */
  private parents?: string[];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Records `obj` (decoded, its resourceVersion set) as the state of `key` at `modRev`. */
  put(key: string, modRev: number, obj: KubeObject, json = JSON.stringify(obj)): void {
    const [parent, name] = split(key);
    let b = this.buckets.get(parent);
    if (!b) {
      b = { byName: new Map() };
      this.buckets.set(parent, b);
      this.parents = undefined;
    }
    const old = b.byName.get(name);
    if (old && old.modRev >= modRev) return; // a replay of what the state already has
    if (!old) {
      b.sorted = undefined;
      this.count++;
    }
    b.byName.set(name, { key, modRev, json, sel: selectable(obj) });
  }

  delete(key: string, modRev: number): void {
    const [parent, name] = split(key);
    const b = this.buckets.get(parent);
    const old = b?.byName.get(name);
    if (!b || !old || old.modRev >= modRev) return;
    b.byName.delete(name);
    b.sorted = undefined;
    this.count--;
    if (!b.byName.size) {
      this.buckets.delete(parent);
      this.parents = undefined;
    }
  }

  get(key: string): CachedObject | undefined {
    const [parent, name] = split(key);
    return this.buckets.get(parent)?.byName.get(name);
  }

  /**
   * The objects whose key starts with `prefix` (a collection's prefix, ending in '/') and that
   * match `selector`, in key order as etcd lists them. A snapshot: the entries are immutable, so
   * a response that streams them stays at one revision while the state moves on.
   */
  select(prefix: string, selector: Selector): CachedObject[] {
    const out: CachedObject[] = [];
    const all = !selector.labels.length && !selector.fields.length;
    const exact = this.buckets.get(prefix);
    // A namespaced list names its bucket; a list across namespaces takes every bucket under it.
    const parents = exact ? [prefix] : this.sortedParents().filter((p) => p.startsWith(prefix));
    for (const p of parents) {
      const b = this.buckets.get(p) as Bucket;
      b.sorted ??= [...b.byName.keys()].sort(byteOrder);
      for (const name of b.sorted) {
        const o = b.byName.get(name) as CachedObject;
        if (all || matches(selector, o.sel)) out.push(o);
      }
    }
    return out;
  }

  private sortedParents(): string[] {
    this.parents ??= [...this.buckets.keys()].sort(byteOrder);
    return this.parents;
  }

  clear(): void {
    this.buckets.clear();
    this.parents = undefined;
    this.count = 0;
  }

  /** Loads every object under `prefix` as it was at etcd revision `revision` (> 0), page by page. */
  async load(store: Store, prefix: string, revision: number): Promise<void> {
    let startKey: string | undefined;
    for (;;) {
      const page = await store.range(prefix, { startKey, limit: LOAD_PAGE, revision });
      for (const kv of page.kvs) this.put(kv.key, kv.modRev, kv.obj);
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || !last) return;
      startKey = `${last.key}\u0000`;
    }
  }
}
