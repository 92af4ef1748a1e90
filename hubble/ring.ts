// The flow ring: a fixed number of the latest events, overwritten oldest first. Capacity is
// 2^n − 1 as upstream's (Capacity1 … Capacity65535, pkg/hubble/container/ring.go). Readers hold a sequence
// number instead of a pointer, so a reader that the writer laps learns exactly how many events it
// missed and can say so (a HUBBLE_RING_BUFFER LostEvent) rather than silently skipping them.
import { HubbleError, HubbleErrorCode } from './errors.js';
import type { Flow, LostEvent } from './types.js';

export interface RingEntry {
  /** position in the stream of everything ever written (0-based) */
  seq: number;
  /** event time in ns since the epoch */
  timeNs: number;
  flow?: Flow;
  lost?: LostEvent;
}

export type ReadResult = { entry: RingEntry } | { lost: number; next: number } | undefined;

export const MAX_RING_CAPACITY = 65535;

export function isValidCapacity(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_RING_CAPACITY && ((n + 1) & n) === 0;
}

export class FlowRing {
  // payloads and times in parallel arrays: a RingEntry is made when read, so the ring keeps no
  // extra object per flow alive (old-generation garbage once overwritten)
  private readonly buf: (Flow | LostEvent | undefined)[];
  private readonly isLost: Uint8Array;
  private readonly times: Float64Array;
  /** a flow's framed GetFlowsResponse bytes, made when it is first sent (hubble/wire.ts) */
  private readonly wire: (Buffer | undefined)[];
  private writeSeq = 0;
  private readonly waiters = new Set<() => void>();

  constructor(readonly capacity: number) {
    if (!isValidCapacity(capacity)) {
      throw new HubbleError(
        HubbleErrorCode.BadCapacity,
        `ring capacity ${capacity} is not 2^n-1 between 1 and ${MAX_RING_CAPACITY} (e.g. 4095)`,
      );
    }
    this.buf = new Array(capacity);
    this.isLost = new Uint8Array(capacity);
    this.times = new Float64Array(capacity);
    this.wire = new Array(capacity);
  }

  /** events ever written */
  get seen(): number {
    return this.writeSeq;
  }
  /** events held now */
  get length(): number {
    return Math.min(this.writeSeq, this.capacity);
  }
  /** sequence number of the oldest event still held */
  get oldest(): number {
    return Math.max(0, this.writeSeq - this.capacity);
  }
  /** sequence number the next write gets */
  get next(): number {
    return this.writeSeq;
  }

  write(timeNs: number, payload: { flow: Flow } | { lost: LostEvent }): void {
    const at = this.writeSeq % this.capacity;
    if ('flow' in payload) {
      this.buf[at] = payload.flow;
      this.isLost[at] = 0;
    } else {
      this.buf[at] = payload.lost;
      this.isLost[at] = 1;
    }
    this.times[at] = timeNs;
    this.wire[at] = undefined;
    this.writeSeq++;
    if (this.waiters.size) for (const w of [...this.waiters]) w();
  }

  private entryAt(seq: number): RingEntry {
    const at = seq % this.capacity;
    return this.isLost[at]
      ? { seq, timeNs: this.times[at]!, lost: this.buf[at] as LostEvent }
      : { seq, timeNs: this.times[at]!, flow: this.buf[at] as Flow };
  }

  /**
   * The entry at `seq`; `{lost, next}` when it was overwritten before being read (`next` is the
   * oldest still held); undefined when nothing has been written there yet.
   */
  read(seq: number): ReadResult {
    if (seq >= this.writeSeq) return undefined;
    const oldest = this.oldest;
    if (seq < oldest) return { lost: oldest - seq, next: oldest };
    return { entry: this.entryAt(seq) };
  }

  /**
   * The bytes `make` gives for the flow at `seq`, made once: kept with the flow while the ring
   * holds it (undefined is never cached; a flow already overwritten is not cached either).
   */
  wireOf(seq: number, flow: Flow, make: (f: Flow) => Buffer): Buffer {
    const at = seq % this.capacity;
    if (seq < this.oldest || seq >= this.writeSeq || this.buf[at] !== flow) return make(flow);
    return (this.wire[at] ??= make(flow));
  }

  /** Calls `wake` after every write until the returned function is called. */
  subscribe(wake: () => void): () => void {
    this.waiters.add(wake);
    return () => this.waiters.delete(wake);
  }

  /** Oldest to newest. */
  *entries(from = this.oldest): Generator<RingEntry> {
    for (let s = Math.max(from, this.oldest); s < this.writeSeq; s++) yield this.entryAt(s);
  }

  /** Newest to oldest. */
  *reversed(): Generator<RingEntry> {
    for (let s = this.writeSeq - 1; s >= this.oldest; s--) yield this.entryAt(s);
  }
}
