// Security identities as the policy engine sees them: reserved ones (1–255, docs: internals/security-identities),
// cluster identities (256–65535 plus the cluster ID bits) and node-local CIDR identities (bit 24;
// their allocator is cidr-identities.ts).
import { parsePrefix, type Prefix } from '../crds/cidr.js';
import { LabelSet } from './labels.js';

/** Reserved identities (node_config.h; the security-identities doc). 0 means "any" in maps. */
export const ReservedIdentity = {
  unknown: 0,
  host: 1,
  world: 2,
  unmanaged: 3,
  health: 4,
  init: 5,
  'remote-node': 6,
  'kube-apiserver': 7,
  ingress: 8,
  'world-ipv4': 9,
  'world-ipv6': 10,
} as const;
export type ReservedName = Exclude<keyof typeof ReservedIdentity, 'unknown'>;

/** The identity that means "any peer" in a policy map key. */
export const ANY_IDENTITY = 0;
/** First node-local CIDR identity: `(1 << 24) + 1`. */
export const CIDR_IDENTITY_FIRST = (1 << 24) + 1;
/** Last node-local identity: `(1 << 25) - 1`. */
export const CIDR_IDENTITY_LAST = (1 << 25) - 1;

export function isCidrIdentity(id: number): boolean {
  return id >= CIDR_IDENTITY_FIRST && id <= CIDR_IDENTITY_LAST;
}

/** One identity with what selectors need: labels and, for CIDR/world identities, prefixes. */
export interface IdentityInfo {
  readonly id: number;
  readonly labels: LabelSet;
  /** The prefixes this identity stands for (`cidr:` labels; world = 0.0.0.0/0 and/or ::/0). */
  readonly prefixes: readonly Prefix[];
}

const V4_ALL: Prefix = { family: 4, address: 0n, length: 0 };
const V6_ALL: Prefix = { family: 6, address: 0n, length: 0 };

/** Builds an IdentityInfo; `cidr:` labels become prefixes, world identities get 0/0. */
export function identityInfo(id: number, labels: LabelSet): IdentityInfo {
  const prefixes: Prefix[] = [];
  for (const l of labels) {
    if (l.source === 'cidr') {
      // cidr labels use `-` for `:` in IPv6 upstream; accept both spellings.
      const p = parsePrefix(l.key.includes(':') ? l.key : l.key.replaceAll('-', ':'));
      if (p) prefixes.push(p);
    }
  }
  // A CIDR identity stands for its own prefixes only; the world identities for a whole family.
  if (prefixes.length === 0) {
    const world = labels.has('reserved', 'world');
    if (world || labels.has('reserved', 'world-ipv4')) prefixes.push(V4_ALL);
    if (world || labels.has('reserved', 'world-ipv6')) prefixes.push(V6_ALL);
  }
  return { id, labels, prefixes: dedupePrefixes(prefixes) };
}

function dedupePrefixes(list: Prefix[]): Prefix[] {
  const seen = new Set<string>();
  return list.filter((p) => {
    const k = `${p.family}/${p.address}/${p.length}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The reserved identities with their labels (every node has them). */
export function reservedIdentities(): IdentityInfo[] {
  return (Object.entries(ReservedIdentity) as [keyof typeof ReservedIdentity, number][])
    .filter(([name]) => name !== 'unknown')
    .map(([name, id]) => identityInfo(id, new LabelSet([{ source: 'reserved', key: name, value: '' }])));
}

export function prefixText(p: Prefix): string {
  if (p.family === 4) {
    const a = Number(p.address);
    return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${p.length}`;
  }
  const parts: string[] = [];
  for (let i = 7; i >= 0; i--) parts.push(((p.address >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Canonical enough for labels: the longest zero run compressed once.
  const text = parts.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  return `${text}/${p.length}`;
}

/** The network address of a prefix with host bits cleared (10.1.2.3/8 → 10.0.0.0/8). */
export function normalizePrefix(p: Prefix): Prefix {
  const bits = p.family === 4 ? 32 : 128;
  const host = BigInt(bits - p.length);
  return { family: p.family, address: (p.address >> host) << host, length: p.length };
}
