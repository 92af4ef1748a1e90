// A watch for the scale harness's long phases: it outlives the API server's watch timeout (30 min in
// kube-apiserver and the devcluster) by resuming from the last event it saw, and relists when that
// point has left the history (410). The GC phases time every delete and mark with it instead of
// listing every object again and again (a list of 50,000 CEPs every 5 s loaded the API server the
// phase measures, and its first-delete time was only as fine as the gap between two lists).
import { isGone, type KubeClient, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';

export interface ResumingWatch {
  /** Ends the watch; resolves once it has stopped. */
  stop(): Promise<void>;
}

/**
 * Watches `res` from `resourceVersion` until stopped, calling `seen` for each ADDED, MODIFIED and
 * DELETED event. After a 410 it lists, and reports each of `known` missing from the list as
 * DELETED (the time is then the list's, not the delete's).
 */
export function resumingWatch(
  client: KubeClient,
  res: ResourceRef,
  resourceVersion: string | undefined,
  known: () => Iterable<KubeObject>,
  seen: (type: string, obj: KubeObject) => void,
): ResumingWatch {
  const abort = new AbortController();
  let rv = resourceVersion;
  const running = (async () => {
    while (!abort.signal.aborted) {
      try {
        if (rv === undefined) {
          const now = await client.list<KubeObject>(res);
          const left = new Set(now.items.map((i) => `${i.metadata?.namespace ?? ''}/${i.metadata?.name ?? ''}`));
          for (const i of known())
            if (!left.has(`${i.metadata?.namespace ?? ''}/${i.metadata?.name ?? ''}`)) seen('DELETED', i);
          rv = now.metadata.resourceVersion;
        }
        for await (const ev of client.watch<KubeObject>(
          res,
          { resourceVersion: rv, allowWatchBookmarks: true },
          abort.signal,
        )) {
          if (ev.type === 'ERROR') {
            if ((ev.object as { code?: number }).code === 410) rv = undefined;
            break;
          }
          rv = ev.object.metadata?.resourceVersion ?? rv;
          if (ev.type !== 'BOOKMARK') seen(ev.type, ev.object);
        }
      } catch (e) {
        if (abort.signal.aborted) return;
        if (isGone(e)) rv = undefined;
        else await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();
  return {
    async stop() {
      abort.abort();
      await running;
    },
  };
}
