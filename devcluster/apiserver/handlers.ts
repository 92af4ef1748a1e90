// The REST handlers for resource paths: get, list, watch, create, update, patch, delete and
// deletecollection, with content negotiation (JSON, Table) and the query parameters kubectl and
// client-node send.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CachedObject } from './cache-state.js';
import { badRequest, invalid, methodNotAllowed, notFound, tooLargeResourceVersion } from './errors.js';
import { handleScale, hasScale } from './scale.js';
import { decodeBody, readBody, sendJson, warningHeaders } from './http.js';
import { streamCachedList, streamList } from './list-response.js';
import type { DeleteOptions, Objects, WriteOptions } from './objects.js';
import type { ResolvedOptions } from './options.js';
import { patchTypeOf } from './patch.js';
import { apiVersionOf, Registry } from './resources.js';
import type { Route } from './router.js';
import { parseFieldSelector, parseLabelSelector, type Selector } from './selectors.js';
import type { KubeObject } from './store.js';
import { parseFieldValidation } from './strategy.js';
import { toTable, wantsTable, type IncludeObject } from './table.js';
import { serveWatch } from './watch.js';
import type { WatchCache } from './watchcache.js';

export interface HandlerContext {
  objects: Objects;
  cache: WatchCache;
  opts: ResolvedOptions;
}

function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

function selectorOf(route: Route, q: URLSearchParams): Selector {
  return {
    labels: parseLabelSelector(q.get('labelSelector')),
    fields: parseFieldSelector(q.get('fieldSelector'), route.r.plural, route.r.kind),
  };
}

/** kube-apiserver defaults the field manager to the User-Agent's program name. */
function fieldManager(req: IncomingMessage, q: URLSearchParams): string {
  const fm = q.get('fieldManager');
  if (fm) return fm;
  return (req.headers['user-agent'] ?? 'unknown').split('/')[0] ?? 'unknown';
}

function writeOptions(req: IncomingMessage, q: URLSearchParams, route: Route): WriteOptions {
  const o: WriteOptions = {
    fieldManager: fieldManager(req, q),
    fieldValidation: parseFieldValidation(q.get('fieldValidation')),
  };
  if (route.subresource) o.subresource = route.subresource;
  if (q.get('dryRun') === 'All') o.dryRun = true;
  if (q.get('force') === 'true') o.force = true;
  return o;
}

function checkSubresource(route: Route, method: string): void {
  const s = route.subresource;
  if (s === undefined) return;
  if (s === 'status' && route.r.statusSubresource) return;
  if (s === 'finalize' && route.r.kind === 'Namespace' && method === 'PUT') return;
  if (s === 'binding' && route.r.kind === 'Pod' && route.r.builtin && method === 'POST') return;
  if (s === 'scale' && hasScale(route.r)) return;
  throw notFound(`${route.r.plural}/${s}`, route.r.group, route.name ?? '');
}

function respondObject(
  res: ServerResponse,
  req: IncomingMessage,
  route: Route,
  q: URLSearchParams,
  code: number,
  obj: KubeObject,
  warnings: string[] = [],
): void {
  if (wantsTable(req.headers.accept)) {
    sendJson(
      res,
      code,
      toTable(
        route.r,
        [obj],
        { resourceVersion: obj.metadata.resourceVersion },
        { includeObject: includeObject(q), withColumns: true },
      ),
      warningHeaders(warnings),
    );
    return;
  }
  sendJson(res, code, obj, warningHeaders(warnings));
}

/**
 * A list kube-apiserver's cacher answers itself rather than delegating to etcd (its
 * ShouldDelegateList, 1.31+): no continue token, no Exact match, and no limit unless
 * resourceVersion is "0" (then the limit is ignored and the list comes whole).
 */
function servedFromCache(q: URLSearchParams): boolean {
  const rv = q.get('resourceVersion') ?? '';
  const rvMatch = q.get('resourceVersionMatch') ?? '';
  const limit = Number(q.get('limit') ?? 0);
  return !q.get('continue') && (rvMatch === '' || rvMatch === 'NotOlderThan') && !(limit > 0 && rv !== '0');
}

/**
 * The cache's objects for a list, once the cache is fresh enough: resourceVersion "0" takes it as it
 * is, N waits until it has seen N (504 after the wait, as kube-apiserver), and none (a consistent
 * read) waits until it has seen etcd's current revision. Undefined sends the list to etcd: the state
 * is being reloaded, or a consistent read's wait ran out (kube-apiserver falls back to etcd too).
 */
