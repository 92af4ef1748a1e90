// The server's garbage collection: the namespace controller (a deleted namespace loses all its
// objects, then its "kubernetes" finalizer, then itself) and the ownerReference collector
// (Background: dependents of a deleted owner are deleted; Foreground: the owner waits for them;
// Orphan: their ownerReferences are removed), fed by the watch cache.
import type { Objects } from './objects.js';
import { Registry, type ResourceInfo } from './resources.js';
import type { KubeObject } from './store.js';
import type { CacheEvent, WatchCache } from './watchcache.js';
import { WorkQueue } from './workqueue.js';

const ALL = { labels: [], fields: [] };
/**
 * Owners collected at once (kube-controller-manager's `--concurrent-gc-syncs`, 20) and dependents
 * of one owner rewritten or deleted at once (kube's orphanDependents patches them all in parallel;
 * bounded here). One after another, orphaning 50,000 CiliumEndpoints took two etcd round trips
 * each in series, ~12 minutes, and the operator's CEP GC could go no faster than that.
 */
export const GC_OWNER_WORKERS = 20;
export const GC_DEPENDENT_CONCURRENCY = 8;

export class GarbageCollector {
  private readonly nsQueue: WorkQueue;
  private readonly ownerQueue: WorkQueue;
  /** owner uid → keys of objects that name it in ownerReferences. */
  private readonly dependents = new Map<string, Set<string>>();
  /** uids of deleted owners (the ownerQueue's keys are uids; the owner is gone or deleting). */
  private readonly nsInfo: ResourceInfo;
  private readonly sub = { prefix: '/registry/', onEvent: (e: CacheEvent) => this.onEvent(e) };

  constructor(
    private readonly objects: Objects,
    private readonly cache: WatchCache,
    private readonly registry: Registry,
    log?: (line: string) => void,
  ) {
    this.nsInfo = registry.get('', 'v1', 'namespaces') as ResourceInfo;
    this.nsQueue = new WorkQueue(
      (ns) => this.finalizeNamespace(ns),
      250,
      (k, e) => log?.(`namespace controller: ${k}: ${String(e)}`),
    );
    this.ownerQueue = new WorkQueue(
      (uid) => this.collect(uid),
      250,
      (k, e) => log?.(`garbage collector: ${k}: ${String(e)}`),
      GC_OWNER_WORKERS,
    );
  }

  async start(): Promise<void> {
    const rev = this.cache.lastRev;
    // One pass over everything builds the dependents index and finds deletions a restart interrupted.
    let startKey: string | undefined;
    for (;;) {
      const page = await this.objects.store.range('/registry/', { startKey, limit: 1000 });
      for (const kv of page.kvs) {
        this.index(kv.key, undefined, kv.obj);
        if (kv.obj.metadata.deletionTimestamp) this.onDeleting(kv.key, kv.obj);
      }
      if (!page.more || !page.kvs.length) break;
      startKey = `${page.kvs[page.kvs.length - 1]?.key ?? ''}\u0000`;
    }
    for (const e of this.cache.subscribe(this.sub, rev)) this.onEvent(e);
  }

  stop(): void {
    this.cache.unsubscribe(this.sub);
    this.nsQueue.stop();
    this.ownerQueue.stop();
  }

  async idle(): Promise<void> {
    await this.nsQueue.idle();
    await this.ownerQueue.idle();
  }

  private index(key: string, prev: KubeObject | undefined, obj: KubeObject | undefined): void {
    for (const ref of prev?.metadata.ownerReferences ?? []) {
      const deps = this.dependents.get(ref.uid);
      deps?.delete(key);
      if (deps && !deps.size) this.dependents.delete(ref.uid);
    }
    for (const ref of obj?.metadata.ownerReferences ?? []) {
      let s = this.dependents.get(ref.uid);
      if (!s) this.dependents.set(ref.uid, (s = new Set()));
      s.add(key);
    }
  }

  private onDeleting(key: string, obj: KubeObject): void {
    if (key.startsWith(Registry.key(this.nsInfo, undefined, ''))) this.nsQueue.add(obj.metadata.name ?? '');
    const fin = obj.metadata.finalizers ?? [];
    if ((fin.includes('foregroundDeletion') || fin.includes('orphan')) && obj.metadata.uid)
      this.ownerQueue.add(`${obj.metadata.uid}\u0000${key}`);
  }

  private onEvent(e: CacheEvent): void {
    if (e.type === 'DELETED') {
      this.index(e.key, e.prev, undefined);
      const uid = e.obj.metadata.uid;
      if (uid && this.dependents.get(uid)?.size) this.ownerQueue.add(uid);
      return;
    }
    this.index(e.key, e.prev, e.obj);
    if (e.obj.metadata.deletionTimestamp) this.onDeleting(e.key, e.obj);
  }

