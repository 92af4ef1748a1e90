// Policy map entries: what the datapath writes into an endpoint's LPM policy map (upstream
// pkg/maps/policymap). Key = (identity, direction, protocol, port prefix); identity 0 = any peer; protocol 0
// only with every port. Deny wins: an allow covered by a deny of the same identity is left out,
// because an LPM lookup would otherwise pick the narrower allow.
import { ANY_IDENTITY } from './identities.js';
import { ALL_PORTS, prefixCovers, prefixHasPort, type PortPrefix } from './ports.js';
import type { L7Parser } from './l7.js';
import type { Direction } from './rule-model.js';

export type Verdict = 'allow' | 'deny';

/** One policy map entry; the datapath must accept exactly this. */
export interface MapEntry {
  /** Peer identity (source on ingress, destination on egress); 0 = any. */
  readonly identity: number;
  readonly direction: Direction;
  /** IANA protocol number; 0 = any (then portPrefix.prefixLen is 0). ICMP types sit in the port. */
  readonly protocol: number;
  readonly portPrefix: PortPrefix;
  readonly verdict: Verdict;
  /** An allow that redirects to the node's proxy with this parser (the entry's proxy_port). */
  readonly l7?: L7Parser;
}

/** Changes to one endpoint's map: remove these keys, then write these entries. */
export interface EntryDelta {
  readonly added: readonly MapEntry[];
  readonly removed: readonly MapEntry[];
}

/** The L4 part of a key within one (direction, identity) group. */
export interface L4Key {
  readonly proto: number;
  readonly port: number;
  readonly len: number;
}

export const l4Text = (proto: number, port: number, len: number): string => `${proto}/${port}/${len}`;

export function entryText(e: MapEntry): string {
  return `${e.direction === 'ingress' ? 'i' : 'e'}${e.identity}:${l4Text(e.protocol, e.portPrefix.port, e.portPrefix.prefixLen)}`;
}

/** Does a deny key cover an allow key (same group)? Then an LPM lookup must not see the allow. */
export function covers(deny: L4Key, allow: L4Key): boolean {
  if (deny.proto === 0) return true;
  return (
    deny.proto === allow.proto &&
    prefixCovers({ port: deny.port, prefixLen: deny.len }, { port: allow.port, prefixLen: allow.len })
  );
}

/** Sorts entries for stable output (direction, identity, protocol, port, length). */
export function sortEntries(list: MapEntry[]): MapEntry[] {
  return list.sort(
    (a, b) =>
      (a.direction < b.direction ? -1 : a.direction > b.direction ? 1 : 0) ||
      a.identity - b.identity ||
      a.protocol - b.protocol ||
      a.portPrefix.port - b.portPrefix.port ||
      a.portPrefix.prefixLen - b.portPrefix.prefixLen ||
      (a.verdict < b.verdict ? -1 : a.verdict > b.verdict ? 1 : 0),
  );
}

/** The delta turning `before` into `after` (a changed verdict is a removal plus an addition). */
export function diffEntries(before: Iterable<MapEntry>, after: Iterable<MapEntry>): EntryDelta {
  const b = new Map<string, MapEntry>();
  for (const e of before) b.set(entryText(e), e);
  const added: MapEntry[] = [];
  const a = new Set<string>();
  for (const e of after) {
    const t = entryText(e);
    a.add(t);
    const old = b.get(t);
    if (!old) added.push(e);
    else if (old.verdict !== e.verdict || old.l7 !== e.l7) added.push(e);
  }
  const removed: MapEntry[] = [];
  for (const [t, e] of b) {
    const now = a.has(t);
    if (!now) removed.push(e);
  }
  for (const e of added) {
    const old = b.get(entryText(e));
    if (old) removed.push(old);
  }
  return { added: sortEntries(added), removed: sortEntries(removed) };
}

/** Applies a delta to a map state (keyed by entryText), as the datapath does. */
export function applyDelta(state: Map<string, MapEntry>, delta: EntryDelta): void {
  for (const e of delta.removed) state.delete(entryText(e));
  for (const e of delta.added) state.set(entryText(e), e);
}

export type LookupResult = Verdict | 'drop';

/**
 * The datapath's lookup, as the contract with datapath/: an LPM lookup with the peer identity
 * and one with identity 0; a deny from either wins, else an allow from either, else the
 * default-deny miss (`drop`, DROP_POLICY). Longest prefix: protocol set beats protocol 0, then
 * the longer port prefix.
 */
export function lookupVerdict(
  entries: Iterable<MapEntry>,
  direction: Direction,
  identity: number,
  protocol: number,
  port: number,
): LookupResult {
  const best = new Map<number, { score: number; verdict: Verdict }>();
  for (const e of entries) {
    if (e.direction !== direction || (e.identity !== identity && e.identity !== ANY_IDENTITY)) continue;
    let score: number;
    if (e.protocol === 0) score = 0;
    else if (e.protocol === protocol && prefixHasPort(e.portPrefix, port)) score = 1 + e.portPrefix.prefixLen;
    else continue;
    const have = best.get(e.identity);
    if (!have || score > have.score) best.set(e.identity, { score, verdict: e.verdict });
  }
  const found = [...best.values()];
  if (found.some((f) => f.verdict === 'deny')) return 'deny';
  if (found.length > 0) return 'allow';
  return 'drop';
}

/**
 * The proxy a packet is redirected to, as the datapath picks it (datapath/bpf/policy.h): the
 * longest match with the peer identity and with identity 0; when both allow, the longer prefix
 * (the identity's on a tie) gives the entry whose proxy port is used. Undefined: no redirect
 * (also when the verdict is not allow).
 */
export function lookupRedirect(
  entries: Iterable<MapEntry>,
  direction: Direction,
  identity: number,
  protocol: number,
  port: number,
): L7Parser | undefined {
  const best = new Map<number, { score: number; e: MapEntry }>();
  for (const e of entries) {
    if (e.direction !== direction || (e.identity !== identity && e.identity !== ANY_IDENTITY)) continue;
    let score: number;
    if (e.protocol === 0) score = 0;
    else if (e.protocol === protocol && prefixHasPort(e.portPrefix, port)) score = 1 + e.portPrefix.prefixLen;
    else continue;
    const have = best.get(e.identity);
    if (!have || score > have.score) best.set(e.identity, { score, e });
  }
  const l3 = identity === ANY_IDENTITY ? undefined : best.get(identity);
  const any = best.get(ANY_IDENTITY);
  if (l3?.e.verdict === 'deny' || any?.e.verdict === 'deny') return undefined;
  const pick = l3 && any ? (any.score > l3.score ? any : l3) : (l3 ?? any);
  return pick?.e.l7;
}

/** The allow-all entry of a direction not in default deny. */
export const ALLOW_ALL_KEY: L4Key = { proto: 0, port: ALL_PORTS.port, len: ALL_PORTS.prefixLen };
