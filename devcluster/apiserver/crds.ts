// The CRD controller: serves a CRD's versions as soon as it is written (registry entries with
// compiled schemas), keeps its status (NamesAccepted, Established, acceptedNames,
// storedVersions) and, when a CRD is deleted, removes its custom resources before releasing the
// customresourcecleanup finalizer, as apiextensions-apiserver does.
import type { Objects } from './objects.js';
import { nowIso } from './patch.js';
import { CRD_RESOURCE, Registry, type PrinterColumn, type ResourceInfo } from './resources.js';
import { CrdSchema, type JsonSchema } from './schema.js';
import type { KubeObject } from './store.js';
import type { CacheEvent, WatchCache } from './watchcache.js';
import { WorkQueue } from './workqueue.js';

export const CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

interface CrdNames {
  plural: string;
  singular?: string;
  kind: string;
  listKind?: string;
  shortNames?: string[];
  categories?: string[];
}

interface CrdVersionSpec {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: { openAPIV3Schema?: JsonSchema };
  subresources?: { status?: object; scale?: object };
  additionalPrinterColumns?: PrinterColumn[];
}

export interface CrdSpec {
  group: string;
  names: CrdNames;
  scope: 'Namespaced' | 'Cluster';
  versions: CrdVersionSpec[];
}

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime?: string;
}

/** Kubernetes version priority: GA before beta before alpha, higher numbers first. */
export function compareKubeVersions(a: string, b: string): number {
  const parse = (v: string): [number, number, number] | undefined => {
    const m = v.match(/^v(\d+)(?:(alpha|beta)(\d+))?$/);
    if (!m) return undefined;
    return [m[2] === undefined ? 3 : m[2] === 'beta' ? 2 : 1, Number(m[1]), Number(m[3] ?? 0)];
  };
  const pa = parse(a);
  const pb = parse(b);
  if (!pa || !pb) return pa ? -1 : pb ? 1 : a.localeCompare(b);
  return pb[0] - pa[0] || pb[1] - pa[1] || pb[2] - pa[2];
}

