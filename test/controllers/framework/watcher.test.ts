// The watcher state machine against a scripted client (a mock confined to this unit test; the
// same behaviour against the real devcluster is in framework-devcluster.test.ts).
import { describe, expect, it } from '@jest/globals';
import type { KubeClient, ResourceRef } from '../../../controllers/framework/client.js';
import { ApiError, FrameworkError, FrameworkErrorCode } from '../../../controllers/framework/errors.js';
import type { KubeObject, WatchEventRaw } from '../../../controllers/framework/types.js';
import { watcher, type WatcherEvent } from '../../../controllers/framework/watcher.js';

const RES: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnetworkpolicies',
  kind: 'CiliumNetworkPolicy',
  namespaced: true,
};
const o = (name: string, rv: string): KubeObject => ({ metadata: { namespace: 'd', name, resourceVersion: rv } });

type Step =
  | { list: { items: KubeObject[]; rv: string; cont?: string } }
  | { watch: (WatchEventRaw<KubeObject> | Error)[] }
  | { watchFails: Error }
  | { listFails: Error };

function scripted(steps: Step[]) {
  const calls: string[] = [];
  const client = {
    async *listItems(_r: ResourceRef, opts: { continue?: string; resourceVersion?: string }) {
      const s = steps.shift();
      calls.push(
        `list${opts.continue ? ' cont=' + opts.continue : ''}${opts.resourceVersion ? ' rv=' + opts.resourceVersion : ''}`,
      );
      if (s && 'listFails' in s) throw s.listFails;
      if (!s || !('list' in s)) throw new Error(`unexpected list (${JSON.stringify(s)})`);
      if (s.list.items.length) yield s.list.items;
      return { resourceVersion: s.list.rv, continue: s.list.cont };
    },
    async *watch(
      _r: ResourceRef,
      opts: { resourceVersion?: string; allowWatchBookmarks?: boolean },
      signal: AbortSignal,
    ) {
      const s = steps.shift();
      calls.push(`watch rv=${opts.resourceVersion} bookmarks=${opts.allowWatchBookmarks}`);
      // Out of script: a silent stream that ends only when aborted, as a real one would.
      if (!s) return void (await new Promise((r) => signal.addEventListener('abort', r, { once: true })));
      if ('watchFails' in s) throw s.watchFails;
      if (!('watch' in s)) throw new Error('unexpected watch');
      for (const ev of s.watch) {
        if (ev instanceof Error) throw ev;
        yield ev;
      }
    },
  };
  return { client: client as unknown as KubeClient, calls };
}

async function take(gen: AsyncGenerator<WatcherEvent<KubeObject>>, n: number) {
  const out: string[] = [];
  while (out.length < n) {
    const { value: ev, done } = await gen.next();
    if (done) break;
    out.push(
      ev.type === 'InitPage'
        ? `InitPage:${ev.objects.map((x) => `${x.metadata?.name}@${x.metadata?.resourceVersion}`).join(',')}`
        : ev.type === 'InitApply' || ev.type === 'Apply' || ev.type === 'Delete'
          ? `${ev.type}:${ev.object.metadata?.name}@${ev.object.metadata?.resourceVersion}`
          : ev.type === 'InitDone' || ev.type === 'Bookmark'
            ? `${ev.type}:${ev.resourceVersion}`
            : ev.type === 'Error'
              ? `Error:${ev.error.message}`
              : ev.type,
    );
  }
  return out;
}

