// One endpoint's policy map, packed for lookups: per direction, the entries' peer identities in
// one Int32Array (sorted, as endpointEntries() returns them) beside their L4 key and verdict in
// another. What-if looks up hundreds of thousands of connections; keeping millions of MapEntry
// objects alive would cost more in GC than the lookups. The lookup is policy/entries.ts
// lookupVerdict (the datapath contract) on this layout, held against it by test/whatif.
import type { LookupResult, MapEntry } from '../policy/index.js';

type Direction = 'ingress' | 'egress';

interface Packed {
  readonly peers: Int32Array;
  /** protocol << 22 | port << 6 | prefixLen << 1 | deny */
  readonly keys: Int32Array;
}

const pack = (e: MapEntry): number =>
  (e.protocol << 22) | (e.portPrefix.port << 6) | (e.portPrefix.prefixLen << 1) | (e.verdict === 'deny' ? 1 : 0);

/** endpointEntries() is sorted by direction, then identity: one pass fills both sides, no copies. */
function build(entries: readonly MapEntry[]): Record<Direction, Packed> {
  let egress = 0;
  for (const e of entries) if (e.direction === 'egress') egress++;
  const sides: Record<Direction, Packed> = {
    egress: { peers: new Int32Array(egress), keys: new Int32Array(egress) },
    ingress: { peers: new Int32Array(entries.length - egress), keys: new Int32Array(entries.length - egress) },
  };
  const at = { egress: 0, ingress: 0 };
  let sorted = true;
  for (const e of entries) {
    const side = sides[e.direction];
    const i = at[e.direction]++;
    if (i > 0 && side.peers[i - 1]! > e.identity) sorted = false;
    side.peers[i] = e.identity;
    side.keys[i] = pack(e);
  }
  if (!sorted) for (const d of ['egress', 'ingress'] as const) sides[d] = sortByPeer(sides[d]);
  return sides;
}

function sortByPeer(p: Packed): Packed {
  const order = Array.from(p.peers.keys()).sort((a, b) => p.peers[a]! - p.peers[b]!);
  return { peers: Int32Array.from(order, (i) => p.peers[i]!), keys: Int32Array.from(order, (i) => p.keys[i]!) };
}

/** First index with peers[i] >= peer. */
function lowerBound(peers: Int32Array, peer: number): number {
  let lo = 0;
  let hi = peers.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (peers[mid]! < peer) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The longest match among one peer's entries: -1 none, else score * 2 + deny. */
function best(p: Packed, peer: number, protocol: number, port: number): number {
  let found = -1;
  for (let i = lowerBound(p.peers, peer); i < p.peers.length && p.peers[i] === peer; i++) {
    const k = p.keys[i]!;
    const proto = k >>> 22;
    let score: number;
    if (proto === 0) score = 0;
    else {
      const len = (k >>> 1) & 31;
      const ePort = (k >>> 6) & 0xffff;
      if (proto !== protocol || (len > 0 && ePort >>> (16 - len) !== port >>> (16 - len))) continue;
      score = 1 + len;
    }
    if (found < 0 || score > found >> 1) found = (score << 1) | (k & 1);
  }
  return found;
}

export class MapIndex {
  private readonly sides: Record<Direction, Packed>;

  constructor(entries: readonly MapEntry[]) {
    this.sides = build(entries);
  }

  /** lookupVerdict: the peer's longest match and the any-peer (0) one; a deny from either wins. */
  lookup(direction: Direction, peer: number, protocol: number, port: number): LookupResult {
    const p = this.sides[direction];
    const own = best(p, peer, protocol, port);
    const any = peer === 0 ? -1 : best(p, 0, protocol, port);
    if ((own >= 0 && own & 1) || (any >= 0 && any & 1)) return 'deny';
    return own >= 0 || any >= 0 ? 'allow' : 'drop';
  }
}
