// The contribution store of one resolved policy. For every map key (direction, peer identity,
// protocol, port prefix) it counts the rule × peer × port tuples that allow or deny it and
// remembers what the map holds, packed in one number (a cell): a cluster has millions of keys,
// so neither objects nor per-group maps are affordable.
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

const COUNT = 2 ** 20;
const cellAllow = (v: number): number => Math.floor(v / 4) % COUNT;
const cellDeny = (v: number): number => Math.floor(v / 4 / COUNT);
const cellState = (v: number): number => v % 4;
/** `((deny * 2^20 + allow) * 4) + state`; state 0 = no entry, 1 = allow, 2 = deny. */
const cell = (allow: number, deny: number, state: number): number => (deny * COUNT + allow) * 4 + state;

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

function entryOf(lane: number, identity: number, state: number): MapEntry {
  const c = lane >>> 1;
  return {
    identity,
    direction: (lane & 1) === 1 ? 'egress' : 'ingress',
    protocol: PROTOS[c >>> 21] ?? 0,
    portPrefix: internOf(c).prefix,
    verdict: state === 2 ? 'deny' : 'allow',
  };
}

/** A lane: one L4 key in one direction (`l4 * 2 + egress`); cells are keyed by lane, then peer. */
const laneOf = (direction: Direction, c: number): number => c * 2 + (direction === 'egress' ? 1 : 0);
/** A group: one peer in one direction, the scope of deny precedence. */
const groupOf = (lane: number, identity: number): number => identity * 2 + (lane & 1);

export class CellStore {
  /**
   * lane → peer identity → cell. Both keys are small integers (V8 Smis), so the millions of
   * cells of a cluster cost no boxed numbers.
   */
  private readonly lanes = new Map<number, Map<number, number>>();
  /** Group → L4 keys with a deny there now (rare; used for deny precedence). */
  private readonly denies = new Map<number, number[]>();
  /** Every L4 key this store has seen (a few hundred): candidates when a deny appears. */
  private readonly seen = new Set<number>();
  /** Deny L4 key → the seen keys it covers; reset whenever `seen` grows. */
  private coveredBy = new Map<number, number[]>();
  /** Lane → peers touched since the last flush (duplicates are harmless). */
  private readonly touched = new Map<number, number[]>();
  /** (lane, peer) pairs whose deny count changed: the only ones that move the deny index. */
  private readonly denyTouched: number[] = [];
  private all = false;

  /** Adds `sign` allow (or deny) contributions for one peer to some L4 keys. */
  add(direction: Direction, identity: number, l4: readonly number[], deny: boolean, sign: number): void {
    const step = sign * (deny ? COUNT * 4 : 4);
    for (const c of l4) {
      const lane = laneOf(direction, c);
      let m = this.lanes.get(lane);
      if (!m) {
        m = new Map();
        this.lanes.set(lane, m);
      }
      m.set(identity, (m.get(identity) ?? 0) + step);
      if (!this.all) {
        const t = this.touched.get(lane);
        if (t) t.push(identity);
        else this.touched.set(lane, [identity]);
        if (deny) this.denyTouched.push(lane, identity);
      }
      if (!this.seen.has(c)) {
        this.seen.add(c);
        if (this.coveredBy.size > 0) this.coveredBy = new Map();
      }
    }
  }

  /** The same for many peers at once (a selector's whole selection): one lane lookup per key. */
  addMany(direction: Direction, identities: Iterable<number>, l4: readonly number[], deny: boolean, sign: number): void {
    const ids = Array.isArray(identities) ? (identities as number[]) : [...identities];
    if (ids.length === 0) return;
    const step = sign * (deny ? COUNT * 4 : 4);
    for (const c of l4) {
      const lane = laneOf(direction, c);
      let m = this.lanes.get(lane);
      if (!m) {
        m = new Map();
        this.lanes.set(lane, m);
      }
      for (const id of ids) m.set(id, (m.get(id) ?? 0) + step);
      if (!this.all) {
        const t = this.touched.get(lane);
        if (t) for (const id of ids) t.push(id);
        else this.touched.set(lane, ids.slice());
        if (deny) for (const id of ids) this.denyTouched.push(lane, id);
      }
      if (!this.seen.has(c)) {
        this.seen.add(c);
        if (this.coveredBy.size > 0) this.coveredBy = new Map();
      }
    }
  }

