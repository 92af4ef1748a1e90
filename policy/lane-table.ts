// One lane's cells as an open-addressing hash table in one Int32Array: four int32 per slot (peer
// identity, allow count, deny count, flags), linear probing, Fibonacci hashing, backward-shift
// deletion. A cluster has millions of cells, so this beats a JS Map: no per-cell object, no boxed
// number, and a lookup is a multiply and a probe. What the counts and flags mean is the cell
// store's; this file only finds, creates, removes and moves slots.

/** Slot layout (int32 offsets within a slot): the key, then three values the store owns. */
export const EMPTY = -1;
export const ALLOW = 1;
export const DENY = 2;
export const FLAGS = 3;
/** The smallest table: 8 slots. */
export const MIN_BITS = 3;

/** Fibonacci hashing: identities are dense runs of integers; this spreads them over the table. */
export const slotOf = (identity: number, shift: number): number => Math.imul(identity, 0x9e3779b1) >>> shift;

/**
 * Free tables by size (log2 slots), so that a policy added and removed again and again does not
 * churn typed-array memory (freed only when the garbage collector finds the old buffers). One
 * pool serves every store of an engine; it holds at most `budget` int32 in all.
 */
export class TablePool {
  private readonly free: Int32Array[][] = [];
  private pooled = 0;

  constructor(private readonly budget = 4 << 20) {}

  /** A table of 2^bits slots, every slot empty. */
  take(bits: number): Int32Array {
    const t = this.free[bits]?.pop();
    if (!t) return new Int32Array(4 << bits).fill(EMPTY);
    this.pooled -= t.length;
    return t.fill(EMPTY);
  }

  /** A table nobody uses any more (small ones are left to the garbage collector). */
  give(t: Int32Array): void {
    if (t.length < 4 << 6 || this.pooled + t.length > this.budget) return;
    const bits = Math.log2(t.length / 4);
    (this.free[bits] ??= []).push(t);
    this.pooled += t.length;
  }
}

/** A linear-probing hash table keyed by peer identity, kept under 70 % load. */
export class LaneTable {
  tab: Int32Array;
  /** Cells in use. */
  size = 0;
  /** Slots − 1 and 32 − log2(slots). */
  protected mask: number;
  protected shift: number;

  constructor(
    protected readonly pool: TablePool,
    expected: number,
  ) {
    let bits = MIN_BITS;
    while ((1 << bits) * 0.7 < expected) bits++;
    this.tab = pool.take(bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
  }

  /** Would `n` more cells push the table over its load limit? */
  protected full(n: number): boolean {
    return (this.size + n) * 10 > (this.mask + 1) * 7;
  }

  /** The slot (int32 offset) of a peer's cell, or −1. */
  find(identity: number): number {
    const tab = this.tab;
    const mask = this.mask;
    for (let i = slotOf(identity, this.shift); ; i = (i + 1) & mask) {
      const k = tab[i * 4];
      if (k === identity) return i * 4;
      if (k === EMPTY) return -1;
    }
  }

  /** The slot of a peer's cell, created (zero counts and flags) if missing. */
  slot(identity: number): number {
    if (this.full(1)) this.grow(this.size + 1);
    const tab = this.tab;
    const mask = this.mask;
    for (let i = slotOf(identity, this.shift); ; i = (i + 1) & mask) {
      const o = i * 4;
      const k = tab[o];
      if (k === identity) return o;
      if (k === EMPTY) {
        tab[o] = identity;
        tab[o + ALLOW] = 0;
        tab[o + DENY] = 0;
        tab[o + FLAGS] = 0;
        this.size++;
        return o;
      }
    }
  }

  /** Removes a peer's cell (backward-shift deletion: no tombstones). */
  remove(identity: number): void {
    const o = this.find(identity);
    if (o < 0) return;
    const tab = this.tab;
    const mask = this.mask;
    let hole = o / 4;
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const k = tab[j * 4] ?? EMPTY;
      if (k === EMPTY) break;
      const home = slotOf(k, this.shift);
      // Move j into the hole unless its home lies cyclically in (hole, j].
      if (hole <= j ? hole < home && home <= j : hole < home || home <= j) continue;
      tab.copyWithin(hole * 4, j * 4, j * 4 + 4);
      hole = j;
    }
    tab[hole * 4] = EMPTY;
    this.size--;
  }

  /** Rehashes into a table that holds `want` cells under the load limit. */
  protected grow(want: number): void {
    const old = this.tab;
    let bits = 33 - this.shift;
    while ((1 << bits) * 0.7 < want) bits++;
    this.tab = this.pool.take(bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
    const tab = this.tab;
    const mask = this.mask;
    for (let o = 0; o < old.length; o += 4) {
      const k = old[o] ?? EMPTY;
      if (k === EMPTY) continue;
      let i = slotOf(k, this.shift);
      while (tab[i * 4] !== EMPTY) i = (i + 1) & mask;
      const n = i * 4;
      tab[n] = k;
      tab[n + ALLOW] = old[o + ALLOW] ?? 0;
      tab[n + DENY] = old[o + DENY] ?? 0;
      tab[n + FLAGS] = old[o + FLAGS] ?? 0;
    }
    this.pool.give(old);
  }

  /** The table is no longer used: its array goes back to the pool (a minimal one replaces it). */
  release(): void {
    this.pool.give(this.tab);
    this.tab = this.pool.take(MIN_BITS);
    this.mask = (1 << MIN_BITS) - 1;
    this.shift = 32 - MIN_BITS;
    this.size = 0;
  }
}
