// The contribution store of one resolved policy. For every map key (direction, peer identity,
// protocol, port prefix) it counts the rule × peer × port tuples that allow or deny it and
// remembers what the map holds, packed in one number, in one flat Map keyed by one number: a
// cluster has millions of keys, so neither objects nor per-group maps are affordable.
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

const KEY_SPAN = 2 ** 24;
/** (direction, identity) as one number; identities stay below 2^25, so keys stay below 2^50. */
const groupOf = (direction: Direction, identity: number): number => identity * 2 + (direction === 'egress' ? 1 : 0);

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

function entryOf(key: number, state: number): MapEntry {
  const gk = Math.floor(key / KEY_SPAN);
  const c = key - gk * KEY_SPAN;
  return {
    identity: Math.floor(gk / 2),
    direction: gk % 2 === 1 ? 'egress' : 'ingress',
    protocol: PROTOS[c >>> 21] ?? 0,
    portPrefix: internOf(c).prefix,
    verdict: state === 2 ? 'deny' : 'allow',
  };
}

export class CellStore {
  private readonly cells = new Map<number, number>();
  /** Group → L4 keys with a deny there now (rare; used for deny precedence). */
  private readonly denies = new Map<number, number[]>();
  /** Every L4 key this store has seen (a few hundred): candidates when a deny appears. */
  private readonly seen = new Set<number>();
  private touched = new Set<number>();
  /** Touched keys whose deny count changed: the only ones that can change the deny index. */
  private denyTouched = new Set<number>();
  private all = false;

  /** Adds `sign` allow (or deny) contributions to one key. */
  add(direction: Direction, identity: number, l4: readonly number[], deny: boolean, sign: number): void {
    const base = groupOf(direction, identity) * KEY_SPAN;
    const step = sign * (deny ? COUNT * 4 : 4);
    for (const c of l4) {
      const k = base + c;
      this.cells.set(k, (this.cells.get(k) ?? 0) + step);
      if (!this.all) {
        this.touched.add(k);
        if (deny) this.denyTouched.add(k);
      }
      this.seen.add(c);
    }
  }

  /** Forgets every contribution (the map state is kept, so the next flush yields a delta). */
  zeroAll(): void {
    for (const [k, v] of this.cells) this.cells.set(k, cellState(v));
    this.all = true;
    this.touched = new Set();
    this.denyTouched = new Set();
  }

  private coveredByDeny(gk: number, c: number): boolean {
    const list = this.denies.get(gk);
    if (!list) return false;
    const key = internOf(c).key;
    for (const d of list) if (d !== c && covers(internOf(d).key, key)) return true;
    return false;
  }

  /** Updates the deny index for one key; returns the keys whose verdict may change with it. */
  private syncDeny(k: number, v: number, extra: number[]): void {
    const gk = Math.floor(k / KEY_SPAN);
    const c = k - gk * KEY_SPAN;
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
    const dk = internOf(c).key;
    const base = gk * KEY_SPAN;
    for (const u of this.seen) if (u !== c && this.cells.has(base + u) && covers(dk, internOf(u).key)) extra.push(base + u);
  }

  /** Resolves touched keys (deny precedence) and returns the entries that changed. */
  flush(): EntryDelta {
    const added: MapEntry[] = [];
    const removed: MapEntry[] = [];
    let keys: Iterable<number>;
    if (this.all) {
      this.denies.clear();
      for (const [k, v] of this.cells) if (cellDeny(v) > 0) this.syncDeny(k, v, []);
      keys = [...this.cells.keys()];
    } else {
      const extra: number[] = [];
      for (const k of this.denyTouched) this.syncDeny(k, this.cells.get(k) ?? 0, extra);
      for (const k of extra) this.touched.add(k);
      keys = this.touched;
    }
    for (const k of keys) {
      const v = this.cells.get(k);
      if (v === undefined) continue;
      const allow = cellAllow(v);
      const deny = cellDeny(v);
      const old = cellState(v);
      let state = 0;
      if (deny > 0) state = 2;
      else if (allow > 0) {
        const gk = Math.floor(k / KEY_SPAN);
        state = this.coveredByDeny(gk, k - gk * KEY_SPAN) ? 0 : 1;
      }
      if (state !== old) {
        if (old !== 0) removed.push(entryOf(k, old));
        if (state !== 0) added.push(entryOf(k, state));
      }
      if (allow === 0 && deny === 0) this.cells.delete(k);
      else if (state !== old) this.cells.set(k, cell(allow, deny, state));
    }
    this.touched = new Set();
    this.denyTouched = new Set();
    this.all = false;
    return { added, removed };
  }

  /** Every entry in the map (fresh objects), unsorted. */
  entries(): MapEntry[] {
    const out: MapEntry[] = [];
    for (const [k, v] of this.cells) {
      const s = cellState(v);
      if (s !== 0) out.push(entryOf(k, s));
    }
    return out;
  }

  count(): number {
    let n = 0;
    for (const v of this.cells.values()) if (cellState(v) !== 0) n++;
    return n;
  }
}
