// The REST operations on stored objects, shared by the HTTP handlers and the server's own
// controllers: get, list (selectors, limit/continue), create, update, patch and delete with the
// semantics of kube-apiserver's generic registry (preconditions, 409 on a stale resourceVersion,
// no-op writes that keep the resourceVersion, finalizers and deletionTimestamp).
import {
  alreadyExists,
  ApiError,
  ApiServerErrorCode,
  badRequest,
  conflict,
  expired,
  forbidden,
  invalid,
  notFound,
} from './errors.js';
import {
  changedFields,
  jsonPatch,
  mergePatch,
  nowIso,
  serverSideApply,
  setManagedFields,
  strategicMerge,
  type PatchType,
} from './patch.js';
import { apiVersionOf, Registry, type ResourceInfo } from './resources.js';
import { matches, type Selector } from './selectors.js';
import type { NamespaceLifecycle } from './nslifecycle.js';
import { allocateNodePorts, defaultService, KUBERNETES_SERVICE_IP } from './services.js';
import { storedBytes, type KubeObject, type Store, type StoredKv } from './store.js';
import { decodeStep, prepareCreate, prepareUpdate, validate, type FieldValidation } from './strategy.js';

export interface WriteOptions {
  fieldManager?: string;
  fieldValidation?: FieldValidation;
  subresource?: string;
  dryRun?: boolean;
  force?: boolean;
}

export interface WriteResult {
  obj: KubeObject;
  warnings: string[];
  created?: boolean;
}

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  /** Pods: how long the kubelet has to stop the containers (default spec.terminationGracePeriodSeconds, 30). */
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

export interface ListOptions {
  selector: Selector;
  limit?: number;
  continueToken?: string;
  /** Read at this etcd revision (Exact), 0 for the latest. */
  revision?: number;
}

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
  continueToken?: string;
  remainingItemCount?: number;
}

const PROTECTED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64url');
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as {
      v?: string;
      rv?: number;
      start?: string;
    };
    if (t.v !== 'meta.k8s.io/v1' || typeof t.rv !== 'number' || typeof t.start !== 'string') throw new Error('bad');
    return { rv: t.rv, start: t.start };
  } catch {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
}

export class Objects {
  /** Set by the server once the watch cache runs: saves an etcd read per create. */
  namespaces?: NamespaceLifecycle;

  constructor(
    readonly store: Store,
    readonly registry: Registry,
  ) {}

  async getKv(r: ResourceInfo, ns: string | undefined, name: string): Promise<StoredKv> {
    const kv = await this.store.get(Registry.key(r, ns, name));
    if (!kv) throw notFound(r.plural, r.group, name);
    if (r.schema) r.schema.applyDefaults(kv.obj);
    return kv;
  }

  async get(r: ResourceInfo, ns: string | undefined, name: string): Promise<KubeObject> {
    return (await this.getKv(r, ns, name)).obj;
  }

