// A whole (unpaged) JSON list written as etcd's pages are read: the first byte leaves once the first
// page is in, each object is encoded once into its page's chunk, and the server never holds the
// whole list or its text. Built whole, a 10,000-CiliumEndpoint list kept an agent waiting 8.7 s for
// its first byte at load 18 (the client's request timeout counts silence), and the list's objects,
// their JSON and the response's string all lived at once.
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { CachedObject } from './cache-state.js';
import type { ListOptions, Objects } from './objects.js';
import { apiVersionOf, type ResourceInfo } from './resources.js';
import type { KubeObject } from './store.js';

/** How much JSON one write of a list from the cache carries (then the response's backpressure). */
const CHUNK_CHARS = 1 << 20;

/** Waits until `res` can take more, or is gone (a client that left must not hold the read). */
async function drained(res: ServerResponse): Promise<void> {
  if (!res.writableNeedDrain || res.destroyed) return;
  const ac = new AbortController();
  try {
    await Promise.race([once(res, 'drain', { signal: ac.signal }), once(res, 'close', { signal: ac.signal })]);
  } finally {
    ac.abort();
  }
}

function listHead(r: ResourceInfo, resourceVersion: string): string {
  const head = { kind: r.listKind, apiVersion: apiVersionOf(r), metadata: { resourceVersion } };
  return `${JSON.stringify(head).slice(0, -1)},"items":[`;
}

/**
 * Serves a snapshot of the watch cache's state (`CacheState.select`) at `resourceVersion` as a whole
 * JSON list: each object's stored text is written as it is (a CRD with defaults has them applied
 * first, as on every read), in chunks of about 1 MiB with the response's backpressure between them.
 */
export async function streamCachedList(
  res: ServerResponse,
  r: ResourceInfo,
  items: CachedObject[],
  resourceVersion: string,
): Promise<void> {
  const defaults = r.schema?.hasDefaults ? r.schema : undefined;
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  let chunk = listHead(r, resourceVersion);
  for (let i = 0; i < items.length; i++) {
    let json = (items[i] as CachedObject).json;
    if (defaults) {
      const obj = JSON.parse(json) as KubeObject;
      defaults.applyDefaults(obj);
      json = JSON.stringify(obj);
    }
    chunk += i ? `,${json}` : json;
    if (chunk.length >= CHUNK_CHARS) {
      if (res.destroyed) return;
      res.write(chunk);
      chunk = '';
      await drained(res);
    }
  }
  res.end(`${chunk}]}`);
}

/**
 * Serves `objects.listPages` as `{"kind","apiVersion","metadata":{"resourceVersion"},"items":[…]}`
 * with chunked encoding. An error before the first byte is thrown (a normal Status answer); after
 * it, the response is cut, so the client sees a broken body rather than a short list.
 */
export async function streamList(
  res: ServerResponse,
  r: ResourceInfo,
  objects: Objects,
  ns: string | undefined,
  o: ListOptions,
): Promise<void> {
  let first = true;
  let started = false;
  try {
    await objects.listPages(r, ns, o, async (items, resourceVersion) => {
      let chunk = '';
      if (!started) {
        started = true;
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
        chunk = listHead(r, resourceVersion);
      }
      for (const obj of items) {
        chunk += first ? JSON.stringify(obj) : `,${JSON.stringify(obj)}`;
        first = false;
      }
      if (res.destroyed) throw new Error('the client went away');
      res.write(chunk);
      await drained(res);
    });
  } catch (e) {
    if (!started) throw e;
    res.destroy(e as Error);
    return;
  }
  res.end(']}');
}
