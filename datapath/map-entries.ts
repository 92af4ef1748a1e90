// Desired state -> raw map entries, shared by both backends so they store identical bytes.
// Policy entries come from the policy engine already compiled (ports as prefixes, deny over allow):
// here they are only encoded into the LPM key/value layout of bpf/policy.h.
import {
  endpointInfo,
  endpointKey,
  ipcacheKey,
  policyEntry,
  policyKey,
  remoteEndpointInfo,
  type PolicyEntryValue,
  type PolicyKey,
} from './codecs.js';
import {
  Family,
  IPCACHE_STATIC_PREFIX,
  PolicyPrefix,
  POLICY_F_DENY,
  POLICY_PREFIX_SHIFT,
  PROXY_PORTS,
  type ProxyParser,
} from './constants.js';
import type { EndpointSpec, IpcacheEntry, ResolvedDelta, ResolvedEntry } from './datapath.js';
import { parseMac } from './mac.js';
import { DatapathError, DatapathErrorCode } from './errors.js';
import { parseIp, parsePrefix } from './ip.js';
import type { RawEntry } from './map-sync.js';

/** One entry of an endpoint's LPM policy map, decoded. */
export interface PolicyMapEntry {
  key: PolicyKey;
  value: PolicyEntryValue;
}

export function endpointEntries(eps: readonly EndpointSpec[]): RawEntry[] {
  const out: RawEntry[] = [];
  for (const ep of eps) {
    if (!Number.isInteger(ep.id) || ep.id < 1 || ep.id > 65535)
      throw new DatapathError(DatapathErrorCode.Invalid, `endpoint id ${ep.id} is outside 1..65535`);
    const value = endpointInfo.encode({
      ifindex: ep.ifindex,
      lxcId: ep.id,
      mac: parseMac(ep.mac),
      nodeMac: parseMac(ep.nodeMac),
      secIdentity: ep.identity,
    });
    for (const ip of ep.ips) {
      const a = parseIp(ip);
      out.push({ key: endpointKey.encode({ ip: a.bytes, family: a.family }), value });
    }
  }
  return out;
}

export function ipcacheEntries(entries: readonly IpcacheEntry[]): RawEntry[] {
  // One buffer for all keys and one for all values, each entry a view into them: 50,000 entries
  // were 100,000 ArrayBuffers of 8 and 12 bytes, a quarter of a restart's map sync in their
  // allocation and collection.
  const keys = new Uint8Array(entries.length * ipcacheKey.size);
  const values = new Uint8Array(entries.length * remoteEndpointInfo.size);
  return entries.map((e, i) => {
    const p = parsePrefix(e.prefix);
    const tun = e.tunnelEndpoint ? parseIp(e.tunnelEndpoint) : undefined;
    if (tun && tun.family !== Family.ipv4)
      throw new DatapathError(DatapathErrorCode.Invalid, `tunnel endpoint ${e.tunnelEndpoint} must be IPv4`);
    const tunnelEndpoint = tun
      ? ((tun.bytes[0]! << 24) | (tun.bytes[1]! << 16) | (tun.bytes[2]! << 8) | tun.bytes[3]!) >>> 0
      : 0;
    const k = i * ipcacheKey.size;
    const v = i * remoteEndpointInfo.size;
    ipcacheKey.encode({ prefixlen: IPCACHE_STATIC_PREFIX + p.bits, family: p.family, ip: p.bytes }, keys, k);
    remoteEndpointInfo.encode({ secIdentity: e.identity, tunnelEndpoint, nodeId: e.nodeId ?? 0 }, values, v);
    return {
      key: keys.subarray(k, k + ipcacheKey.size),
      value: values.subarray(v, v + remoteEndpointInfo.size),
    };
  });
}

/** The ipcache map keys of these prefixes. */
export function ipcacheKeys(prefixes: readonly string[]): Uint8Array[] {
  return prefixes.map((prefix) => {
    const p = parsePrefix(prefix);
    return ipcacheKey.encode({ prefixlen: IPCACHE_STATIC_PREFIX + p.bits, family: p.family, ip: p.bytes });
  });
}

export function policyRawEntries(entries: readonly PolicyMapEntry[]): RawEntry[] {
  return entries.map((e) => ({ key: policyKey.encode(e.key), value: policyEntry.encode(e.value) }));
}

/** The map entry for one engine entry (the port masked to its prefix). */
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
      DatapathErrorCode.Invalid,
      `invalid policy map entry ${JSON.stringify(e)}: prefixLen 0..16, and 0 when the protocol is any`,
    );
  const deny = e.verdict === 'deny';
  const egress = e.direction === 'egress' ? 1 : 0;
  const key: PolicyKey =
    e.protocol === 0
      ? { prefixlen: PolicyPrefix.static, secLabel: e.identity, egress, protocol: 0, dport: 0 }
      : {
          prefixlen: PolicyPrefix.static + 8 + prefixLen,
          secLabel: e.identity,
          egress,
          protocol: e.protocol,
          dport: prefixLen === 0 ? 0 : port & ((0xffff << (16 - prefixLen)) & 0xffff),
        };
  const plen = key.prefixlen - PolicyPrefix.static;
  return {
    key,
    value: {
      proxyPort: !deny && e.l7 ? PROXY_PORTS[e.l7] : 0,
      flags: (deny ? POLICY_F_DENY : 0) | (plen << POLICY_PREFIX_SHIFT),
      authType: 0,
      precedence: 0,
      cookie: 0,
    },
  };
}

/** The inverse of fromResolved (for dumps). */
export function toResolved(e: PolicyMapEntry): ResolvedEntry {
  const bits = e.key.prefixlen - PolicyPrefix.static;
  return {
    identity: e.key.secLabel,
    direction: e.key.egress ? 'egress' : 'ingress',
    protocol: bits === 0 ? 0 : e.key.protocol,
    portPrefix: { port: bits <= 8 ? 0 : e.key.dport, prefixLen: Math.max(0, bits - 8) },
    verdict: e.value.flags & POLICY_F_DENY ? 'deny' : 'allow',
    ...(parserOf(e.value.proxyPort) ? { l7: parserOf(e.value.proxyPort) } : {}),
  };
}

/** The parser whose proxy port this is (PROXY_PORTS inverted); undefined for 0 or a port of no parser. */
export function parserOf(proxyPort: number): ProxyParser | undefined {
  if (proxyPort === 0) return undefined;
  return (Object.keys(PROXY_PORTS) as ProxyParser[]).find((k) => PROXY_PORTS[k] === proxyPort);
}

const hexOf = (k: PolicyKey): string => Buffer.from(policyKey.encode(k)).toString('hex');

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
