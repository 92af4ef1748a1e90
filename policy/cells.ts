// The contribution store of one resolved policy. For every map key (direction, peer identity,
// protocol, port prefix) it counts the rule × peer × port tuples that allow or deny it and
// remembers what the map holds. A cluster has millions of keys, so each lane (one L4 key in one
// direction) is an open-addressing hash table in one Int32Array — peer identity, allow count,
// deny count, flags — rather than a JS Map: no per-cell object, no boxed number, and a lookup
// is a multiply and a probe.
import { covers, type EntryDelta, type L4Key, type MapEntry } from './entries.js';
import type { PortPrefix } from './ports.js';
import type { Direction } from './rule-model.js';

/** Protocols a key can carry (ports.ts yields no other), as a 3-bit index. */
const PROTOS = [0, 1, 6, 17, 58, 132] as const;
const PROTO_INDEX = new Map<number, number>(PROTOS.map((p, i) => [p, i]));

/** An L4 key as 24 bits: protocol index (3), port (16), prefix length (5). */
export function l4Compact(proto: number, port: number, len: number): number {
  return ((PROTO_INDEX.get(proto) ?? 0) << 21) | (port << 5) | len;
}

/** L4 keys and port prefixes are interned: millions of entries share a few thousand of them. */
const interned = new Map<number, { key: L4Key; prefix: PortPrefix }>();
function internOf(c: number): { key: L4Key; prefix: PortPrefix } {
  let i = interned.get(c);
  if (!i) {
    const port = (c >>> 5) & 0xffff;
    const len = c & 31;
    i = { key: { proto: PROTOS[c >>> 21] ?? 0, port, len }, prefix: { port, prefixLen: len } };
    interned.set(c, i);
  }
  return i;
}

/** A lane number: one L4 key in one direction (`l4 * 2 + egress`). */
const laneOf = (direction: Direction, c: number): number => c * 2 + (direction === 'egress' ? 1 : 0);

// Slot layout (4 int32 per slot): peer identity (EMPTY = free), allow count, deny count, flags.
const EMPTY = -1;
const ALLOW = 1;
const DENY = 2;
const FLAGS = 3;
/**
 * Flags: the map state (0 = no entry, 1 = allow, 2 = deny) in bits 0-1; DIRTY = to visit at the
 * next flush; DENIED = the deny count was > 0 at the last flush (what deny precedence reads).
 */
const STATE_MASK = 3;
const DIRTY = 4;
const DENIED = 8;
const MIN_BITS = 3;

/**
 * Free tables by size (log2 slots), so that a policy added and removed again and again does not
 * churn typed-array memory (freed only when the garbage collector finds the old buffers): at most
 * POOL_BUDGET int32 in all.
 */
const POOL: Int32Array[][] = [];
const POOL_BUDGET = 4 << 20;
let pooled = 0;

function takeTable(bits: number): Int32Array {
  const t = POOL[bits]?.pop();
  if (!t) return new Int32Array(4 << bits).fill(EMPTY);
  pooled -= t.length;
  return t.fill(EMPTY);
}

function giveTable(t: Int32Array): void {
  if (t.length < 4 << 6 || pooled + t.length > POOL_BUDGET) return;
  const bits = Math.log2(t.length / 4);
  (POOL[bits] ??= []).push(t);
  pooled += t.length;
}

/** Fibonacci hashing: identities are dense runs of integers; this spreads them over the table. */
const slotOf = (identity: number, shift: number): number => Math.imul(identity, 0x9e3779b1) >>> shift;

/** One lane's cells: a linear-probing hash table keyed by peer identity. */
class Lane {
  tab: Int32Array;
  size = 0;
  /** Slots − 1 and 32 − log2(slots). */
  private mask: number;
  private shift: number;
  /** Peers whose cell changed since the last flush (each once: the DIRTY flag dedups). */
  touched: number[] = [];
  /** Entries of `touched` in use (the array keeps its storage between flushes). */
  nTouched = 0;
  /** Every cell is to be visited (the lane was empty when the batch began, or zeroAll). */
  scan = false;
  /** Queued in the store's dirty list. */
  queued = false;
  /** A deny count changed in this lane since the last flush. */
  denyDirty = false;
  /** Cells with DENIED set. */
  deniedCells = 0;
  /** The lanes with denies that cover this one, as of the store's `coverEpoch`. */
  coverers: readonly Lane[] = NO_LANES;
  coverersEpoch = -1;
  /** What entries of this lane look like (shared by all of them). */
  readonly direction: Direction;
  readonly protocol: number;
  readonly prefix: PortPrefix;

