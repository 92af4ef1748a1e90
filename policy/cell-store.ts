// The contribution store of one resolved policy. For every map key (direction, peer identity,
// protocol, port prefix) it counts the rule × peer × port tuples that allow or deny it and
// remembers what the map holds. Each lane (one L4 key in one direction) is a LaneTable of peer
// identity → allow count, deny count, flags; a flush resolves the touched cells (deny wins, and an
// allow under a covering deny of the same peer is left out) into a PackedDelta.
import {
  ALLOW_ENTRY,
  DENY_ENTRY,
  L7_SHIFT,
  NO_ENTRY,
  STATE_BITS,
  cellEntry,
  l4Of,
  l4Protocol,
  laneDirection,
  laneL4,
  laneOf,
  packCell,
  sameDirectionLane,
} from './cell-key.js';
import { covers, type MapEntry } from './entries.js';
import { ALLOW, DENY, EMPTY, FLAGS, LaneTable, slotOf, TablePool } from './lane-table.js';
import { DeltaWriter, EMPTY_DELTA, PackedDelta } from './packed-delta.js';
import type { PortPrefix } from './ports.js';
import type { Direction } from './rule-model.js';

/**
 * Flags: the map state (cell-key.ts CellState) in bits 0-3; DIRTY = to visit at the next flush;
 * DENIED = the deny count was > 0 at the last flush (what deny precedence reads).
 */
const STATE_MASK = (1 << STATE_BITS) - 1;
const DIRTY = 1 << STATE_BITS;
const DENIED = DIRTY << 1;

const NO_LANES: readonly Lane[] = [];

/** One lane's cells with what the store's flush needs to know about them. */
class Lane extends LaneTable {
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
  /** The L7 parser its allow entries redirect to (l7.ts `l7Index`; 0 = none), from the store's refs. */
  l7 = 0;
  /** What entries of this lane look like (shared by all of them). */
  readonly direction: Direction;
  readonly protocol: number;
  readonly prefix: PortPrefix;

  constructor(
    readonly lane: number,
    pool: TablePool,
    expected: number,
  ) {
    super(pool, expected);
    const c = laneL4(lane);
    this.direction = laneDirection(lane);
    this.protocol = l4Protocol(c);
    this.prefix = l4Of(c).prefix;
  }

  /**
   * Adds `sign` to one count (ALLOW or DENY) of many peers' cells, creating them as needed, and
   * marks them to visit: the hot loop of a broad selector (one probe per peer, no call).
   */
  addAll(identities: Iterable<number>, n: number, field: number, sign: number): void {
    if (sign > 0 && this.full(n)) this.grow(this.size + n);
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

  entryOf(identity: number, state: number): MapEntry {
    return cellEntry(this.direction, this.protocol, this.prefix, identity, state);
  }
}

/**
 * What the cell stores of one engine share: the pool of freed lane tables, and the buffers a
 * flush works in (flushes never overlap). Owned by whoever makes the stores — the engine makes
 * one for all of its resolved policies — never a module global; a store made without one gets
 * its own.
 */
export class CellArena {
  readonly tables = new TablePool();
  readonly added = new DeltaWriter();
  readonly removed = new DeltaWriter();
  /** Cells that lost their last contribution during one lane's visit. */
  readonly dead: number[] = [];
}

/** Does a deny in one of these lanes (keys covering the cell's) hold for this peer? */
/** The parser a lane redirects to: http before dns when rules name both (upstream refuses that mix). */
function effectiveL7(refs: readonly number[] | undefined): number {
  if (!refs) return 0;
  for (let i = 1; i < refs.length; i++) if ((refs[i] ?? 0) > 0) return i;
  return 0;
}

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
  /**
   * Lane → L7 references by parser index (rules with L7 rules on that key). Kept apart from the
   * lanes: a lane with no cells is released, its redirect must outlive it.
   */
  private readonly l7Refs = new Map<number, number[]>();

  /** `arena`: shared with the engine's other stores; a store of its own by default. */
  constructor(private readonly arena: CellArena = new CellArena()) {}

