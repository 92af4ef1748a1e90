// The relay's bounded sort buffer: a min-heap by event time. Streams from different nodes arrive
// interleaved and slightly out of order; holding up to `capacity` responses and releasing the
// oldest restores time order within that window without waiting for the slowest node forever.
import type { GetFlowsResponse } from './types.js';
import { timestampToNs } from './types.js';

interface Item {
  ns: number;
  arrivedMs: number;
  seq: number;
  r: GetFlowsResponse;
}

export class SortBuffer {
  private readonly heap: Item[] = [];
  private seq = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.heap.length;
  }

  /** Adds a response; returns those released because the buffer is over capacity (oldest first). */
  push(r: GetFlowsResponse, nowMs: number): GetFlowsResponse[] {
    this.insert({ ns: timestampToNs(r.time ?? r.flow?.time), arrivedMs: nowMs, seq: this.seq++, r });
    const out: GetFlowsResponse[] = [];
    while (this.heap.length > this.capacity) out.push(this.pop()!.r);
    return out;
  }

  /** Releases, oldest first, everything while the oldest has waited at least `maxWaitMs`. */
  drainOlderThan(nowMs: number, maxWaitMs: number): GetFlowsResponse[] {
    const out: GetFlowsResponse[] = [];
    // the heap is ordered by event time, so release in that order while the head is stale enough;
    // a stale item deeper in the heap implies everything before it in time is at least as old here
    while (this.heap.length && this.heap.some((i) => nowMs - i.arrivedMs >= maxWaitMs)) out.push(this.pop()!.r);
    return out;
  }

  drainAll(): GetFlowsResponse[] {
    const out: GetFlowsResponse[] = [];
    while (this.heap.length) out.push(this.pop()!.r);
    return out;
  }

  private less(a: Item, b: Item): boolean {
    return a.ns < b.ns || (a.ns === b.ns && a.seq < b.seq);
  }

  private insert(it: Item): void {
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

  private pop(): Item | undefined {
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
