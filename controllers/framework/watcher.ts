// The list+watch state machine (kube-rs `watcher`): list in pages, then watch from the list's
// resourceVersion with bookmarks; 410 Gone → relist, bracketed by Init … InitDone so that a store
// swaps the new state in atomically; an inactivity timeout restarts a silent watch; every error
// is surfaced as an event and retried with jittered backoff — the stream never stops by itself.
import type { KubeClient, ResourceRef } from './client.js';
import { realClock, type Clock } from './clock.js';
import { FrameworkError, FrameworkErrorCode, isGone } from './errors.js';
import type { KubeObject } from './types.js';

export type WatcherEvent<T extends KubeObject> =
  | { type: 'Init' }
  /** One object of a relist: what a store is fed by hand (tests, restored state); the watcher itself emits InitPage. */
  | { type: 'InitApply'; object: T }
  /**
   * The objects of one list page (with rv=0, the whole list), in order: as client-go's reflector
   * hands a list to its store in one Replace. One event per object cost an async generator's
   * promises and results for each (1 KB of garbage per object), more than the store's own work.
   */
  | { type: 'InitPage'; objects: T[] }
  | { type: 'InitDone'; resourceVersion: string }
  | { type: 'Apply'; object: T }
  | { type: 'Delete'; object: T }
  | { type: 'Bookmark'; resourceVersion: string }
  | { type: 'Error'; error: Error; retryInMs: number };

export interface WatcherOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size of the initial list. Large pages cost API server memory; 500 is client-go's. */
  pageSize?: number;
  /**
   * List with resourceVersion=0 the first time, as client-go's reflector does: the API server
   * answers from its watch cache, in one response whatever the limit (Kubernetes API concepts,
   * "Resource versions" / "Retrieving large results sets in chunks"), instead of one request per
   * page read from etcd. The watch then continues from that list's resourceVersion, so nothing is
   * missed. A relist after 410 Gone asks for the latest state, in pages, and so does a retry after
   * the first list failed (a whole list too large to arrive within the request timeout would fail
   * again).
   */
  listFromCache?: boolean;
  /**
   * Restart a watch that delivered nothing (not even a bookmark) for this long. The API server
   * sends bookmarks about once a minute, so a silent stream this long is probably dead.
   */
  inactivityTimeoutMs?: number;
  /** Server-side watch timeout (seconds); the watch is re-established from the last resourceVersion. */
  watchTimeoutSeconds?: number;
  /** First retry delay after an error; doubles up to `backoffMaxMs`, with ±50% jitter. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  clock?: Clock;
}

export const WATCHER_DEFAULTS: Required<
  Omit<WatcherOptions, 'namespace' | 'labelSelector' | 'fieldSelector' | 'clock'>
> = {
  pageSize: 500,
  listFromCache: true,
  inactivityTimeoutMs: 5 * 60_000,
  watchTimeoutSeconds: 290,
  backoffInitialMs: 800,
  backoffMaxMs: 30_000,
};

class Backoff {
  private next: number;
  constructor(
    private readonly initial: number,
    private readonly max: number,
  ) {
    this.next = initial;
  }
  take(): number {
    const d = this.next;
    this.next = Math.min(this.max, this.next * 2);
    return Math.round(d * (0.5 + Math.random()));
  }
  reset(): void {
    this.next = this.initial;
  }
}

/** Events of one resource until `signal` aborts. */
export async function* watcher<T extends KubeObject>(
  client: KubeClient,
  res: ResourceRef,
  options: WatcherOptions,
  signal: AbortSignal,
): AsyncGenerator<WatcherEvent<T>> {
  const o = { ...WATCHER_DEFAULTS, ...options };
  const clock = options.clock ?? realClock;
  const backoff = new Backoff(o.backoffInitialMs, o.backoffMaxMs);
  const selectors = { namespace: o.namespace, labelSelector: o.labelSelector, fieldSelector: o.fieldSelector };
  let resourceVersion: string | undefined;
  // Only the first list asks for the whole collection from the cache: a relist after 410, and a
  // retry after a failed list, come in pages. A whole list is one response the server builds
  // before it writes a byte; at tens of thousands of objects on a busy server that outlasts the
  // request timeout, and asking again the same way would fail the same way forever (the informer
  // never syncs). Each page is bounded, whatever the collection's size.
  let fromCache = o.listFromCache;

  while (!signal.aborted) {
    // A watch the server ended asking for a retry after N s (504 "Too large resource version":
    // its cache had not reached our resourceVersion yet) comes back then, not after a growing backoff.
    let retryAfterMs: number | undefined;
    try {
      if (resourceVersion === undefined) {
        yield { type: 'Init' };
        const whole = fromCache;
        fromCache = false;
        resourceVersion = yield* listAll<T>(client, res, { ...selectors, limit: o.pageSize }, whole);
        yield { type: 'InitDone', resourceVersion: resourceVersion! };
        backoff.reset();
      }
      const inactivity = new AbortController();
      const watchSignal = AbortSignal.any([signal, inactivity.signal]);
      let cancelTimer = clock.setTimer(o.inactivityTimeoutMs, () => inactivity.abort());
      try {
        const stream = client.watch<T>(
          res,
          { ...selectors, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: o.watchTimeoutSeconds },
          watchSignal,
        );
        for await (const ev of stream) {
          cancelTimer();
          cancelTimer = clock.setTimer(o.inactivityTimeoutMs, () => inactivity.abort());
          if (ev.type === 'ERROR') {
            const status = ev.object as unknown as {
              code?: number;
              message?: string;
              details?: { retryAfterSeconds?: number };
            };
            if (status.code === 410) {
              resourceVersion = undefined; // expired: relist
              break;
            }
            const after = status.details?.retryAfterSeconds;
            if (typeof after === 'number' && after > 0) retryAfterMs = after * 1000;
            throw new FrameworkError(
              FrameworkErrorCode.Api,
              `watch error ${status.code ?? ''}: ${status.message ?? 'unknown'}`,
            );
          }
          const rv = ev.object.metadata?.resourceVersion;
          if (rv) resourceVersion = rv;
          backoff.reset();
          if (ev.type === 'BOOKMARK') yield { type: 'Bookmark', resourceVersion: rv ?? resourceVersion ?? '' };
          else if (ev.type === 'DELETED') yield { type: 'Delete', object: withKind(ev.object, res) };
          else yield { type: 'Apply', object: withKind(ev.object, res) };
        }
      } finally {
        cancelTimer();
      }
    } catch (e) {
      if (signal.aborted) return;
      if (isGone(e)) {
        resourceVersion = undefined;
        continue;
      }
      const retryInMs = retryAfterMs ?? backoff.take();
      yield { type: 'Error', error: e as Error, retryInMs };
      await clock.sleep(retryInMs, signal);
    }
  }
}