  constructor(
    readonly lane: number,
    expected: number,
  ) {
    let bits = MIN_BITS;
    while ((1 << bits) * 0.7 < expected) bits++;
    this.tab = takeTable(bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
    const c = lane >>> 1;
    this.direction = (lane & 1) === 1 ? 'egress' : 'ingress';
    this.protocol = PROTOS[c >>> 21] ?? 0;
    this.prefix = internOf(c).prefix;
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

  /** The slot of a peer's cell, created (zero counts, no entry) if missing. */
  slot(identity: number): number {
    if ((this.size + 1) * 10 > (this.mask + 1) * 7) this.grow(this.size + 1);
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

  /**
   * Adds `sign` to one count (ALLOW or DENY) of many peers' cells, creating them as needed, and
   * marks them to visit: the hot loop of a broad selector (one probe per peer, no call).
   */
  addAll(identities: Iterable<number>, n: number, field: number, sign: number): void {
    if (sign > 0 && (this.size + n) * 10 > (this.mask + 1) * 7) this.grow(this.size + n);
    // Touching a good part of the lane: scanning it at flush is cheaper than listing peers.
    if (!this.scan && (this.nTouched + n) * 4 > this.size) this.scan = true;
    let tab = this.tab;
    let mask = this.mask;
    let shift = this.shift;
    const scan = this.scan;
    const touched = this.touched;
    for (const id of identities) {
      let o = slotOf(id, shift) * 4;
      let k = tab[o];
      while (k !== id && k !== EMPTY) {
        o = (o + 4) & (mask * 4 + 3);
        k = tab[o];
      }
      if (k === EMPTY) {
        if ((this.size + 1) * 10 > (mask + 1) * 7) {
          // A new cell while removing (not in a consistent store): the general path.
          this.bumpOne(id, field, sign);
          tab = this.tab;
          mask = this.mask;
          shift = this.shift;
          continue;
        }
        tab[o] = id;
        tab[o + ALLOW] = 0;
        tab[o + DENY] = 0;
        tab[o + FLAGS] = 0;
        this.size++;
      }
      tab[o + field] = (tab[o + field] ?? 0) + sign;
      const f = tab[o + FLAGS] ?? 0;
      if ((f & DIRTY) === 0) {
        tab[o + FLAGS] = f | DIRTY;
        if (!scan) touched[this.nTouched++] = id;
      }
    }
  }

  /** One cell's count (the general path, may grow the table). */
  bumpOne(identity: number, field: number, sign: number): void {
    const o = this.slot(identity);
    const tab = this.tab;
    tab[o + field] = (tab[o + field] ?? 0) + sign;
    const f = tab[o + FLAGS] ?? 0;
    if ((f & DIRTY) === 0) {
      tab[o + FLAGS] = f | DIRTY;
      if (!this.scan) this.touched[this.nTouched++] = identity;
    }
  }

  /** Rehashes into a table that holds `want` cells under the load limit. */
  private grow(want: number): void {
    const old = this.tab;
    let bits = 33 - this.shift;
    while ((1 << bits) * 0.7 < want) bits++;
    this.tab = takeTable(bits);
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
    giveTable(old);
  }

  /** The lane is gone from its store: its table goes back to the pool (the lane is never used again). */
  release(): void {
    giveTable(this.tab);
    this.tab = takeTable(MIN_BITS);
    this.mask = (1 << MIN_BITS) - 1;
    this.shift = 32 - MIN_BITS;
    this.size = 0;
  }

  entryOf(identity: number, state: number): MapEntry {
    return {
      identity,
      direction: this.direction,
      protocol: this.protocol,
      portPrefix: this.prefix,
      verdict: state === 2 ? 'deny' : 'allow',
    };
  }
}

/**
 * A delta as the cell store makes it: each entry packed as two numbers (lane, identity × 4 +
 * state), MapEntry objects made on the first read of `added` / `removed` (and then shared by
 * every reader — the endpoints of one resolved policy get the same delta). A consumer that only
 * needs to know which endpoints changed, or how many entries, never pays for the objects.
 */
export class PackedDelta implements EntryDelta {
  private a: readonly MapEntry[] | undefined;
  private r: readonly MapEntry[] | undefined;
  constructor(
    /** (lane, identity × 4 + state) pairs written, and removed. */
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

export const EMPTY_DELTA = new PackedDelta(new Float64Array(0), new Float64Array(0));

/** Entries of a delta without making its objects. */
export function deltaSize(d: EntryDelta): number {
  return d instanceof PackedDelta ? d.size : d.added.length + d.removed.length;
}

/** The MapEntry of a packed (lane, identity × 4 + state). */
function unpackEntry(lane: number, v: number): MapEntry {
  const state = v % 4;
  const c = lane >>> 1;
  return {
    identity: (v - state) / 4,
    direction: (lane & 1) === 1 ? 'egress' : 'ingress',
    protocol: PROTOS[c >>> 21] ?? 0,
    portPrefix: internOf(c).prefix,
    verdict: state === 2 ? 'deny' : 'allow',
  };
}

function unpack(keys: Float64Array): MapEntry[] {
  const out: MapEntry[] = new Array<MapEntry>(keys.length / 2);
  for (let i = 0; i < keys.length; i += 2) out[i / 2] = unpackEntry(keys[i] ?? 0, keys[i + 1] ?? 0);
  return out;
}

/**
 * The (lane, value) pairs one flush writes. A big delta (a broad selector: tens of thousands of
 * entries) goes into its own Float64Array sized for every cell the flush may visit — no growth,
 * nothing for the garbage collector to copy; a small one is collected in a scratch buffer shared
 * by all flushes (they never overlap) and copied out into a plain array of its exact size.
 */
class Pairs {
  private readonly scratch = new Float64Array(2 * SMALL_BOUND);
  private buf: Float64Array = this.scratch;
  private own = false;
  private n = 0;

  /** Starts a flush that visits at most `bound` cells. */
  reset(bound: number): void {
    this.n = 0;
    this.own = bound > SMALL_BOUND;
    this.buf = this.own ? EMPTY_F64 : this.scratch;
    this.bound = bound;
  }

  private bound = 0;

  push(lane: number, v: number): void {
    if (this.own && this.n === 0) this.buf = new Float64Array(this.bound * 2);
    const a = this.buf;
    a[this.n] = lane;
    a[this.n + 1] = v;
    this.n += 2;
  }

  done(): Float64Array {
    const n = this.n;
    if (n === 0) return EMPTY_F64;
    return this.own ? this.buf.subarray(0, n) : this.scratch.slice(0, n);
  }
}

const EMPTY_F64 = new Float64Array(0);
/** Flushes visiting up to this many cells use the shared scratch buffers. */
const SMALL_BOUND = 2048;
const ADDED = new Pairs();
const REMOVED = new Pairs();

const NO_LANES: readonly Lane[] = [];
/** Scratch list of cells that lost their last contribution during one lane's visit. */
const DEAD: number[] = [];

/** Does a deny in one of these lanes (keys covering the cell's) hold for this peer? */
function coveredByDeny(coverers: readonly Lane[], identity: number): boolean {
  for (let j = 0; j < coverers.length; j++) {
    const l = coverers[j] as Lane;
    const o = l.find(identity);
    if (o >= 0 && ((l.tab[o + FLAGS] ?? 0) & DENIED) !== 0) return true;
  }
  return false;
}

export class CellStore {
  private readonly lanes = new Map<number, Lane>();
  /** Lanes with cells to visit at the next flush. */
  private dirtyLanes: (Lane | undefined)[] = [];
  /** Entries of `dirtyLanes` in use (its storage is kept between flushes). */
  private nDirty = 0;
  /** Every L4 key this store has seen (a few hundred): candidates when a deny appears. */
  private readonly seen = new Set<number>();
  /** L4 key → the other seen keys it covers, and the other seen keys that cover it; reset whenever `seen` grows. */
  private coveredBy = new Map<number, number[]>();
  private coverersOf = new Map<number, number[]>();
  /** Bumped when the lanes with denies, or the keys seen, change: invalidates Lane.coverers. */
  private coverEpoch = 0;
  /** Cells with DENIED set, in every lane (0: no deny precedence to check at all). */
  private deniedCells = 0;
  /** Every cell is being recomputed (zeroAll): no need to queue cells a deny covers. */
  private all = false;
  /** Entries in the map now. */
  private entryCount = 0;

  private laneFor(direction: Direction, c: number, expected: number): Lane {
    const n = laneOf(direction, c);
    let lane = this.lanes.get(n);
    if (!lane) {
      lane = new Lane(n, expected);
      this.lanes.set(n, lane);
    }
    if (!lane.queued) {
      lane.queued = true;
      // A lane empty when its batch begins: every cell in it is new, visit them all.
      if (lane.size === 0) lane.scan = true;
      this.dirtyLanes[this.nDirty++] = lane;
    }
    if (!this.seen.has(c)) {
      this.seen.add(c);
      if (this.coveredBy.size > 0) this.coveredBy = new Map();
      if (this.coverersOf.size > 0) this.coverersOf = new Map();
      this.coverEpoch++;
    }
    return lane;
  }

  /** Adds `sign` allow (or deny) contributions for one peer to some L4 keys. */
  add(direction: Direction, identity: number, l4: readonly number[], deny: boolean, sign: number): void {
    const field = deny ? DENY : ALLOW;
    for (const c of l4) {
      const lane = this.laneFor(direction, c, 1);
      if (deny) lane.denyDirty = true;
      lane.bumpOne(identity, field, sign);
    }
  }

  /** The same for many peers at once (a selector's whole selection): one lane lookup per key. */
  addMany(
    direction: Direction,
    identities: ReadonlySet<number> | readonly number[],
    l4: readonly number[],
    deny: boolean,
    sign: number,
  ): void {
    const n = 'size' in identities ? identities.size : identities.length;
    if (n === 0) return;
    const field = deny ? DENY : ALLOW;
    for (const c of l4) {
      const lane = this.laneFor(direction, c, sign > 0 ? n : 1);
      if (deny) lane.denyDirty = true;
      lane.addAll(identities, n, field, sign);
    }
  }

  /** Forgets every contribution (the map state is kept, so the next flush yields a delta). */
  zeroAll(): void {
    for (const lane of this.lanes.values()) {
      const tab = lane.tab;
      for (let o = 0; o < tab.length; o += 4) {
        if (tab[o] === EMPTY) continue;
        tab[o + ALLOW] = 0;
        tab[o + DENY] = 0;
        tab[o + FLAGS] = ((tab[o + FLAGS] ?? 0) & STATE_MASK) | DIRTY;
      }
      lane.scan = true;
      lane.nTouched = 0;
      if (lane.deniedCells > 0) lane.denyDirty = true;
      if (!lane.queued) {
        lane.queued = true;
        this.dirtyLanes[this.nDirty++] = lane;
      }
    }
    this.all = true;
  }

  private covered(d: number): number[] {
    let list = this.coveredBy.get(d);
    if (!list) {
      const dk = internOf(d).key;
      list = [...this.seen].filter((u) => u !== d && covers(dk, internOf(u).key));
      this.coveredBy.set(d, list);
    }
    return list;
  }

  /** The lanes (same direction) whose deny may hide an allow of this lane: other keys covering it, with denies. */
  private denyCoverers(lane: Lane): readonly Lane[] {
    const c = lane.lane >>> 1;
    let keys = this.coverersOf.get(c);
    if (!keys) {
      const ck = internOf(c).key;
      keys = [...this.seen].filter((d) => d !== c && covers(internOf(d).key, ck));
      this.coverersOf.set(c, keys);
    }
    if (keys.length === 0) return NO_LANES;
    if (lane.coverersEpoch === this.coverEpoch) return lane.coverers;
    const out: Lane[] = [];
    for (const d of keys) {
      const l = this.lanes.get(d * 2 + (lane.lane & 1));
      if (l && l.deniedCells > 0) out.push(l);
    }
    lane.coverers = out.length === 0 ? NO_LANES : out;
    lane.coverersEpoch = this.coverEpoch;
    return lane.coverers;
  }

  /** Brings a cell's DENIED flag up to date; when it flips, queues the cells that deny covers. */
  private syncDeny(lane: Lane, o: number): void {
    const tab = lane.tab;
    const f = tab[o + FLAGS] ?? 0;
    const has = (tab[o + DENY] ?? 0) > 0;
    if (has === ((f & DENIED) !== 0)) return;
    tab[o + FLAGS] = f ^ DENIED;
    const step = has ? 1 : -1;
    // A lane starting or ceasing to hold denies changes what covers other lanes.
    if (lane.deniedCells === 0 || lane.deniedCells + step === 0) this.coverEpoch++;
    lane.deniedCells += step;
    this.deniedCells += step;
    if (this.all) return;
    const identity = tab[o] ?? EMPTY;
    const dir = lane.lane & 1;
    const covered = this.covered(lane.lane >>> 1);
    for (let j = 0; j < covered.length; j++) {
      const l = this.lanes.get((covered[j] ?? 0) * 2 + dir);
      const p = l ? l.find(identity) : -1;
      if (!l || p < 0) continue;
      const g = l.tab[p + FLAGS] ?? 0;
      if ((g & DIRTY) !== 0) continue;
      l.tab[p + FLAGS] = g | DIRTY;
      if (!l.queued) {
        l.queued = true;
        this.dirtyLanes[this.nDirty++] = l;
      }
      if (!l.scan) l.touched[l.nTouched++] = identity;
    }
  }

  /** Resolves the cell at slot `o`: its verdict from its counts and the denies covering it; records changes. */
  private visit(lane: Lane, o: number, coverers: readonly Lane[], added: Pairs, removed: Pairs, dead: number[]): void {
    const tab = lane.tab;
    const id = tab[o] ?? EMPTY;
    const allow = tab[o + ALLOW] ?? 0;
    const deny = tab[o + DENY] ?? 0;
    const f = tab[o + FLAGS] ?? 0;
    const old = f & STATE_MASK;
    const state = deny > 0 ? 2 : allow > 0 && (coverers.length === 0 || !coveredByDeny(coverers, id)) ? 1 : 0;
    tab[o + FLAGS] = (f & DENIED) | state;
    if (state !== old) {
      if (old !== 0) {
        removed.push(lane.lane, id * 4 + old);
        this.entryCount--;
      }
      if (state !== 0) {
        added.push(lane.lane, id * 4 + state);
        this.entryCount++;
      }
    }
    if (allow === 0 && deny === 0) dead.push(id);
  }

  /** Resolves touched cells (deny precedence) and returns the entries that changed. */
  flush(): PackedDelta {
    const lanes = this.dirtyLanes;
    // First the deny flags (syncDeny may queue more lanes: the loop sees them).
    for (let i = 0; i < this.nDirty; i++) {
      const lane = lanes[i];
      if (!lane?.denyDirty) continue;
      lane.denyDirty = false;
      const tab = lane.tab;
      if (lane.scan) {
        for (let o = 0; o < tab.length; o += 4)
          if (tab[o] !== EMPTY && ((tab[o + FLAGS] ?? 0) & DIRTY) !== 0) this.syncDeny(lane, o);
      } else {
        for (let j = 0; j < lane.nTouched; j++) {
          const o = lane.find(lane.touched[j] ?? EMPTY);
          if (o >= 0) this.syncDeny(lane, o);
        }
      }
    }
    // Each visit adds and removes at most one entry.
    let bound = 0;
    const n = this.nDirty;
    for (let i = 0; i < n; i++) {
      const lane = lanes[i];
      if (lane) bound += lane.scan ? lane.size : lane.nTouched;
    }
    const added = ADDED;
    const removed = REMOVED;
    added.reset(bound);
    removed.reset(bound);
    const dead = DEAD;
    for (let i = 0; i < n; i++) {
      const lane = lanes[i];
      if (!lane) continue;
      lanes[i] = undefined;
      const tab = lane.tab;
      const coverers = this.deniedCells > 0 ? this.denyCoverers(lane) : NO_LANES;
      if (lane.scan) {
        for (let o = 0; o < tab.length; o += 4)
          if (tab[o] !== EMPTY && ((tab[o + FLAGS] ?? 0) & DIRTY) !== 0)
            this.visit(lane, o, coverers, added, removed, dead);
      } else {
        const touched = lane.touched;
        for (let j = 0; j < lane.nTouched; j++) {
          const o = lane.find(touched[j] ?? EMPTY);
          if (o >= 0 && ((tab[o + FLAGS] ?? 0) & DIRTY) !== 0) this.visit(lane, o, coverers, added, removed, dead);
        }
      }
      if (dead.length === lane.size) {
        this.lanes.delete(lane.lane);
        lane.release();
      } else for (const id of dead) lane.remove(id);
      dead.length = 0;
      // Keep a small list's storage (most lanes see a few peers per change); drop a big one.
      if (lane.touched.length > 256) lane.touched = [];
      lane.nTouched = 0;
      lane.scan = false;
      lane.queued = false;
    }
    this.nDirty = 0;
    if (lanes.length > 256) this.dirtyLanes = [];
    this.all = false;
    const a = added.done();
    const r = removed.done();
    return a.length + r.length === 0 ? EMPTY_DELTA : new PackedDelta(a, r);
  }

  /** Every entry in the map (fresh objects), unsorted. */
  entries(): MapEntry[] {
    const out: MapEntry[] = [];
    for (const lane of this.lanes.values()) {
      const tab = lane.tab;
      for (let o = 0; o < tab.length; o += 4) {
        if (tab[o] === EMPTY) continue;
        const s = (tab[o + FLAGS] ?? 0) & STATE_MASK;
        if (s !== 0) out.push(lane.entryOf(tab[o] ?? 0, s));
      }
    }
    return out;
  }

  count(): number {
    return this.entryCount;
  }
}
