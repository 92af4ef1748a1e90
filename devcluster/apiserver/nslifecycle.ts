// Namespace lifecycle as kube-apiserver's admission plugin keeps it: an in-memory view of which
// namespaces exist and which are terminating, fed by the watch cache, so that a create does not
// need an extra etcd read. A namespace missing from the view (created a moment ago, not yet
// seen) is looked up in etcd, so the view is never trusted to say "absent".
import type { KubeObject } from './store.js';
import type { CacheEvent, WatchCache } from './watchcache.js';

export type NamespaceState = 'active' | 'terminating';

export class NamespaceLifecycle {
  private readonly states = new Map<string, NamespaceState>();
  private readonly sub = { prefix: '/registry/namespaces/', onEvent: (e: CacheEvent) => this.onEvent(e) };

  constructor(private readonly cache: WatchCache) {}

  /** Seeds the view from a list and follows the cache from the list's revision. */
  start(namespaces: KubeObject[], rev: number): void {
    for (const ns of namespaces) this.set(ns);
    for (const e of this.cache.subscribe(this.sub, rev)) this.onEvent(e);
  }

  stop(): void {
    this.cache.unsubscribe(this.sub);
  }

  private set(ns: KubeObject): void {
    if (ns.metadata.name) this.states.set(ns.metadata.name, ns.metadata.deletionTimestamp ? 'terminating' : 'active');
  }

  private onEvent(e: CacheEvent): void {
    if (e.type === 'DELETED') this.states.delete(e.obj.metadata.name ?? '');
    else this.set(e.obj);
  }

  /** What the view knows: undefined means "ask etcd". */
  state(name: string): NamespaceState | undefined {
    return this.states.get(name);
  }
}