  /** The registry entry and namespace/name a storage key belongs to. */
  private locate(key: string): { r: ResourceInfo; ns?: string; name: string } | undefined {
    let best: ResourceInfo | undefined;
    for (const r of this.registry.all()) {
      const p = `/registry/${r.storagePrefix}/`;
      if (key.startsWith(p) && (!best || p.length > best.storagePrefix.length + 11)) best = r;
    }
    if (!best) return undefined;
    const rest = key.slice(`/registry/${best.storagePrefix}/`.length).split('/');
    return best.namespaced ? { r: best, ns: rest[0], name: rest[1] ?? '' } : { r: best, name: rest[0] ?? '' };
  }

  private async finalizeNamespace(ns: string): Promise<'done' | 'retry'> {
    let nsObj: KubeObject;
    try {
      nsObj = await this.objects.get(this.nsInfo, undefined, ns);
    } catch (e) {
      if ((e as { status?: number }).status === 404) return 'done';
      throw e;
    }
    if (!nsObj.metadata.deletionTimestamp) return 'done';
    let remaining = 0;
    const seen = new Set<string>();
    for (const r of this.registry.all()) {
      if (!r.namespaced || seen.has(r.storagePrefix)) continue;
      seen.add(r.storagePrefix);
      const { items } = await this.objects.list(r, ns, { selector: ALL });
      for (const it of items) {
        remaining++;
        try {
          await this.objects.delete(r, ns, it.metadata.name ?? '', { propagationPolicy: 'Background' });
        } catch (e) {
          if ((e as { status?: number }).status !== 404) throw e;
        }
      }
    }
    if (remaining) {
      // Re-check: objects with finalizers stay until their controllers release them.
      for (const p of seen) {
        const page = await this.objects.store.range(`/registry/${p}/${ns}/`, { limit: 1, keysOnly: true });
        if (page.kvs.length) return 'retry';
      }
    }
    const finalized = structuredClone(nsObj);
    finalized.spec = { ...(finalized.spec as object | undefined), finalizers: [] };
    await this.objects.update(this.nsInfo, undefined, ns, finalized, { subresource: 'finalize' });
    return 'done';
  }

  /** key: an owner uid (owner gone: Background) or "uid\0key" (owner deleting: Foreground/Orphan). */
  private async collect(job: string): Promise<'done' | 'retry'> {
    const [uid, ownerKey] = job.split('\u0000') as [string, string | undefined];
    const deps = [...(this.dependents.get(uid) ?? [])];
    let owner: KubeObject | undefined;
    let ownerLoc: ReturnType<GarbageCollector['locate']>;
    if (ownerKey) {
      ownerLoc = this.locate(ownerKey);
      owner = (await this.objects.store.get(ownerKey))?.obj;
      if (!owner || owner.metadata.uid !== uid || !ownerLoc) return 'done';
    }
    const orphan = owner?.metadata.finalizers?.includes('orphan') ?? false;
    let next = 0;
    let retry = false;
    const worker = async () => {
      while (next < deps.length && !retry) if (!(await this.release(deps[next++]!, uid, orphan))) retry = true;
    };
    await Promise.all(Array.from({ length: Math.min(GC_DEPENDENT_CONCURRENCY, deps.length) }, worker));
    if (retry) return 'retry';
    if (owner && ownerLoc && ownerKey) {
      if (!orphan && [...(this.dependents.get(uid) ?? [])].length) return 'retry';
      const kv = await this.objects.store.get(ownerKey);
      if (!kv) return 'done';
      const next = structuredClone(kv.obj);
      next.metadata.finalizers = (next.metadata.finalizers ?? []).filter(
        (f) => f !== 'foregroundDeletion' && f !== 'orphan',
      );
      const rev = next.metadata.finalizers.length
        ? await this.objects.store.update(ownerKey, next, kv.modRev)
        : await this.objects.store.delete(ownerKey, kv.modRev);
      return rev === undefined ? 'retry' : 'done';
    }
    return 'done';
  }

  /** Removes owner `uid` from one dependent, deleting it when no owner is left (false: a conflict, retry). */
  private async release(key: string, uid: string, orphan: boolean): Promise<boolean> {
    const loc = this.locate(key);
    const kv = await this.objects.store.get(key);
    if (!loc || !kv) return true;
    const refs = kv.obj.metadata.ownerReferences ?? [];
    const left = refs.filter((r) => r.uid !== uid);
    if (orphan || left.length) {
      const next = structuredClone(kv.obj);
      next.metadata.ownerReferences = left;
      if (!left.length) delete next.metadata.ownerReferences;
      return (await this.objects.store.update(key, next, kv.modRev)) !== undefined;
    }
    try {
      await this.objects.delete(loc.r, loc.ns, loc.name, { propagationPolicy: 'Background' });
    } catch (e) {
      if ((e as { status?: number }).status !== 404) throw e;
    }
    return true;
  }
}