async function cachedItems(
  ctx: HandlerContext,
  route: Route,
  selector: Selector,
  rv: string,
): Promise<{ items: CachedObject[]; resourceVersion: string } | undefined> {
  const { cache } = ctx;
  if (!cache.stateReady) return undefined;
  if (rv === '') {
    if (!(await cache.waitFor(await ctx.objects.store.revision(), ctx.opts.futureRvWaitMs))) return undefined;
  } else if (rv !== '0') {
    const want = Number(rv);
    if (!/^\d+$/.test(rv)) throw badRequest(`invalid resource version "${rv}"`);
    if (!(await cache.waitFor(want, ctx.opts.futureRvWaitMs))) throw tooLargeResourceVersion(want, cache.lastRev);
  }
  if (!cache.stateReady) return undefined;
  // select() copies the references synchronously: the list stays at this revision while it streams
  const resourceVersion = String(cache.lastRev);
  return { items: cache.state.select(Registry.key(route.r, route.namespace, ''), selector), resourceVersion };
}

/** A cached object as a client reads it: decoded, with the CRD's defaults. */
function cachedObject(route: Route, o: CachedObject): KubeObject {
  const obj = JSON.parse(o.json) as KubeObject;
  if (route.r.schema) route.r.schema.applyDefaults(obj);
  return obj;
}

