// The HTTP side of watch: newline-delimited JSON events over a chunked 200 response, initial
// ADDEDs when no resourceVersion is given, resume from a resourceVersion through the watch cache,
// ERROR 410 for versions older than the cache, BOOKMARKs when asked (client-node 2.x needs bytes
// at least every 30 s), timeoutSeconds, selectors (objects moving in or out of a selector become
// ADDED / DELETED), and Table rows for `kubectl get -w`.
import type { ServerResponse } from 'node:http';
import { expired, tooLargeResourceVersion, type ApiError } from './errors.js';
import type { Objects } from './objects.js';
import type { ResolvedOptions } from './options.js';
import { apiVersionOf, Registry, type ResourceInfo } from './resources.js';
import { matches, type Selector } from './selectors.js';
import type { KubeObject } from './store.js';
import { toTable, type IncludeObject } from './table.js';
import type { CacheEvent, WatchCache } from './watchcache.js';

export interface WatchRequest {
  r: ResourceInfo;
  ns?: string;
  selector: Selector;
  resourceVersion?: string;
  allowBookmarks: boolean;
  sendInitialEvents: boolean;
  timeoutSeconds?: number;
  table?: IncludeObject;
}

type WireType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** Unsent bytes a watch may queue before the server ends it. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

export async function serveWatch(
  res: ServerResponse,
  w: WatchRequest,
  objects: Objects,
  cache: WatchCache,
  opts: ResolvedOptions,
): Promise<void> {
  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-cache, private',
    'Transfer-Encoding': 'chunked',
  });
  res.flushHeaders();
  let firstTable = true;
  let closed = false;
  const send = (type: WireType, obj: unknown): void => {
    if (closed) return;
    if (w.table && (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED')) {
      const object = toTable(
        w.r,
        [obj as KubeObject],
        { resourceVersion: (obj as KubeObject).metadata.resourceVersion },
        { includeObject: w.table, withColumns: firstTable },
      );
      firstTable = false;
      res.write(`${JSON.stringify({ type, object })}\n`);
      return;
    }
    res.write(`{"type":"${type}","object":${serialized(w.r, obj)}}\n`);
    // A client that stops reading would make the server buffer every event for it; like
    // kube-apiserver with slow watchers, end its watch instead (it resumes from its last RV).
    if (res.writableLength > MAX_BUFFERED_BYTES) finish();
  };
  const fail = (e: ApiError): void => {
    send('ERROR', e.toStatus());
    finish();
  };
  const bookmark = (annotations?: Record<string, string>): void => {
    const metadata: Record<string, unknown> = { resourceVersion: String(cache.lastRev) };
    if (annotations) metadata.annotations = annotations;
    send('BOOKMARK', { kind: w.r.kind, apiVersion: apiVersionOf(w.r), metadata });
  };

  const prefix = Registry.key(w.r, w.ns, '');
  const timers: NodeJS.Timeout[] = [];
  const sub = {
    prefix,
    onEvent: (e: CacheEvent) => deliver(e),
    onExpired: () => fail(expired('too old resource version: the watch cache was reset')),
  };
  function finish(): void {
    if (closed) return;
    closed = true;
    cache.unsubscribe(sub);
    for (const t of timers) clearTimeout(t);
    res.end();
  }
  res.on('close', finish);

  function deliver(e: CacheEvent): void {
    // The key prefix already narrowed the events to this resource (and namespace).
    const now = e.type !== 'DELETED' && matches(w.selector, e.obj);
    const before = e.prev !== undefined && matches(w.selector, e.prev);
    const obj = e.obj;
    // the cache's text of the object is what a watch sends, unless the CRD has defaults to apply
    if (e.json !== undefined && !jsonCache.has(obj) && !w.r.schema?.hasDefaults) jsonCache.set(obj, e.json);
    if (e.type === 'DELETED') {
      if (before) send('DELETED', obj);
    } else if (now && before) send(e.type === 'ADDED' ? 'ADDED' : 'MODIFIED', obj);
    else if (now) send('ADDED', obj);
    else if (before) send('DELETED', obj);
  }

  const rv = w.resourceVersion;
  let from: number;
  if (rv === undefined || rv === '' || rv === '0' || w.sendInitialEvents) {
    const list = await objects.list(w.r, w.ns, { selector: w.selector });
    from = Number(list.resourceVersion);
    if (!(await cache.waitFor(from, opts.futureRvWaitMs))) return fail(tooLargeResourceVersion(from, cache.lastRev));
    if (from < cache.floor) return fail(expired(`too old resource version: ${from} (${cache.floor})`));
    const backlog = cache.subscribe(sub, from);
    for (const o of list.items) send('ADDED', o);
    if (w.sendInitialEvents && w.allowBookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
    for (const e of backlog) deliver(e);
  } else {
    from = Number(rv);
    if (!Number.isInteger(from) || from < 0) return fail(expired(`too old resource version: ${rv}`));
    if (from > cache.lastRev && !(await cache.waitFor(from, opts.futureRvWaitMs))) {
      return fail(tooLargeResourceVersion(from, cache.lastRev));
    }
    if (from < cache.floor) return fail(expired(`too old resource version: ${from} (${cache.floor})`));
    for (const e of cache.subscribe(sub, from)) deliver(e);
  }
  if (closed) return;

  const seconds = w.timeoutSeconds && w.timeoutSeconds > 0 ? w.timeoutSeconds : opts.defaultWatchTimeoutSeconds;
  timers.push(
    setTimeout(() => {
      if (w.allowBookmarks) bookmark();
      finish();
    }, seconds * 1000),
  );
  if (w.allowBookmarks) {
    const tick = (): void => {
      if (closed) return;
      bookmark();
      timers.push(setTimeout(tick, opts.bookmarkIntervalMs));
    };
    timers.push(setTimeout(tick, opts.bookmarkIntervalMs));
  }
}

/**
 * An event's object as JSON, with the CRD's defaults applied (as on every read from storage).
 * Cached per object: with many watchers the event is serialized once, not once per watcher.
 */
const jsonCache = new WeakMap<object, string>();
function serialized(r: ResourceInfo, obj: unknown): string {
  if (typeof obj !== 'object' || obj === null) return JSON.stringify(obj);
  const hit = jsonCache.get(obj);
  if (hit !== undefined) return hit;
  let o = obj;
  if (r.schema?.hasDefaults && (obj as KubeObject).metadata?.uid) {
    o = structuredClone(obj);
    r.schema.applyDefaults(o);
  }
  const json = JSON.stringify(o);
  jsonCache.set(obj, json);
  return json;
}
