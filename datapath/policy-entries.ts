// Policy rules (what policy/ resolves for one endpoint) -> the entries of its LPM policy map.
// Two jobs the kernel lookup relies on (bpf/policy.h):
//   1. port ranges become power-of-two port prefixes (an LPM trie matches prefixes only);
//   2. deny beats allow within one identity: an allow entry that a shorter deny entry covers is
//      dropped, so the longest-prefix match for any packet it matched now lands on the deny.
// Across identities (a deny for "any" vs an allow for one identity) the datapath's second
// lookup already gives deny precedence.
import { policyEntry, policyKey, type PolicyEntryValue, type PolicyKey } from './codecs.js';
import { PolicyPrefix, POLICY_F_DENY, POLICY_PREFIX_SHIFT } from './constants.js';
import { DatapathError } from './errors.js';

export interface PolicyRule {
  /** remote identity; 0 = any identity */
  identity: number;
  direction: 'ingress' | 'egress';
  /** IP protocol number; 0 = any protocol (then the port must be 0) */
  protocol: number;
  /** destination port (ICMP: the type); 0 = any */
  port: number;
  /** inclusive end of a port range (`endPort`) */
  endPort?: number;
  deny?: boolean;
  proxyPort?: number;
  authType?: number;
  /** reported in policy-verdict events (upstream: the rule's cookie) */
  cookie?: number;
}

export interface PolicyMapEntry {
  key: PolicyKey;
  value: PolicyEntryValue;
}

/** Splits [start, end] into the fewest (port, prefix bits) pairs covering exactly that range. */
export function portRangeToPrefixes(start: number, end: number): { port: number; bits: number }[] {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > 65535 || start > end)
    throw new DatapathError(
      'DP_ERR_INVALID',
      `invalid port range ${start}-${end}: ports are 0..65535 and start <= end`,
    );
  const out: { port: number; bits: number }[] = [];
  let p = start;
  while (p <= end) {
    let size = 1;
    let bits = 16;
    // grow the block while it stays aligned and inside the range
    while (bits > 0 && p % (size * 2) === 0 && p + size * 2 - 1 <= end) {
      size *= 2;
      bits--;
    }
    out.push({ port: p, bits });
    p += size;
  }
  return out;
}

function keyOf(r: PolicyRule, port: number, portBits: number): PolicyKey {
  const egress = r.direction === 'egress' ? 1 : 0;
  if (r.protocol === 0) return { prefixlen: PolicyPrefix.static, secLabel: r.identity, egress, protocol: 0, dport: 0 };
  return {
    prefixlen: PolicyPrefix.static + 8 + portBits,
    secLabel: r.identity,
    egress,
    protocol: r.protocol,
    dport: port,
  };
}

function validate(r: PolicyRule): void {
  const bad = (why: string): never => {
    throw new DatapathError('DP_ERR_INVALID', `invalid policy rule ${JSON.stringify(r)}: ${why}`);
  };
  if (!Number.isInteger(r.identity) || r.identity < 0 || r.identity > 0xffffffff) bad('identity must be a u32');
  if (!Number.isInteger(r.protocol) || r.protocol < 0 || r.protocol > 255) bad('protocol must be 0..255');
  if (r.protocol === 0 && (r.port !== 0 || r.endPort)) bad('a port needs a protocol');
  if (r.direction !== 'ingress' && r.direction !== 'egress') bad('direction must be ingress or egress');
}

const hexOf = (k: PolicyKey): string => Buffer.from(policyKey.encode(k)).toString('hex');