describe('watcher', () => {
  it('lists in pages (the first list from the cache, rv=0), watches from the list RV with bookmarks, relists on 410, retries errors', async () => {
    const { client, calls } = scripted([
      { list: { items: [o('a', '1')], rv: '10', cont: 'p2' } },
      { list: { items: [o('b', '2')], rv: '10' } },
      {
        watch: [
          { type: 'ADDED', object: o('c', '11') },
          { type: 'BOOKMARK', object: { metadata: { resourceVersion: '15' } } },
          { type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old' } as KubeObject },
        ],
      },
      { list: { items: [o('c', '11')], rv: '20' } },
      { watchFails: new ApiError('KTS_ERR_API', 500, 'InternalError', 'boom') },
      { watch: [{ type: 'DELETED', object: o('c', '21') }] },
    ]);
    const ac = new AbortController();
    const gen = watcher(client, RES, { backoffInitialMs: 1, backoffMaxMs: 2 }, ac.signal);
    const events = await take(gen, 11);
    ac.abort();
    await gen.return(undefined);
    expect(events).toEqual([
      'Init',
      'InitPage:a@1',
      'InitPage:b@2',
      'InitDone:10',
      'Apply:c@11',
      'Bookmark:15',
      'Init',
      'InitPage:c@11',
      'InitDone:20',
      'Error:boom',
      'Delete:c@21',
    ]);
    // rv=0 on the first page of the first list only; the relist after 410 asks for the latest state
    expect(calls.slice(0, 6)).toEqual([
      'list rv=0',
      'list cont=p2',
      'watch rv=10 bookmarks=true',
      'list',
      'watch rv=20 bookmarks=true',
      'watch rv=20 bookmarks=true',
    ]);
  });

  it("hands a page to its consumer as one InitPage, in order; items without kind get the resource's, items with it are passed as they are", async () => {
    const bare = [o('a', '1'), o('b', '2'), o('c', '3')];
    const kinded = [o('d', '4'), o('e', '5')].map((x) => ({
      ...x,
      kind: 'CiliumNetworkPolicy',
      apiVersion: 'cilium.io/v2',
    }));
    const { client } = scripted([
      { list: { items: bare, rv: '10', cont: 'p2' } },
      { list: { items: kinded, rv: '10' } },
    ]);
    const ac = new AbortController();
    const gen = watcher(client, RES, {}, ac.signal);
    const events: WatcherEvent<KubeObject>[] = [];
    for (let i = 0; i < 4; i++) events.push((await gen.next()).value as WatcherEvent<KubeObject>);
    ac.abort();
    await gen.return(undefined);
    expect(events.map((e) => e.type)).toEqual(['Init', 'InitPage', 'InitPage', 'InitDone']);
    const [p1, p2] = events.slice(1, 3) as { objects: KubeObject[] }[];
    expect(p1!.objects.map((x) => [x.metadata?.name, x.kind, x.apiVersion])).toEqual([
      ['a', 'CiliumNetworkPolicy', 'cilium.io/v2'],
      ['b', 'CiliumNetworkPolicy', 'cilium.io/v2'],
      ['c', 'CiliumNetworkPolicy', 'cilium.io/v2'],
    ]);
    expect(bare[0]!.kind).toBeUndefined(); // the client's objects are not written to
    expect(p2!.objects).toBe(kinded);
  });

  it('after a whole list (rv=0) fails, lists in pages: a list too large to arrive in time is not asked for again', async () => {
    const timeout = new FrameworkError(FrameworkErrorCode.Timeout, 'GET ciliumendpoints: no answer within 30000 ms');
    const { client, calls } = scripted([
      { listFails: timeout },
      { list: { items: [o('a', '1')], rv: '10', cont: 'p2' } },
      { list: { items: [o('b', '2')], rv: '10' } },
      { watch: [{ type: 'ADDED', object: o('c', '11') }] },
    ]);
    const ac = new AbortController();
    const gen = watcher(client, RES, { backoffInitialMs: 1, backoffMaxMs: 2 }, ac.signal);
    const events = await take(gen, 7);
    ac.abort();
    await gen.return(undefined);
    expect(events).toEqual([
      'Init',
      `Error:${timeout.message}`,
      'Init',
      'InitPage:a@1',
      'InitPage:b@2',
      'InitDone:10',
      'Apply:c@11',
    ]);
    expect(calls.slice(0, 4)).toEqual(['list rv=0', 'list', 'list cont=p2', 'watch rv=10 bookmarks=true']);
  });

  it("retries a watch ended with 504 Too large resource version after the server's retryAfterSeconds, from the same RV", async () => {
    const tooLarge = {
      kind: 'Status',
      code: 504,
      reason: 'Timeout',
      message: 'Timeout: Too large resource version: 11, current: 10',
      details: { causes: [{ reason: 'ResourceVersionTooLarge' }], retryAfterSeconds: 1 },
    } as unknown as KubeObject;
    const { client, calls } = scripted([
      { list: { items: [o('a', '1')], rv: '11' } },
      { watch: [{ type: 'ERROR', object: tooLarge }] },
      { watch: [{ type: 'ADDED', object: o('b', '12') }] },
    ]);
    const ac = new AbortController();
    // A backoff retry would come after 10-30 s: the server's 1 s must win.
    const gen = watcher(client, RES, { backoffInitialMs: 20_000, backoffMaxMs: 30_000 }, ac.signal);
    const seen: WatcherEvent<KubeObject>[] = [];
    const t0 = performance.now();
    while (seen.length < 5) seen.push((await gen.next()).value as WatcherEvent<KubeObject>);
    const took = performance.now() - t0;
    ac.abort();
    await gen.return(undefined);
    expect(seen.map((e) => e.type)).toEqual(['Init', 'InitPage', 'InitDone', 'Error', 'Apply']);
    expect(seen[3]).toMatchObject({ type: 'Error', retryInMs: 1000 });
    expect(took).toBeLessThan(8000);
    expect(calls).toEqual(['list rv=0', 'watch rv=11 bookmarks=true', 'watch rv=11 bookmarks=true']);
  });

  it('restarts a watch that stays silent past the inactivity timeout, from the last RV', async () => {
    const { client, calls } = scripted([
      { list: { items: [], rv: '5' } },
      { watch: [{ type: 'ADDED', object: o('x', '6') }] },
    ]);
    const ac = new AbortController();
    const gen = watcher(client, RES, { inactivityTimeoutMs: 50 }, ac.signal);
    expect(await take(gen, 3)).toEqual(['Init', 'InitDone:5', 'Apply:x@6']);
    // The scripted stream ended; the next watch hangs until the inactivity timer aborts it.
    const next = gen.next();
    await new Promise((r) => setTimeout(r, 200));
    ac.abort();
    await next;
    // Two silent watches were cut by the 50 ms timer and re-established from rv 6.
    expect(calls.filter((c) => c === 'watch rv=6 bookmarks=true').length).toBeGreaterThanOrEqual(2);
  });
});
