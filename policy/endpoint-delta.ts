// An endpoint's share of one apply(): the net change of its map, however many deltas of its
// resolved policy (and its own attach/detach) the batch produced; and the same for the endpoints
// of one resolved policy together.
import { entryText, type EntryDelta, type MapEntry } from './entries.js';
import { deltaSize, netPackedDeltas, PackedDelta } from './packed-delta.js';

/**
 * One endpoint's net map change in one apply(): remove `removed`, then write `added`. The entry
 * objects are made on the first read of `added` / `removed` (shared by the endpoints of one
 * resolved policy); `size` (entries added + removed) and `endpoint` cost nothing. `delta` is the
 * object itself: endpoints whose outputs hold the same one can be written as one group.
 */
export class EndpointDelta {
  readonly type = 'endpoint-delta' as const;
  constructor(
    readonly endpoint: number,
    readonly delta: EntryDelta,
  ) {}

  get added(): readonly MapEntry[] {
    return this.delta.added;
  }

  get removed(): readonly MapEntry[] {
    return this.delta.removed;
  }

  get size(): number {
    return deltaSize(this.delta);
  }
}

/**
 * The endpoints of one resolved policy that took the same net change in one apply (applyGrouped):
 * they stayed in it for the whole batch, so they share its `delta`, and its subject `identity`.
 */
export class EndpointGroupDelta {
  readonly type = 'endpoints-delta' as const;
  constructor(
    readonly endpoints: readonly number[],
    readonly identity: number,
    readonly delta: EntryDelta,
  ) {}
}

/** Several deltas of one endpoint netted into one: entries as before the first and after the last. */
export function netDeltas(list: readonly EntryDelta[]): EntryDelta {
  if (list.every((d) => d instanceof PackedDelta))
    return netPackedDeltas(list as readonly PackedDelta[]) ?? netObjects(list);
  return netObjects(list);
}

function netObjects(list: readonly EntryDelta[]): EntryDelta {
  const net = new Map<string, { before: MapEntry | undefined; after: MapEntry | undefined }>();
  for (const d of list) {
    for (const e of d.removed) {
      const t = entryText(e);
      const have = net.get(t);
      if (have) have.after = undefined;
      else net.set(t, { before: e, after: undefined });
    }
    for (const e of d.added) {
      const t = entryText(e);
      const have = net.get(t);
      if (have) have.after = e;
      else net.set(t, { before: undefined, after: e });
    }
  }
  const added: MapEntry[] = [];
  const removed: MapEntry[] = [];
  for (const { before, after } of net.values()) {
    if (before && after && before.verdict === after.verdict && before.l7 === after.l7) continue;
    if (before) removed.push(before);
    if (after) added.push(after);
  }
  return { added, removed };
}