/** Compiles rules into normalized map entries (deterministic order: by key bytes). */
export function compilePolicy(rules: readonly PolicyRule[]): PolicyMapEntry[] {
  const byKey = new Map<string, { key: PolicyKey; deny: boolean; rule: PolicyRule }>();
  for (const r of rules) {
    validate(r);
    const ranges =
      r.protocol === 0 || r.port === 0 ? [{ port: 0, bits: 0 }] : portRangeToPrefixes(r.port, r.endPort ?? r.port);
    for (const { port, bits } of ranges) {
      const key = keyOf(r, port, bits);
      const h = hexOf(key);
      const prev = byKey.get(h);
      // the same key twice: deny wins, otherwise the first rule's attributes stay
      if (!prev || (r.deny && !prev.deny)) byKey.set(h, { key, deny: !!r.deny, rule: r });
    }
  }
  const denies = [...byKey.values()].filter((e) => e.deny);
  const out: PolicyMapEntry[] = [];
  for (const [h, e] of [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    void h;
    if (!e.deny && denies.some((d) => covers(d.key, e.key))) continue;
    const plen = e.key.prefixlen - PolicyPrefix.static;
    out.push({
      key: e.key,
      value: {
        proxyPort: e.deny ? 0 : (e.rule.proxyPort ?? 0),
        flags: (e.deny ? POLICY_F_DENY : 0) | (plen << POLICY_PREFIX_SHIFT),
        authType: e.deny ? 0 : (e.rule.authType ?? 0),
        precedence: 0,
        cookie: e.rule.cookie ?? 0,
      },
    });
  }
  return out;
}

/** Does entry `outer` (shorter or equal prefix) match every packet `inner` matches? */
export function covers(outer: PolicyKey, inner: PolicyKey): boolean {
  if (outer.secLabel !== inner.secLabel || outer.egress !== inner.egress || outer.prefixlen > inner.prefixlen)
    return false;
  const bits = outer.prefixlen - PolicyPrefix.static; // bits of (protocol, port) that must agree
  if (bits === 0) return true;
  if (outer.protocol !== inner.protocol) return false;
  const portBits = bits - 8;
  if (portBits <= 0) return true;
  const mask = (0xffff << (16 - portBits)) & 0xffff;
  return (outer.dport & mask) === (inner.dport & mask);
}

export function encodeEntries(entries: readonly PolicyMapEntry[]): { keys: Uint8Array; values: Uint8Array } {
  const keys = new Uint8Array(entries.length * policyKey.size);
  const values = new Uint8Array(entries.length * policyEntry.size);
  entries.forEach((e, i) => {
    policyKey.encode(e.key, keys, i * policyKey.size);
    policyEntry.encode(e.value, values, i * policyEntry.size);
  });
  return { keys, values };
}

/**
 * One resolved policy map entry as policy/ produces it (policy/entries.ts MapEntry): the same
 * shape, declared here because datapath/ imports nothing of ours. Entries are expected to be
 * normalized already (no allow under a shorter deny of the same identity).
 */
export interface ResolvedEntry {
  readonly identity: number;
  readonly direction: 'ingress' | 'egress';
  /** 0 = any protocol (then portPrefix.prefixLen is 0) */
  readonly protocol: number;
  readonly portPrefix: { readonly port: number; readonly prefixLen: number };
  readonly verdict: 'allow' | 'deny';
}

export interface ResolvedDelta {
  readonly added: readonly ResolvedEntry[];
  readonly removed: readonly ResolvedEntry[];
}

export function fromResolved(e: ResolvedEntry): PolicyMapEntry {
  const { port, prefixLen } = e.portPrefix;
  if (
    !Number.isInteger(prefixLen) ||
    prefixLen < 0 ||
    prefixLen > 16 ||
    (e.protocol === 0 && prefixLen !== 0) ||
    port < 0 ||
    port > 65535
  )
    throw new DatapathError(
      'DP_ERR_INVALID',
      `invalid policy map entry ${JSON.stringify(e)}: prefixLen 0..16, and 0 when the protocol is any`,
    );
  const deny = e.verdict === 'deny';
  const key: PolicyKey =
    e.protocol === 0
      ? {
          prefixlen: PolicyPrefix.static,
          secLabel: e.identity,
          egress: e.direction === 'egress' ? 1 : 0,
          protocol: 0,
          dport: 0,
        }
      : {
          prefixlen: PolicyPrefix.static + 8 + prefixLen,
          secLabel: e.identity,
          egress: e.direction === 'egress' ? 1 : 0,
          protocol: e.protocol,
          dport: prefixLen === 0 ? 0 : port & ((0xffff << (16 - prefixLen)) & 0xffff),
        };
  const plen = key.prefixlen - PolicyPrefix.static;
  return {
    key,
    value: {
      proxyPort: 0,
      flags: (deny ? POLICY_F_DENY : 0) | (plen << POLICY_PREFIX_SHIFT),
      authType: 0,
      precedence: 0,
      cookie: 0,
    },
  };
}

/** The inverse of fromResolved (for tests and dumps). */
export function toResolved(e: PolicyMapEntry): ResolvedEntry {
  const bits = e.key.prefixlen - PolicyPrefix.static;
  return {
    identity: e.key.secLabel,
    direction: e.key.egress ? 'egress' : 'ingress',
    protocol: bits === 0 ? 0 : e.key.protocol,
    portPrefix: { port: bits <= 8 ? 0 : e.key.dport, prefixLen: Math.max(0, bits - 8) },
    verdict: e.value.flags & POLICY_F_DENY ? 'deny' : 'allow',
  };
}

/**
 * Orders an in-place delta so that every intermediate map answers as the old or the new policy
 * would for each key: same-key verdict changes are single overwrites, deny entries are written
 * before allow entries are, and allow entries are removed before deny entries.
 */
export function orderDelta(delta: ResolvedDelta): { upserts: PolicyMapEntry[]; deletes: PolicyMapEntry[] } {
  const added = delta.added.map(fromResolved);
  const addedKeys = new Set(added.map((e) => hexOf(e.key)));
  const removed = delta.removed.map(fromResolved).filter((e) => !addedKeys.has(hexOf(e.key)));
  const isDeny = (e: PolicyMapEntry): boolean => (e.value.flags & POLICY_F_DENY) !== 0;
  return {
    upserts: [...added.filter(isDeny), ...added.filter((e) => !isDeny(e))],
    deletes: [...removed.filter((e) => !isDeny(e)), ...removed.filter(isDeny)],
  };
}