/** The registry entries a CRD's served versions become. */
export function resourcesOf(crd: KubeObject): ResourceInfo[] {
  const spec = crd.spec as CrdSpec;
  const n = spec.names;
  return [...spec.versions]
    .filter((v) => v.served)
    .sort((a, b) => compareKubeVersions(a.name, b.name))
    .map((v) => ({
      group: spec.group,
      version: v.name,
      kind: n.kind,
      listKind: n.listKind ?? `${n.kind}List`,
      plural: n.plural,
      singular: n.singular ?? n.kind.toLowerCase(),
      namespaced: spec.scope === 'Namespaced',
      shortNames: n.shortNames ?? [],
      categories: n.categories ?? [],
      statusSubresource: v.subresources?.status !== undefined,
      builtin: false,
      storagePrefix: `${spec.group}/${n.plural}`,
      columns: v.additionalPrinterColumns?.length
        ? v.additionalPrinterColumns
        : [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
      schema: new CrdSchema(
        v.schema?.openAPIV3Schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      ),
      crdName: crd.metadata.name ?? '',
    }));
}

function sameConditions(a: Condition[], b: Condition[]): boolean {
  const strip = (c: Condition[]): string => JSON.stringify(c.map(({ lastTransitionTime: _t, ...rest }) => rest));
  return strip(a) === strip(b);
}

export class CrdController {
  private readonly queue: WorkQueue;
  private readonly crdInfo: ResourceInfo;
  private readonly sub = { prefix: '', onEvent: (e: CacheEvent) => this.queue.add(e.obj.metadata.name ?? '') };

  constructor(
    private readonly objects: Objects,
    private readonly cache: WatchCache,
    private readonly registry: Registry,
    log?: (line: string) => void,
  ) {
    this.queue = new WorkQueue(
      (name) => this.reconcile(name),
      250,
      (k, e) => log?.(`crd controller: ${k}: ${String(e)}`),
    );
    this.crdInfo = registry.get(CRD_RESOURCE.group, CRD_RESOURCE.version, CRD_RESOURCE.plural) as ResourceInfo;
    this.sub.prefix = Registry.key(this.crdInfo, undefined, '');
  }

  /** Serves every stored CRD before the server accepts requests, then follows changes. */
  async start(): Promise<void> {
    const { items } = await this.objects.list(this.crdInfo, undefined, { selector: { labels: [], fields: [] } });
    this.cache.subscribe(this.sub, this.cache.lastRev);
    for (const crd of items) {
      const accepted = ((crd.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).some(
        (c) => c.type === 'NamesAccepted' && c.status === 'True',
      );
      // Serve at once what was accepted before a restart; the rest waits for its reconcile.
      if (!crd.metadata.deletionTimestamp && accepted) this.serve(crd);
      this.queue.add(crd.metadata.name ?? '');
    }
    await this.queue.idle();
  }

  stop(): void {
    this.cache.unsubscribe(this.sub);
    this.queue.stop();
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** CRD name → the spec it is served with: compiling a large schema takes 20–300 ms, so a
   * status-only change (every reconcile writes one) must not recompile it. */
  private readonly served = new Map<string, string>();

  private serve(crd: KubeObject): void {
    const name = crd.metadata.name ?? '';
    const spec = JSON.stringify(crd.spec);
    if (this.served.get(name) === spec) return;
    this.registry.removeCrd(name);
    for (const r of resourcesOf(crd)) this.registry.add(r);
    this.served.set(name, spec);
  }

  private unserve(name: string): void {
    this.registry.removeCrd(name);
    this.served.delete(name);
  }

  /**
   * A name clash with a CRD of the same group that holds the name: one this controller serves
   * (the queue handles one CRD at a time, so the first one served keeps its names for good), or
   * one whose stored status says its names are accepted. A symmetric check would unserve the
   * first CRD the next time it is reconciled.
   */
  private namesConflict(crd: KubeObject, all: KubeObject[]): string | undefined {
    const spec = crd.spec as CrdSpec;
    const mine = new Set([spec.names.plural, ...(spec.names.shortNames ?? [])]);
    for (const other of all) {
      const name = other.metadata.name ?? '';
      if (name === crd.metadata.name) continue;
      const os = other.spec as CrdSpec;
      if (os.group !== spec.group) continue;
      const st = other.status as { acceptedNames?: CrdNames; conditions?: Condition[] } | undefined;
      const acceptedInStatus = st?.conditions?.some((c) => c.type === 'NamesAccepted' && c.status === 'True')
        ? st.acceptedNames
        : undefined;
      const held = this.served.has(name) ? os.names : acceptedInStatus;
      if (!held) continue;
      if (mine.has(held.plural)) return `"${held.plural}" is already in use`;
      for (const s of held.shortNames ?? []) if (mine.has(s)) return `"${s}" is already in use`;
    }
    return undefined;
  }

  async reconcile(name: string): Promise<'done' | 'retry'> {
    let kv;
    try {
      kv = await this.objects.getKv(this.crdInfo, undefined, name);
    } catch (e) {
      if ((e as { status?: number }).status === 404) {
        this.unserve(name);
        return 'done';
      }
      throw e;
    }
    const crd = kv.obj;
    const spec = crd.spec as CrdSpec;
    const status = (crd.status ?? {}) as {
      conditions?: Condition[];
      acceptedNames?: CrdNames;
      storedVersions?: string[];
    };
    const now = nowIso();
    if (crd.metadata.deletionTimestamp) return this.finalize(crd);

    const { items } = await this.objects.list(this.crdInfo, undefined, { selector: { labels: [], fields: [] } });
    const clash = this.namesConflict(crd, items);
    const conditions: Condition[] = clash
      ? [
          { type: 'NamesAccepted', status: 'False', reason: 'NameConflict', message: clash },
          { type: 'Established', status: 'False', reason: 'NotAccepted', message: 'not all names are accepted' },
        ]
      : [
          { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found' },
          {
            type: 'Established',
            status: 'True',
            reason: 'InitialNamesAccepted',
            message: 'the initial names have been accepted',
          },
        ];
    if (clash) this.unserve(name);
    else this.serve(crd);
    const old = status.conditions ?? [];
    const withTimes = conditions.map((c) => ({
      ...c,
      lastTransitionTime: old.find((o) => o.type === c.type && o.status === c.status)?.lastTransitionTime ?? now,
    }));
    const storage = spec.versions.find((v) => v.storage)?.name;
    const stored = [...new Set([...(status.storedVersions ?? []), ...(storage ? [storage] : [])])];
    const accepted = {
      ...spec.names,
      singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
      listKind: spec.names.listKind ?? `${spec.names.kind}List`,
    };
    if (
      sameConditions(old, withTimes) &&
      JSON.stringify(status.storedVersions) === JSON.stringify(stored) &&
      JSON.stringify(status.acceptedNames) === JSON.stringify(clash ? status.acceptedNames : accepted)
    ) {
      return 'done';
    }
    const next = structuredClone(crd);
    next.status = {
      conditions: withTimes,
      acceptedNames: clash ? (status.acceptedNames ?? { plural: '', kind: '' }) : accepted,
      storedVersions: stored,
    };
    const rev = await this.objects.store.update(kv.key, next, kv.modRev);
    return rev === undefined ? 'retry' : 'done';
  }

  /** Deletes every instance, then releases the finalizer (which removes the CRD). */
  private async finalize(crd: KubeObject): Promise<'done' | 'retry'> {
    const name = crd.metadata.name ?? '';
    const kv = await this.objects.getKv(this.crdInfo, undefined, name);
    const status = (kv.obj.status ?? {}) as { conditions?: Condition[] };
    if (!(status.conditions ?? []).some((c) => c.type === 'Terminating')) {
      const next = structuredClone(kv.obj);
      next.status = {
        ...status,
        conditions: [
          ...(status.conditions ?? []),
          {
            type: 'Terminating',
            status: 'True',
            reason: 'InstanceDeletionInProgress',
            message: 'CustomResource deletion is in progress',
            lastTransitionTime: nowIso(),
          },
        ],
      };
      await this.objects.store.update(kv.key, next, kv.modRev);
      return 'retry';
    }
    const r = resourcesOf(kv.obj)[0];
    if (r) {
      const { items } = await this.objects.list(r, undefined, { selector: { labels: [], fields: [] } });
      for (const it of items) {
        try {
          await this.objects.delete(r, it.metadata.namespace, it.metadata.name ?? '');
        } catch (e) {
          if ((e as { status?: number }).status !== 404) throw e;
        }
      }
      const left = await this.objects.list(r, undefined, { selector: { labels: [], fields: [] }, limit: 1 });
      if (left.items.length) return 'retry';
    }
    this.unserve(name);
    const fresh = await this.objects.getKv(this.crdInfo, undefined, name);
    const next = structuredClone(fresh.obj);
    next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((f) => f !== CLEANUP_FINALIZER);
    const done = next.metadata.finalizers.length === 0;
    const rev = done
      ? await this.objects.store.delete(fresh.key, fresh.modRev)
      : await this.objects.store.update(fresh.key, next, fresh.modRev);
    return rev === undefined ? 'retry' : 'done';
  }
}
