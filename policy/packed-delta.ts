// A delta as the cell store makes it: each entry packed as two numbers (lane, cell value; see
// cell-key.ts), MapEntry objects made on the first read of `added` / `removed` and then shared by
// every reader (the endpoints of one resolved policy get the same delta). A consumer that only
// needs to know which endpoints changed, or how many entries, never pays for the objects.
import { cellId, unpackEntry } from './cell-key.js';
import type { EntryDelta, MapEntry } from './entries.js';

export class PackedDelta implements EntryDelta {
  private a: readonly MapEntry[] | undefined;
  private r: readonly MapEntry[] | undefined;
  constructor(
    /** (lane, cell value) pairs written, and removed. */
    readonly addedKeys: Float64Array,
    readonly removedKeys: Float64Array,
  ) {}

  /** Entries added + removed. */
  get size(): number {
    return (this.addedKeys.length + this.removedKeys.length) / 2;
  }

  get added(): readonly MapEntry[] {
    return (this.a ??= unpack(this.addedKeys));
  }

  get removed(): readonly MapEntry[] {
    return (this.r ??= unpack(this.removedKeys));
  }
}

const EMPTY_F64 = new Float64Array(0);

export const EMPTY_DELTA = new PackedDelta(EMPTY_F64, EMPTY_F64);

/** Entries of a delta without making its objects. */
export function deltaSize(d: EntryDelta): number {
  return d instanceof PackedDelta ? d.size : d.added.length + d.removed.length;
}

function unpack(keys: Float64Array): MapEntry[] {
  const out: MapEntry[] = new Array<MapEntry>(keys.length / 2);
  for (let i = 0; i < keys.length; i += 2) out[i / 2] = unpackEntry(keys[i] ?? 0, keys[i + 1] ?? 0);
  return out;
}

/**
 * Several packed deltas of one endpoint netted into one: each cell as before the first and after
 * the last. Undefined when a cell cannot be named by one number (cell-key.ts `cellId`).
 */
export function netPackedDeltas(list: readonly PackedDelta[]): PackedDelta | undefined {
  const net = new Map<number, { lane: number; before: number; after: number }>();
  // Cell values before and after (−1 = none).
  const note = (keys: Float64Array, adding: boolean): boolean => {
    for (let i = 0; i < keys.length; i += 2) {
      const lane = keys[i] ?? 0;
      const v = keys[i + 1] ?? 0;
      const k = cellId(lane, v);
      if (k === undefined) return false;
      const have = net.get(k);
      if (have) have.after = adding ? v : -1;
      else net.set(k, adding ? { lane, before: -1, after: v } : { lane, before: v, after: -1 });
    }
    return true;
  };
  for (const d of list) if (!note(d.removedKeys, false) || !note(d.addedKeys, true)) return undefined;
  const added: number[] = [];
  const removed: number[] = [];
  for (const { lane, before, after } of net.values()) {
    if (before === after) continue;
    if (before >= 0) removed.push(lane, before);
    if (after >= 0) added.push(lane, after);
  }
  return new PackedDelta(Float64Array.from(added), Float64Array.from(removed));
}

/** Flushes visiting up to this many cells collect their pairs in the scratch buffer. */
const SMALL_BOUND = 2048;

/**
 * Collects the (lane, value) pairs of one side of one flush. A big delta (a broad selector: tens
 * of thousands of entries) goes into its own Float64Array sized for every cell the flush may
 * visit — no growth, nothing for the garbage collector to copy; a small one is collected in a
 * scratch buffer kept between flushes and copied out at its exact size.
 */
export class DeltaWriter {
  private readonly scratch = new Float64Array(2 * SMALL_BOUND);
  private buf: Float64Array = this.scratch;
  private own = false;
  private n = 0;
  private bound = 0;

  /** Starts a flush that visits at most `bound` cells. */
  reset(bound: number): void {
    this.n = 0;
    this.own = bound > SMALL_BOUND;
    this.buf = this.own ? EMPTY_F64 : this.scratch;
    this.bound = bound;
  }

  push(lane: number, v: number): void {
    if (this.own && this.n === 0) this.buf = new Float64Array(this.bound * 2);
    const a = this.buf;
    a[this.n] = lane;
    a[this.n + 1] = v;
    this.n += 2;
  }

  /** The pairs pushed since `reset` (never a view of the scratch buffer). */
  done(): Float64Array {
    const n = this.n;
    if (n === 0) return EMPTY_F64;
    return this.own ? this.buf.subarray(0, n) : this.scratch.slice(0, n);
  }
}