export async function handleResource(
  ctx: HandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  q: URLSearchParams,
): Promise<void> {
  const method = req.method ?? 'GET';
  const { r } = route;
  const { objects } = ctx;
  checkSubresource(route, method);
  const collection = route.name === undefined;
  if (route.subresource === 'scale' && !collection)
    return handleScale(objects, r, route.namespace, route.name ?? '', req, res);

  if (method === 'GET' && !collection) {
    // resourceVersion=0: any version will do, and kube-apiserver answers from its cache
    if (q.get('resourceVersion') === '0' && ctx.cache.stateReady) {
      const hit = ctx.cache.state.get(Registry.key(r, route.namespace, route.name ?? ''));
      if (!hit) throw notFound(r.plural, r.group, route.name ?? '');
      return respondObject(res, req, route, q, 200, cachedObject(route, hit));
    }
    const obj = await objects.get(r, route.namespace, route.name ?? '');
    return respondObject(res, req, route, q, 200, obj);
  }

  if (method === 'GET') {
    const selector = selectorOf(route, q);
    const watch = q.get('watch');
    if (watch === 'true' || watch === '1') {
      if (q.get('sendInitialEvents') === 'true' && q.get('resourceVersionMatch') !== 'NotOlderThan') {
        throw invalid('ListOptions', 'meta.k8s.io', '', [
          {
            reason: 'FieldValueForbidden',
            message:
              "Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled and resourceVersionMatch is set to 'NotOlderThan'",
            field: 'resourceVersionMatch',
          },
        ]);
      }
      const ts = q.get('timeoutSeconds');
      const rv = q.get('resourceVersion');
      await serveWatch(
        res,
        {
          r,
          ...(route.namespace !== undefined ? { ns: route.namespace } : {}),
          selector,
          ...(rv !== null ? { resourceVersion: rv } : {}),
          allowBookmarks: q.get('allowWatchBookmarks') === 'true',
          sendInitialEvents: q.get('sendInitialEvents') === 'true',
          ...(ts ? { timeoutSeconds: Number(ts) } : {}),
          ...(wantsTable(req.headers.accept) ? { table: includeObject(q) } : {}),
        },
        objects,
        ctx.cache,
        ctx.opts,
      );
      return;
    }
    const rvMatch = q.get('resourceVersionMatch');
    const rv = q.get('resourceVersion');
    if (rvMatch && !rv) throw badRequest('resourceVersionMatch is forbidden unless resourceVersion is provided');
    if (rvMatch === 'Exact' && rv === '0')
      throw badRequest('resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
    const cached = servedFromCache(q) ? await cachedItems(ctx, route, selector, rv ?? '') : undefined;
    if (cached && wantsTable(req.headers.accept)) {
      const items = cached.items.map((o) => cachedObject(route, o));
      const meta = { resourceVersion: cached.resourceVersion };
      return sendJson(res, 200, toTable(r, items, meta, { includeObject: includeObject(q), withColumns: true }));
    }
    if (cached) return streamCachedList(res, r, cached.items, cached.resourceVersion);
    // resourceVersion=0 (any version, no continue token) is served whole, as kube-apiserver's watch
    // cache does whatever the limit: client-go's reflectors (and the framework's watcher) rely on it
    const anyVersion = rv === '0' && !rvMatch && !q.get('continue');
    const limit = anyVersion ? 0 : Number(q.get('limit') ?? 0);
    const listOpts = {
      selector,
      ...(limit > 0 ? { limit } : {}),
      ...(q.get('continue') ? { continueToken: q.get('continue') as string } : {}),
      ...(rvMatch === 'Exact' && rv ? { revision: Number(rv) } : {}),
    };
    // A whole JSON list streams (its metadata holds no continue token); pages and Tables are small.
    if (!(limit > 0) && !wantsTable(req.headers.accept)) return streamList(res, r, objects, route.namespace, listOpts);
    const list = await objects.list(r, route.namespace, listOpts);
    const meta: Record<string, unknown> = { resourceVersion: list.resourceVersion };
    if (list.continueToken) meta.continue = list.continueToken;
    if (wantsTable(req.headers.accept)) {
      return sendJson(res, 200, toTable(r, list.items, meta, { includeObject: includeObject(q), withColumns: true }));
    }
    return sendJson(res, 200, { kind: r.listKind, apiVersion: apiVersionOf(r), metadata: meta, items: list.items });
  }

  if (method === 'POST' && route.subresource === 'binding') {
    const body = decodeBody(req, await readBody(req)) as { target?: { name?: string } } | undefined;
    await objects.bind(r, route.namespace, route.name ?? '', body?.target?.name ?? '');
    return sendJson(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
  }

  if (method === 'POST' && collection) {
    const body = decodeBody(req, await readBody(req));
    if (typeof body !== 'object' || body === null) throw badRequest('the request body must be an object');
    const out = await objects.create(r, route.namespace, body as KubeObject, writeOptions(req, q, route));
    return respondObject(res, req, route, q, 201, out.obj, out.warnings);
  }

  if (method === 'PUT' && !collection) {
    const body = decodeBody(req, await readBody(req));
    if (typeof body !== 'object' || body === null) throw badRequest('the request body must be an object');
    const out = await objects.update(
      r,
      route.namespace,
      route.name ?? '',
      body as KubeObject,
      writeOptions(req, q, route),
    );
    return respondObject(res, req, route, q, 200, out.obj, out.warnings);
  }

  if (method === 'PATCH' && !collection) {
    const type = patchTypeOf(req.headers['content-type'], r.builtin);
    const raw = await readBody(req);
    const body = decodeBody(
      { headers: { 'content-type': type === 'apply' ? 'application/yaml' : 'application/json' } } as IncomingMessage,
      raw,
    );
    if (body === undefined) throw badRequest('the patch body is empty');
    const out = await objects.patch(r, route.namespace, route.name ?? '', type, body, writeOptions(req, q, route));
    return respondObject(res, req, route, q, out.created ? 201 : 200, out.obj, out.warnings);
  }

  if (method === 'DELETE') {
    const raw = await readBody(req);
    const body = (raw.length ? decodeBody(req, raw) : {}) as DeleteOptions & {
      gracePeriodSeconds?: number;
      orphanDependents?: boolean;
    };
    const opts: DeleteOptions = { ...body };
    if (body.orphanDependents !== undefined && !opts.propagationPolicy)
      opts.propagationPolicy = body.orphanDependents ? 'Orphan' : 'Background';
    const gp = q.get('gracePeriodSeconds');
    if (gp !== null && gp !== '') opts.gracePeriodSeconds = Number(gp);
    const pp = q.get('propagationPolicy');
    if (pp === 'Background' || pp === 'Foreground' || pp === 'Orphan') opts.propagationPolicy = pp;
    if (q.get('dryRun') === 'All') opts.dryRun = ['All'];
    if (collection) {
      const items = await objects.deleteCollection(r, route.namespace, selectorOf(route, q), opts);
      return sendJson(res, 200, { kind: r.listKind, apiVersion: apiVersionOf(r), metadata: {}, items });
    }
    const out = await objects.delete(r, route.namespace, route.name ?? '', opts);
    // kube-apiserver answers 202 when the deletion waits for finalizers.
    return sendJson(res, out.deleted ? 200 : 202, out.obj);
  }

  throw methodNotAllowed(method);
}