  /** Forgets every contribution (the map state is kept, so the next flush yields a delta). */
  zeroAll(): void {
    for (const m of this.lanes.values()) for (const [id, v] of m) m.set(id, cellState(v));
    this.all = true;
    this.touched.clear();
    this.denyTouched.length = 0;
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

  private coveredByDeny(lane: number, identity: number): boolean {
    const list = this.denies.get(groupOf(lane, identity));
    if (!list) return false;
    const c = lane >>> 1;
    const key = internOf(c).key;
    for (const d of list) if (d !== c && covers(internOf(d).key, key)) return true;
    return false;
  }

  /** Updates the deny index for one cell; queues the cells whose verdict may change with it. */
  private syncDeny(lane: number, identity: number, v: number): void {
    const gk = groupOf(lane, identity);
    const c = lane >>> 1;
    const has = cellDeny(v) > 0;
    const list = this.denies.get(gk);
    const had = list?.includes(c) ?? false;
    if (has === had) return;
    if (has) {
      if (list) list.push(c);
      else this.denies.set(gk, [c]);
    } else if (list) {
      list.splice(list.indexOf(c), 1);
      if (list.length === 0) this.denies.delete(gk);
    }
    if (this.all) return;
    const dir = lane & 1;
    for (const u of this.covered(c)) {
      const l = u * 2 + dir;
      if (!this.lanes.get(l)?.has(identity)) continue;
      const t = this.touched.get(l);
      if (t) t.push(identity);
      else this.touched.set(l, [identity]);
    }
  }

  /** Resolves one cell: its verdict from its counts and the group's denies; records changes. */
  private visit(lane: number, m: Map<number, number>, identity: number, added: MapEntry[], removed: MapEntry[]): void {
    const v = m.get(identity);
    if (v === undefined) return;
    const allow = cellAllow(v);
    const deny = cellDeny(v);
    const old = cellState(v);
    const state = deny > 0 ? 2 : allow > 0 && !this.coveredByDeny(lane, identity) ? 1 : 0;
    if (state !== old) {
      if (old !== 0) removed.push(entryOf(lane, identity, old));
      if (state !== 0) added.push(entryOf(lane, identity, state));
    }
    if (allow === 0 && deny === 0) m.delete(identity);
    else if (state !== old) m.set(identity, cell(allow, deny, state));
  }

  /** Resolves touched cells (deny precedence) and returns the entries that changed. */
  flush(): EntryDelta {
    const added: MapEntry[] = [];
    const removed: MapEntry[] = [];
    if (this.all) {
      this.denies.clear();
      for (const [lane, m] of this.lanes) for (const [id, v] of m) if (cellDeny(v) > 0) this.syncDeny(lane, id, v);
      for (const [lane, m] of this.lanes) {
        for (const id of [...m.keys()]) this.visit(lane, m, id, added, removed);
        if (m.size === 0) this.lanes.delete(lane);
      }
    } else {
      const dt = this.denyTouched;
      for (let i = 0; i < dt.length; i += 2) {
        const lane = dt[i] ?? 0;
        const id = dt[i + 1] ?? 0;
        this.syncDeny(lane, id, this.lanes.get(lane)?.get(id) ?? 0);
      }
      for (const [lane, ids] of this.touched) {
        const m = this.lanes.get(lane);
        if (!m) continue;
        for (const id of ids) this.visit(lane, m, id, added, removed);
        if (m.size === 0) this.lanes.delete(lane);
      }
    }
    this.touched.clear();
    this.denyTouched.length = 0;
    this.all = false;
    return { added, removed };
  }

  /** Every entry in the map (fresh objects), unsorted. */
  entries(): MapEntry[] {
    const out: MapEntry[] = [];
    for (const [lane, m] of this.lanes) {
      for (const [id, v] of m) {
        const s = cellState(v);
        if (s !== 0) out.push(entryOf(lane, id, s));
      }
    }
    return out;
  }

  count(): number {
    let n = 0;
    for (const m of this.lanes.values()) for (const v of m.values()) if (cellState(v) !== 0) n++;
    return n;
  }
}
