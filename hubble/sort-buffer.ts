// The relay's bounded sort buffer. Streams from different nodes arrive interleaved; holding up to
// `capacity` responses and releasing the oldest restores time order within that window without
// waiting for the slowest node forever. Each node sends its flows in time order, so the buffer
// keeps one queue per node and merges their heads (a k-way merge by index: O(nodes) per release,
// nothing re-sorted); a response that arrives older than its node's last is put in place in that
// node's queue. Once every node still streaming has sent something at least as new as the oldest
// held response, nothing older can come: it is released at once (drainSettled); only a quiet
// node makes responses wait the drain timeout.
import type { GetFlowsResponse } from './types.js';
import { timestampToNs } from './types.js';

interface Item<T> {
  ns: number;
  arrivedMs: number;
  r: T;
}

/** A FIFO with a head index (no shift()), kept in time order. */
class Queue<T> {
  items: Item<T>[] = [];
  head = 0;
  get size(): number {
    return this.items.length - this.head;
  }
  peek(): Item<T> | undefined {
    return this.items[this.head];
  }
  add(it: Item<T>): void {
    const a = this.items;
    let i = a.length;
    // in order almost always: the new item goes last
    while (i > this.head && a[i - 1]!.ns > it.ns) i--;
    if (i === a.length) a.push(it);
    else a.splice(i, 0, it);
  }
  take(): Item<T> {
    const it = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as Item<T>;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return it;
  }
}

/** event time (ns) of a decoded response */
export const responseNs = (r: GetFlowsResponse): number => timestampToNs(r.time ?? r.flow?.time);

/** Holds responses (decoded, or raw bytes with their time: `timeOf` says) and releases them in time order. */
export class SortBuffer<T = GetFlowsResponse> {
  private readonly queues = new Map<string, Queue<T>>();
  private held = 0;
  /** the newest event time each source has sent */
  private readonly marks = new Map<string, number>();

  constructor(
    readonly capacity: number,
    private readonly timeOf: (r: T) => number = responseNs as unknown as (r: T) => number,
  ) {}

  get size(): number {
    return this.held;
  }

  /** Adds a response; returns those released because the buffer is over capacity (oldest first). */
  push(r: T, nowMs: number, source = ''): T[] {
    const ns = this.timeOf(r);
    if (ns > (this.marks.get(source) ?? -Infinity)) this.marks.set(source, ns);
    let q = this.queues.get(source);
    if (!q) this.queues.set(source, (q = new Queue()));
    q.add({ ns, arrivedMs: nowMs, r });
    this.held++;
    const out: T[] = [];
    while (this.held > this.capacity) out.push(this.pop()!.r);
    return out;
  }

  /** The queue whose head is oldest (ties: the first source seen). */
  private oldestQueue(): Queue<T> | undefined {
    let best: Queue<T> | undefined;
    for (const q of this.queues.values()) {
      const h = q.peek();
      if (h && (!best || h.ns < best.peek()!.ns)) best = q;
    }
    return best;
  }

  private pop(): Item<T> | undefined {
    const q = this.oldestQueue();
    if (!q) return undefined;
    this.held--;
    return q.take();
  }

  /** arrival time of the longest-waiting item (heads only: each queue's arrivals are in order, nearly) */
  private firstArrivalMs(): number {
    let first = Infinity;
    for (const q of this.queues.values()) {
      const h = q.peek();
      if (h && h.arrivedMs < first) first = h.arrivedMs;
    }
    return first;
  }

  /** Releases, oldest first, everything while the longest-waiting item has waited at least `maxWaitMs`. */
  drainOlderThan(nowMs: number, maxWaitMs: number): T[] {
    const out: T[] = [];
    while (this.held && nowMs - this.firstArrivalMs() >= maxWaitMs) out.push(this.pop()!.r);
    return out;
  }

  /** Releases, oldest first, what every one of `sources` has sent something at least as new as. */
  drainSettled(sources: Iterable<string>): T[] {
    let low = Infinity;
    for (const s of sources) low = Math.min(low, this.marks.get(s) ?? -Infinity);
    const out: T[] = [];
    for (;;) {
      const q = this.oldestQueue();
      if (!q || q.peek()!.ns > low) return out;
      this.held--;
      out.push(q.take().r);
    }
  }

  /** Forgets a source's mark (its stream ended; a new one starts from scratch). */
  forget(source: string): void {
    this.marks.delete(source);
  }

  /** When the longest-waiting item's `maxWaitMs` is up (undefined when empty). */
  nextDueMs(maxWaitMs: number): number | undefined {
    return this.held ? this.firstArrivalMs() + maxWaitMs : undefined;
  }

  drainAll(): T[] {
    const out: T[] = [];
    while (this.held) out.push(this.pop()!.r);
    return out;
  }
}
