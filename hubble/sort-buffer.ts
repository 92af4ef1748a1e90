// The relay's bounded sort buffer: a min-heap by event time. Streams from different nodes arrive
// interleaved and slightly out of order; holding up to `capacity` responses and releasing the
// oldest restores time order within that window without waiting for the slowest node forever.
// Each node sends its flows in time order, so once every node still streaming has sent something
// at least as new as the oldest held flow, nothing older can come: it is released at once
// (drainSettled); only a quiet node makes flows wait the drain timeout.
import type { GetFlowsResponse } from './types.js';
import { timestampToNs } from './types.js';

interface Item<T> {
  ns: number;
  arrivedMs: number;
  seq: number;
  r: T;
}

/** event time (ns) of a decoded response */
export const responseNs = (r: GetFlowsResponse): number => timestampToNs(r.time ?? r.flow?.time);

/** Holds responses (decoded, or raw bytes with their time: `timeOf` says) and releases them in time order. */
export class SortBuffer<T = GetFlowsResponse> {
  private readonly heap: Item<T>[] = [];
  private seq = 0;
  /** the newest event time each source has sent */
  private readonly marks = new Map<string, number>();

  constructor(
    readonly capacity: number,
    private readonly timeOf: (r: T) => number = responseNs as unknown as (r: T) => number,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** Adds a response; returns those released because the buffer is over capacity (oldest first). */
  push(r: T, nowMs: number, source?: string): T[] {
    const ns = this.timeOf(r);
    if (source !== undefined && ns > (this.marks.get(source) ?? -Infinity)) this.marks.set(source, ns);
    this.insert({ ns, arrivedMs: nowMs, seq: this.seq++, r });
    const out: T[] = [];
    while (this.heap.length > this.capacity) out.push(this.pop()!.r);
    return out;
  }

  /** Releases, oldest first, everything while the oldest has waited at least `maxWaitMs`. */
  drainOlderThan(nowMs: number, maxWaitMs: number): T[] {
    const out: T[] = [];
    // the heap is ordered by event time, so release in that order while the head is stale enough;
    // a stale item deeper in the heap implies everything before it in time is at least as old here
    while (this.heap.length && this.heap.some((i) => nowMs - i.arrivedMs >= maxWaitMs)) out.push(this.pop()!.r);
    return out;
  }

  /** Releases, oldest first, what every one of `sources` has sent something at least as new as. */
  drainSettled(sources: Iterable<string>): T[] {
    let low = Infinity;
    for (const s of sources) low = Math.min(low, this.marks.get(s) ?? -Infinity);
    const out: T[] = [];
    while (this.heap.length && this.heap[0]!.ns <= low) out.push(this.pop()!.r);
    return out;
  }

  /** Forgets a source's mark (its stream ended; a new one starts from scratch). */
  forget(source: string): void {
    this.marks.delete(source);
  }

  /** When the longest-waiting item's `maxWaitMs` is up (undefined when empty). */
  nextDueMs(maxWaitMs: number): number | undefined {
    let first = Infinity;
    for (const i of this.heap) first = Math.min(first, i.arrivedMs);
    return this.heap.length ? first + maxWaitMs : undefined;
  }

  drainAll(): T[] {
    const out: T[] = [];
    while (this.heap.length) out.push(this.pop()!.r);
    return out;
  }

  private less(a: Item<T>, b: Item<T>): boolean {
    return a.ns < b.ns || (a.ns === b.ns && a.seq < b.seq);
  }

  private insert(it: Item<T>): void {
    const h = this.heap;
    h.push(it);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Item<T> | undefined {
    const h = this.heap;
    if (!h.length) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
