// Desired state -> raw map entries, shared by both backends so they store identical bytes.
import { endpointInfo, endpointKey, ipcacheKey, policyEntry, policyKey, remoteEndpointInfo } from './codecs.js';
import { Family, IPCACHE_STATIC_PREFIX } from './constants.js';
import { parseMac, type EndpointSpec, type IpcacheEntry } from './datapath.js';
import { DatapathError } from './errors.js';
import { parseIp, parsePrefix } from './ip.js';
import type { RawEntry } from './map-sync.js';
import type { PolicyMapEntry } from './policy-entries.js';

export function endpointEntries(eps: readonly EndpointSpec[]): RawEntry[] {
  const out: RawEntry[] = [];
  for (const ep of eps) {
    if (!Number.isInteger(ep.id) || ep.id < 1 || ep.id > 65535)
      throw new DatapathError('DP_ERR_INVALID', `endpoint id ${ep.id} is outside 1..65535`);
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
  return entries.map((e) => {
    const p = parsePrefix(e.prefix);
    const tun = e.tunnelEndpoint ? parseIp(e.tunnelEndpoint) : undefined;
    if (tun && tun.family !== Family.ipv4)
      throw new DatapathError('DP_ERR_INVALID', `tunnel endpoint ${e.tunnelEndpoint} must be IPv4`);
    const tunnelEndpoint = tun
      ? ((tun.bytes[0]! << 24) | (tun.bytes[1]! << 16) | (tun.bytes[2]! << 8) | tun.bytes[3]!) >>> 0
      : 0;
    return {
      key: ipcacheKey.encode({ prefixlen: IPCACHE_STATIC_PREFIX + p.bits, family: p.family, ip: p.bytes }),
      value: remoteEndpointInfo.encode({ secIdentity: e.identity, tunnelEndpoint, nodeId: e.nodeId ?? 0 }),
    };
  });
}

export function policyRawEntries(entries: readonly PolicyMapEntry[]): RawEntry[] {
  return entries.map((e) => ({ key: policyKey.encode(e.key), value: policyEntry.encode(e.value) }));
}