/**
 * The list, page by page, as InitPage events; returns its resourceVersion. A generator of its
 * own: a suspended generator keeps its locals, and the last page (with rv=0, the whole list, raw,
 * managedFields and all) would stay alive for as long as the watch runs.
 */
async function* listAll<T extends KubeObject>(
  client: KubeClient,
  res: ResourceRef,
  opts: { namespace?: string; labelSelector?: string; fieldSelector?: string; limit: number },
  fromCache: boolean | undefined,
): AsyncGenerator<WatcherEvent<T>, string> {
  let cont: string | undefined;
  let resourceVersion = '0';
  do {
    // items are decoded and applied as the response arrives, not after the whole body is in
    const page = client.listItems<T>(res, {
      ...opts,
      continue: cont,
      ...(fromCache && !cont ? { resourceVersion: '0' } : {}),
    });
    try {
      let next = await page.next();
      for (; !next.done; next = await page.next()) {
        const items = next.value;
        yield { type: 'InitPage', objects: items.every(hasKind) ? items : items.map((o) => withKind(o, res)) };
      }
      cont = next.value.continue || undefined;
      resourceVersion = next.value.resourceVersion ?? '0';
    } finally {
      await page.return(undefined as never); // a watcher stopped mid-list closes the response
    }
  } while (cont);
  return resourceVersion;
}

const hasKind = (obj: KubeObject): boolean => !!(obj.kind && obj.apiVersion);

/** Watch events carry kind/apiVersion; list items do not — fill them in so consumers see one shape. */
function withKind<T extends KubeObject>(obj: T, res: ResourceRef): T {
  if (obj.kind && obj.apiVersion) return obj;
  return { ...obj, kind: res.kind, apiVersion: res.group ? `${res.group}/${res.version}` : res.version };
}
