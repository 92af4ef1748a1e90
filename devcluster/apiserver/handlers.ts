// The REST handlers for resource paths: get, list, watch, create, update, patch, delete and
// deletecollection, with content negotiation (JSON, Table) and the query parameters kubectl and
// client-node send.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, invalid, methodNotAllowed, notFound } from './errors.js';
import { handleScale, hasScale } from './scale.js';
import { decodeBody, readBody, sendJson, warningHeaders } from './http.js';
import { streamList } from './list-response.js';
import type { DeleteOptions, Objects, WriteOptions } from './objects.js';
import type { ResolvedOptions } from './options.js';
import { patchTypeOf } from './patch.js';
import { apiVersionOf } from './resources.js';
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