  async list(r: ResourceInfo, ns: string | undefined, o: ListOptions): Promise<ListResult> {
    const prefix = Registry.key(r, ns, '');
    let revision = o.revision ?? 0;
    let startKey: string | undefined;
    if (o.continueToken) {
      const c = decodeContinue(o.continueToken);
      revision = c.rv;
      startKey = prefix + c.start;
      // etcd keeps revisions from the compaction revision on; older snapshots are gone.
      const compacted = await this.store.compactedRevision();
      if (compacted && revision < compacted) {
        throw expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        );
      }
    }
    const limit = o.limit && o.limit > 0 ? o.limit : 0;
    const items: KubeObject[] = [];
    let readRev = revision;
    let lastKey: string | undefined;
    let more = false;
    // etcd is read in pages even for unpaged lists (one pinned revision keeps them consistent):
    // a single range over 10 000 objects would exceed gRPC's message size.
    const pageSize = limit ? Math.max(limit, 500) : 1000;
    for (;;) {
      let page;
      try {
        page = await this.store.range(prefix, { startKey, limit: pageSize + 1, revision: readRev });
      } catch (e) {
        if (String(e).includes('compacted')) throw expired(`too old resource version: ${readRev}`);
        throw e;
      }
      readRev = readRev || page.revision;
      const kvs = page.kvs.length > pageSize ? page.kvs.slice(0, pageSize) : page.kvs;
      const pageMore = page.kvs.length > pageSize || page.more;
      let stopped = false;
      for (let i = 0; i < kvs.length; i++) {
        const kv = kvs[i] as StoredKv;
        if (r.schema) r.schema.applyDefaults(kv.obj);
        if (!matches(o.selector, kv.obj)) continue;
        if (limit && items.length === limit) {
          more = true;
          stopped = true;
          break;
        }
        items.push(kv.obj);
        lastKey = kv.key;
      }
      if (stopped || !pageMore) break;
      startKey = `${(kvs[kvs.length - 1] as StoredKv).key}\u0000`;
    }
    const res: ListResult = { items, resourceVersion: String(readRev) };
    if (more && lastKey) res.continueToken = encodeContinue(readRev, lastKey.slice(prefix.length) + '\u0000');
    return res;
  }

  private async checkNamespace(r: ResourceInfo, ns: string | undefined, name: string): Promise<void> {
    if (!r.namespaced) return;
    if (!ns) throw badRequest('the server could not find the requested resource: a namespace is required');
    let state = this.namespaces?.state(ns);
    if (state === undefined) {
      const nsInfo = this.registry.get('', 'v1', 'namespaces') as ResourceInfo;
      const kv = await this.store.get(Registry.key(nsInfo, undefined, ns));
      if (!kv) throw notFound('namespaces', '', ns);
      state = kv.obj.metadata.deletionTimestamp ? 'terminating' : 'active';
    }
    if (state === 'terminating') {
      throw forbidden(
        `${r.plural}${r.group ? `.${r.group}` : ''} "${name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
        {
          group: r.group,
          kind: r.plural,
          causes: [
            {
              reason: 'NamespaceTerminating',
              message: `namespace ${ns} is being terminated`,
              field: 'metadata.namespace',
            },
          ],
        },
      );
    }
  }

  async create(r: ResourceInfo, ns: string | undefined, body: KubeObject, o: WriteOptions = {}): Promise<WriteResult> {
    const obj = structuredClone(body);
    const warnings = decodeStep(r, obj, o.fieldValidation ?? 'Warn');
    prepareCreate(r, obj, ns);
    await this.checkNamespace(r, obj.metadata.namespace, obj.metadata.name ?? '');
    if (r.builtin && r.kind === 'Service') defaultService(obj, await this.usedClusterIPs(r));
    if (r.builtin && r.kind === 'Service') allocateNodePorts(obj, await this.usedNodePorts(r));
    if (r.builtin && r.kind === 'Pod') obj.status = { phase: 'Pending', ...((obj.status as object | undefined) ?? {}) };
    validate(r, obj, undefined);
    if (o.fieldManager)
      setManagedFields(obj, undefined, managed(o.fieldManager, 'Update', r, changedFields({}, obj), o.subresource));
    if (o.dryRun) return { obj, warnings, created: true };
    const rev = await this.store.create(Registry.key(r, obj.metadata.namespace, obj.metadata.name ?? ''), obj);
    if (rev === undefined) throw alreadyExists(r.plural, r.group, obj.metadata.name ?? '');
    obj.metadata.resourceVersion = String(rev);
    return { obj, warnings, created: true };
  }

  private async usedClusterIPs(r: ResourceInfo): Promise<Set<string>> {
    const used = new Set<string>([KUBERNETES_SERVICE_IP]);
    const { items } = await this.list(r, undefined, { selector: { labels: [], fields: [] } });
    for (const s of items)
      for (const ip of (s.spec as { clusterIPs?: string[] } | undefined)?.clusterIPs ?? []) used.add(ip);
    return used;
  }

  private async usedNodePorts(r: ResourceInfo): Promise<Set<number>> {
    const used = new Set<number>();
    const { items } = await this.list(r, undefined, { selector: { labels: [], fields: [] } });
    for (const s of items)
      for (const p of (s.spec as { ports?: { nodePort?: number }[] } | undefined)?.ports ?? [])
        if (p.nodePort) used.add(p.nodePort);
    return used;
  }

  /** PUT: requires metadata.resourceVersion, 409 when stale. */
  async update(
    r: ResourceInfo,
    ns: string | undefined,
    name: string,
    body: KubeObject,
    o: WriteOptions = {},
  ): Promise<WriteResult> {
    const obj = structuredClone(body);
    const warnings = decodeStep(r, obj, o.fieldValidation ?? 'Warn');
    if (obj.metadata.name && obj.metadata.name !== name)
      throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
    const rv = obj.metadata.resourceVersion;
    // Built-ins allow unconditional updates (helm's release Secrets rely on it); custom
    // resources do not (AllowUnconditionalUpdate=false in apiextensions-apiserver).
    if (!rv && !r.builtin) {
      throw invalid(r.kind, r.group, name, [
        {
          reason: 'FieldValueInvalid',
          message: 'Invalid value: 0x0: must be specified for an update',
          field: 'metadata.resourceVersion',
        },
      ]);
    }
    const kv = await this.getKv(r, ns, name);
    if (rv && String(kv.modRev) !== rv) throw conflict(r.plural, r.group, name);
    return { ...(await this.writeUpdate(r, kv, obj, o)), warnings };
  }

  /** The shared tail of update and patch: strategy, validation, no-op detection, CAS write. */
  private async writeUpdate(
    r: ResourceInfo,
    kv: StoredKv,
    obj: KubeObject,
    o: WriteOptions,
    skipManaged = false,
    /** `kv` is this server's last write, not read from etcd: a no-op must be confirmed there */
    maybeStale = false,
  ): Promise<WriteResult> {
    const out = prepareUpdate(r, obj, kv.obj, o.subresource);
    validate(r, out, kv.obj);
    if (o.fieldManager && !skipManaged) {
      const changed = changedFields(kv.obj, out);
      if (Object.keys(changed).length)
        setManagedFields(out, kv.obj, managed(o.fieldManager, 'Update', r, changed, o.subresource));
      else out.metadata.managedFields = kv.obj.metadata.managedFields;
    }
    // A no-op write keeps the resourceVersion and emits no event (etcd3 store skips equal bytes).
    const same = (a: KubeObject, b: KubeObject): boolean => {
      const strip = (x: KubeObject): KubeObject => ({
        ...x,
        metadata: { ...x.metadata, managedFields: undefined, resourceVersion: undefined },
      });
      return storedBytes(strip(a)) === storedBytes(strip(b));
    };
    if (same(out, kv.obj)) {
      // no write, so no compare would notice a stale copy: the caller retries from etcd (Conflict)
      if (maybeStale) throw conflict(r.plural, r.group, kv.obj.metadata.name ?? '');
      return { obj: kv.obj, warnings: [] };
    }
    if (o.dryRun) return { obj: out, warnings: [] };
    // An update that leaves a deleting object without finalizers completes the deletion.
    if (out.metadata.deletionTimestamp && !(out.metadata.finalizers ?? []).length && !nsFinalizersPending(r, out)) {
      const drev = await this.store.delete(kv.key, kv.modRev);
      if (drev === undefined) throw conflict(r.plural, r.group, kv.obj.metadata.name ?? '');
      out.metadata.resourceVersion = String(drev);
      return { obj: out, warnings: [] };
    }
    const rev = await this.store.update(kv.key, out, kv.modRev);
    if (rev === undefined) throw conflict(r.plural, r.group, kv.obj.metadata.name ?? '');
    out.metadata.resourceVersion = String(rev);
    return { obj: out, warnings: [] };
  }

  /** PATCH of any type; apply creates a missing object. Retries internal CAS races. */
  async patch(
    r: ResourceInfo,
    ns: string | undefined,
    name: string,
    type: PatchType,
    body: unknown,
    o: WriteOptions = {},
  ): Promise<WriteResult> {
    // The first attempt starts from the object as this server last wrote it (a status patch right
    // after a create saves its etcd read: a third of a CEP's create-to-ready round trips); a conflict
    // there may only mean that copy was stale, so it is retried from etcd whatever the preconditions.
    let fresh = false;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.patchOnce(r, ns, name, type, body, o, !fresh);
      } catch (e) {
        const isConflict = e instanceof Error && (e as { reason?: string }).reason === 'Conflict';
        if (isConflict && !fresh) {
          fresh = true;
          continue;
        }
        const precondition =
          typeof body === 'object' && body !== null && (body as KubeObject).metadata?.resourceVersion;
        if (attempt < 5 && isConflict && !precondition) continue;
        throw e;
      }
    }
  }

  private async patchOnce(
    r: ResourceInfo,
    ns: string | undefined,
    name: string,
    type: PatchType,
    body: unknown,
    o: WriteOptions,
    lastWritten: boolean,
  ): Promise<WriteResult> {
    let kv = lastWritten ? this.store.lastWritten(Registry.key(r, ns, name)) : undefined;
    const maybeStale = kv !== undefined;
    if (kv && r.schema) r.schema.applyDefaults(kv.obj);
    if (!kv) {
      try {
        kv = await this.getKv(r, ns, name);
      } catch (e) {
        if (type !== 'apply' || (e as { status?: number }).status !== 404) throw e;
      }
    }
    const av = apiVersionOf(r);
    if (type === 'apply') {
      const applied = structuredClone(body) as KubeObject;
      if (typeof applied !== 'object' || applied === null)
        throw badRequest('the body of the request must be an object');
      applied.metadata = applied.metadata ?? {};
      if (applied.metadata.name && applied.metadata.name !== name)
        throw badRequest(
          `the name of the object (${applied.metadata.name}) does not match the name on the URL (${name})`,
        );
      applied.metadata.name = name;
      if (!kv) {
        if (o.subresource) throw notFound(r.plural, r.group, name);
        const created = serverSideApply(undefined, applied, o.fieldManager ?? '', av);
        const res = await this.create(r, ns, created, { ...o, fieldManager: undefined });
        return { ...res, created: true };
      }
      const merged = serverSideApply(kv.obj, applied, o.fieldManager ?? '', av);
      delete merged.metadata.resourceVersion;
      const warnings = decodeStep(r, merged, o.fieldValidation ?? 'Warn');
      return { ...(await this.writeUpdate(r, kv, merged, o, true, maybeStale)), warnings };
    }
    if (!kv) throw notFound(r.plural, r.group, name);
    const current = kv.obj;
    let next: KubeObject;
    if (type === 'json') next = jsonPatch(current, body, r.kind, r.group, name);
    else if (type === 'merge') next = mergePatch(current, body) as KubeObject;
    else next = strategicMerge(current, body) as KubeObject;
    if (typeof next !== 'object' || next === null) throw badRequest('the patch produced a non-object');
    next.metadata = next.metadata ?? {};
    const wantRv = next.metadata.resourceVersion;
    if (wantRv && wantRv !== String(kv.modRev)) throw conflict(r.plural, r.group, name);
    const warnings = decodeStep(r, next, o.fieldValidation ?? 'Warn');
    return { ...(await this.writeUpdate(r, kv, next, o, false, maybeStale)), warnings };
  }

  /** pods/binding: what a scheduler posts to place a pod; sets spec.nodeName once. */
  async bind(r: ResourceInfo, ns: string | undefined, name: string, node: string): Promise<void> {
    if (!node)
      throw invalid('Binding', '', name, [
        { reason: 'FieldValueRequired', message: 'Required value', field: 'target.name' },
      ]);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.getKv(r, ns, name);
      const spec = (kv.obj.spec ?? {}) as { nodeName?: string };
      if (spec.nodeName) {
        throw new ApiError(
          409,
          'Conflict',
          `Operation cannot be fulfilled on pods/binding "${name}": pod ${name} is already assigned to node "${spec.nodeName}"`,
          ApiServerErrorCode.Conflict,
          { name, kind: 'pods/binding' },
        );
      }
      const next = structuredClone(kv.obj);
      next.spec = { ...spec, nodeName: node };
      if ((await this.store.update(kv.key, next, kv.modRev)) !== undefined) return;
      if (attempt >= 5) throw conflict(r.plural, r.group, name);
    }
  }

  /** DELETE: finalizers → deletionTimestamp; otherwise removal. Returns the object's last state. */
  async delete(
    r: ResourceInfo,
    ns: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<{ obj: KubeObject; deleted: boolean }> {
    if (r.kind === 'Namespace' && PROTECTED_NAMESPACES.has(name)) {
      throw forbidden(`namespaces "${name}" is forbidden: this namespace may not be deleted`, {
        name,
        kind: 'namespaces',
      });
    }
    for (let attempt = 0; ; attempt++) {
      const kv = await this.getKv(r, ns, name);
      const obj = structuredClone(kv.obj);
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== obj.metadata.uid) {
        throw conflict(r.plural, r.group, name);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== String(kv.modRev)) throw conflict(r.plural, r.group, name);
      const fin = [...(obj.metadata.finalizers ?? [])];
      if (
        opts.propagationPolicy === 'Foreground' &&
        !fin.includes('foregroundDeletion') &&
        !obj.metadata.deletionTimestamp
      )
        fin.push('foregroundDeletion');
      if (opts.propagationPolicy === 'Orphan' && !fin.includes('orphan') && !obj.metadata.deletionTimestamp)
        fin.push('orphan');
      // Pods held by a kubelet get a grace period: deletionTimestamp is the deadline (podGrace);
      // --force --grace-period=0 drops the kubelet's hold, and the pod goes unless others hold it.
      const grace = podGrace(r, obj, opts);
      const held = grace?.force ? fin.filter((f) => f !== KUBELET_FINALIZER) : fin;
      const graceful = held.length > 0 || nsFinalizersPending(r, obj);
      if (opts.dryRun?.length) return { obj, deleted: !graceful };
      if (graceful) {
        if (obj.metadata.deletionTimestamp) {
          if (!grace || Date.parse(grace.deadline) >= Date.parse(obj.metadata.deletionTimestamp))
            return { obj, deleted: false };
          // a second delete with a shorter grace period moves the deadline closer
        }
        obj.metadata.deletionTimestamp = grace?.deadline ?? nowIso();
        obj.metadata.deletionGracePeriodSeconds = grace?.seconds ?? 0;
        obj.metadata.finalizers = held;
        if (r.kind === 'Namespace') obj.status = { ...(obj.status as object | undefined), phase: 'Terminating' };
        const rev = await this.store.update(kv.key, obj, kv.modRev);
        if (rev === undefined) {
          if (attempt < 5) continue;
          throw conflict(r.plural, r.group, name);
        }
        obj.metadata.resourceVersion = String(rev);
        return { obj, deleted: false };
      }
      const rev = await this.store.delete(kv.key, kv.modRev);
      if (rev === undefined) {
        if (attempt < 5) continue;
        throw conflict(r.plural, r.group, name);
      }
      return { obj, deleted: true };
    }
  }

  /** DELETE on a collection: deletes every object the selector matches. */
  async deleteCollection(
    r: ResourceInfo,
    ns: string | undefined,
    selector: Selector,
    opts: DeleteOptions = {},
  ): Promise<KubeObject[]> {
    const { items } = await this.list(r, ns, { selector });
    const out: KubeObject[] = [];
    for (const it of items) {
      try {
        out.push((await this.delete(r, it.metadata.namespace, it.metadata.name ?? '', opts)).obj);
      } catch (e) {
        if ((e as { status?: number }).status !== 404) throw e;
      }
    }
    return out;
  }
}

/** The finalizer the devcluster's kubelet-like runner holds its pods with (nodes/runner.ts). */
export const KUBELET_FINALIZER = 'devcluster.cilium-ts.io/kubelet';

/**
 * A pod's graceful deletion (kube-apiserver's pod strategy CheckGracefulDelete): the grace period
 * from the DeleteOptions, else spec.terminationGracePeriodSeconds, else 30 s; 0 forces (the
 * kubelet's hold is dropped). Unbound and finished pods have nothing to wait for.
 */
function podGrace(
  r: ResourceInfo,
  obj: KubeObject,
  opts: DeleteOptions,
): { seconds: number; deadline: string; force: boolean } | undefined {
  if (!r.builtin || r.kind !== 'Pod') return undefined;
  const spec = (obj.spec ?? {}) as { nodeName?: string; terminationGracePeriodSeconds?: number };
  const phase = (obj.status as { phase?: string } | undefined)?.phase;
  const finished = phase === 'Succeeded' || phase === 'Failed';
  let seconds = opts.gracePeriodSeconds ?? spec.terminationGracePeriodSeconds ?? 30;
  if (!spec.nodeName || finished) seconds = 0;
  seconds = Math.max(0, Math.floor(seconds));
  const force = seconds === 0 && opts.gracePeriodSeconds !== undefined;
  return { seconds, deadline: new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z'), force };
}

/** A namespace stays until its spec.finalizers ("kubernetes") are cleared by the namespace controller. */
export function nsFinalizersPending(r: ResourceInfo, obj: KubeObject): boolean {
  return r.kind === 'Namespace' && ((obj.spec as { finalizers?: string[] } | undefined)?.finalizers ?? []).length > 0;
}

function managed(
  manager: string,
  operation: 'Update',
  r: ResourceInfo,
  fieldsV1: Record<string, unknown>,
  subresource?: string,
) {
  const e = {
    manager,
    operation,
    apiVersion: apiVersionOf(r),
    time: nowIso(),
    fieldsType: 'FieldsV1' as const,
    fieldsV1,
  };
  return subresource ? { ...e, subresource } : e;
}