  private laneFor(direction: Direction, c: number, expected: number): Lane {
    const n = laneOf(direction, c);
    let lane = this.lanes.get(n);
    if (!lane) {
      lane = new Lane(n, this.arena.tables, expected);
      lane.l7 = effectiveL7(this.l7Refs.get(n));
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

  /**
   * Adds `sign` L7 references of one parser (l7.ts `l7Index`) to some L4 keys: their allow
   * entries redirect to that parser's proxy while any reference is held. A lane whose parser
   * changes has every cell revisited (each allow entry is rewritten with its new proxy port).
   */
  addL7(direction: Direction, l4: readonly number[], parser: number, sign: number): void {
    for (const c of l4) {
      const n = laneOf(direction, c);
      let refs = this.l7Refs.get(n);
      if (!refs) this.l7Refs.set(n, (refs = [0, 0, 0]));
      refs[parser] = (refs[parser] ?? 0) + sign;
      const want = effectiveL7(refs);
      if (want === 0 && refs.every((r) => r === 0)) this.l7Refs.delete(n);
      const lane = this.lanes.get(n);
      if (!lane || lane.l7 === want) continue;
      lane.l7 = want;
      this.revisit(this.laneFor(direction, c, 1));
    }
  }

  /** Marks every cell of a lane to visit at the next flush. */
  private revisit(lane: Lane): void {
    const tab = lane.tab;
    for (let o = 0; o < tab.length; o += 4) if (tab[o] !== EMPTY) tab[o + FLAGS] = (tab[o + FLAGS] ?? 0) | DIRTY;
    lane.scan = true;
    lane.nTouched = 0;
  }

  /** Forgets every contribution (the map state is kept, so the next flush yields a delta). */
  zeroAll(): void {
    this.l7Refs.clear();
    for (const lane of this.lanes.values()) {
      const tab = lane.tab;
      lane.l7 = 0;
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
      const dk = l4Of(d).key;
      list = [...this.seen].filter((u) => u !== d && covers(dk, l4Of(u).key));
      this.coveredBy.set(d, list);
    }
    return list;
  }

  /** The lanes (same direction) whose deny may hide an allow of this lane: other keys covering it, with denies. */
  private denyCoverers(lane: Lane): readonly Lane[] {
    const c = laneL4(lane.lane);
    let keys = this.coverersOf.get(c);
    if (!keys) {
      const ck = l4Of(c).key;
      keys = [...this.seen].filter((d) => d !== c && covers(l4Of(d).key, ck));
      this.coverersOf.set(c, keys);
    }
    if (keys.length === 0) return NO_LANES;
    if (lane.coverersEpoch === this.coverEpoch) return lane.coverers;
    const out: Lane[] = [];
    for (const d of keys) {
      const l = this.lanes.get(sameDirectionLane(d, lane.lane));
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
    const covered = this.covered(laneL4(lane.lane));
    for (let j = 0; j < covered.length; j++) {
      const l = this.lanes.get(sameDirectionLane(covered[j] ?? 0, lane.lane));
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
  private visit(
    lane: Lane,
    o: number,
    coverers: readonly Lane[],
    added: DeltaWriter,
    removed: DeltaWriter,
    dead: number[],
  ): void {
    const tab = lane.tab;
    const id = tab[o] ?? EMPTY;
    const allow = tab[o + ALLOW] ?? 0;
    const deny = tab[o + DENY] ?? 0;
    const f = tab[o + FLAGS] ?? 0;
    const old = f & STATE_MASK;
    const state =
      deny > 0
        ? DENY_ENTRY
        : allow > 0 && (coverers.length === 0 || !coveredByDeny(coverers, id))
          ? ALLOW_ENTRY | (lane.l7 << L7_SHIFT)
          : NO_ENTRY;
    tab[o + FLAGS] = (f & DENIED) | state;
    if (state !== old) {
      if (old !== NO_ENTRY) {
        removed.push(lane.lane, packCell(id, old));
        this.entryCount--;
      }
      if (state !== NO_ENTRY) {
        added.push(lane.lane, packCell(id, state));
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
    const { added, removed, dead } = this.arena;
    added.reset(bound);
    removed.reset(bound);
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
        if (s !== NO_ENTRY) out.push(lane.entryOf(tab[o] ?? 0, s));
      }
    }
    return out;
  }

  count(): number {
    return this.entryCount;
  }
}
