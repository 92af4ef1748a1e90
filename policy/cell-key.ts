// How a policy-map key and its state are packed into numbers, for the cell store and its deltas.
// An L4 key (protocol, port prefix) is 24 bits; a lane is one L4 key in one direction; a cell
// value is one peer identity with its map state (verdict and L7 redirect). Everything that reads packed keys (the store, a
// PackedDelta, the engine's netting) goes through these functions, so the layout lives here only.
import type { L4Key, MapEntry } from './entries.js';
import type { PortPrefix } from './ports.js';
import { L7_PARSERS } from './l7.js';
import type { Direction } from './rule-model.js';

/** Protocols a key can carry (ports.ts yields no other), as a 3-bit index. */
const PROTOS = [0, 1, 6, 17, 58, 132] as const;
const PROTO_INDEX = new Map<number, number>(PROTOS.map((p, i) => [p, i]));

/** An L4 key as 24 bits: protocol index (3), port (16), prefix length (5). */
export function l4Compact(proto: number, port: number, len: number): number {
  return ((PROTO_INDEX.get(proto) ?? 0) << 21) | (port << 5) | len;
}

/** The IANA protocol number of a compact L4 key. */
export const l4Protocol = (c: number): number => PROTOS[c >>> 21] ?? 0;

/**
 * The L4 key and port prefix of a compact key. Interned: millions of entries share a few thousand
 * of them (immutable values, so one table serves every store).
 */
const interned = new Map<number, { key: L4Key; prefix: PortPrefix }>();
export function l4Of(c: number): { readonly key: L4Key; readonly prefix: PortPrefix } {
  let i = interned.get(c);
  if (!i) {
    const port = (c >>> 5) & 0xffff;
    const len = c & 31;
    i = { key: { proto: l4Protocol(c), port, len }, prefix: { port, prefixLen: len } };
    interned.set(c, i);
  }
  return i;
}

/** A lane number: one L4 key in one direction (`l4 * 2 + egress`). Lanes stay below 2^25. */
export const laneOf = (direction: Direction, c: number): number => c * 2 + (direction === 'egress' ? 1 : 0);
/** The lane of L4 key `c` in the same direction as `lane`. */
export const sameDirectionLane = (c: number, lane: number): number => c * 2 + (lane & 1);
export const laneL4 = (lane: number): number => lane >>> 1;
export const laneDirection = (lane: number): Direction => ((lane & 1) === 1 ? 'egress' : 'ingress');

/**
 * A cell's map state (four bits): the verdict in bits 0-1 (no entry, an allow entry, a deny entry)
 * and, for an allow, the L7 parser it redirects to in bits 2-3 (l7.ts `l7Index`; 0 = none).
 */
export type CellState = number;
export const NO_ENTRY = 0;
export const ALLOW_ENTRY = 1;
export const DENY_ENTRY = 2;
export const VERDICT_MASK = 3;
export const L7_SHIFT = 2;
/** Bits a state uses. */
export const STATE_BITS = 4;
const STATES = 1 << STATE_BITS;

/** A cell value: identity × 16 + state (exact in a double for every identity). */
export const packCell = (identity: number, state: number): number => identity * STATES + state;

/**
 * One number naming a cell (lane, identity) whatever its state, for netting deltas; undefined
 * for an identity of 2^28 or more (not exact in one number; never seen: identities are 24 bits
 * plus the local-scope bit).
 */
export function cellId(lane: number, value: number): number | undefined {
  if (value >= 2 ** 32) return undefined;
  return lane * 2 ** 28 + Math.floor(value / STATES);
}

/** The map entry of an identity's cell in a lane. */
export function cellEntry(
  direction: Direction,
  protocol: number,
  prefix: PortPrefix,
  identity: number,
  state: number,
): MapEntry {
  if ((state & VERDICT_MASK) === DENY_ENTRY)
    return { identity, direction, protocol, portPrefix: prefix, verdict: 'deny' };
  const l7 = L7_PARSERS[state >>> L7_SHIFT];
  // `l7` only when set: entries without a redirect keep their old shape.
  return l7
    ? { identity, direction, protocol, portPrefix: prefix, verdict: 'allow', l7 }
    : { identity, direction, protocol, portPrefix: prefix, verdict: 'allow' };
}

/** The map entry of a packed (lane, cell value). */
export function unpackEntry(lane: number, value: number): MapEntry {
  const state = value % STATES;
  const c = laneL4(lane);
  return cellEntry(laneDirection(lane), l4Protocol(c), l4Of(c).prefix, (value - state) / STATES, state);
}
