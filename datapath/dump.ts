// Readable dumps of the datapath's maps (for `cilium-dbg bpf ... list`, restore checks and the
// tests that compare the kernel's state with the sim's): raw entries -> plain objects.
import {
  ctEntry,
  endpointInfo,
  endpointKey,
  ipcacheKey,
  ipv4CtTuple,
  ipv6CtTuple,
  policyEntry,
  policyKey,
  remoteEndpointInfo,
} from './codecs.js';
import { CtFlag, Family, IPCACHE_STATIC_PREFIX } from './constants.js';
import type { ResolvedEntry } from './datapath.js';
import { formatMac } from './mac.js';
import { formatIp } from './ip.js';
import { toResolved } from './map-entries.js';
import type { RawEntry } from './map-sync.js';

export interface EndpointDump {
  ip: string;
  id: number;
  ifindex: number;
  identity: number;
  /** the pod's MAC and its host-side veth's, when the agent knows them (local delivery needs both) */
  mac?: string;
  nodeMac?: string;
}

export interface IpcacheDump {
  prefix: string;
  identity: number;
}

export interface ConntrackDump {
  /** as the originating packet carried them */
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  /** which hook created the entry: an endpoint's egress ('out') or its ingress ('in') */
  created: 'out' | 'in';
  closing: boolean;
  seenNonSyn: boolean;
  /** remote identity when the entry was created */
  remoteIdentity: number;
  /** monotonic seconds after which the entry is dead */
  lifetime: number;
}

export function decodeEndpoints(raw: readonly RawEntry[]): EndpointDump[] {
  return raw
    .map((e) => {
      const k = endpointKey.decode(e.key);
      const v = endpointInfo.decode(e.value);
      const mac = formatMac(v.mac);
      const nodeMac = formatMac(v.nodeMac);
      return {
        ip: formatIp(k.family, k.ip),
        id: v.lxcId,
        ifindex: v.ifindex,
        identity: v.secIdentity,
        ...(mac ? { mac } : {}),
        ...(nodeMac ? { nodeMac } : {}),
      };
    })
    .sort((a, b) => a.id - b.id || (a.ip < b.ip ? -1 : 1));
}

export function decodeIpcache(raw: readonly RawEntry[]): IpcacheDump[] {
  return raw
    .map((e) => {
      const k = ipcacheKey.decode(e.key);
      return {
        prefix: `${formatIp(k.family, k.ip)}/${k.prefixlen - IPCACHE_STATIC_PREFIX}`,
        identity: remoteEndpointInfo.decode(e.value).secIdentity,
      };
    })
    .sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
}

export function decodePolicy(raw: readonly RawEntry[]): (ResolvedEntry & { cookie: number })[] {
  return raw
    .map((e) => {
      const value = policyEntry.decode(e.value);
      return { ...toResolved({ key: policyKey.decode(e.key), value }), cookie: value.cookie };
    })
    .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}

export function decodeConntrack(raw4: readonly RawEntry[], raw6: readonly RawEntry[]): ConntrackDump[] {
  const one = (family: number, e: RawEntry): ConntrackDump => {
    const t = (family === Family.ipv4 ? ipv4CtTuple : ipv6CtTuple).decode(e.key);
    const v = ctEntry.decode(e.value);
    return {
      src: formatIp(family, t.saddr),
      dst: formatIp(family, t.daddr),
      sport: t.sport,
      dport: t.dport,
      proto: t.nexthdr,
      created: t.flags === 1 ? 'in' : 'out',
      closing: (v.flags & (CtFlag.rxClosing | CtFlag.txClosing)) !== 0,
      seenNonSyn: (v.flags & CtFlag.seenNonSyn) !== 0,
      remoteIdentity: v.srcSecId,
      lifetime: v.lifetime,
    };
  };
  return [...raw4.map((e) => one(Family.ipv4, e)), ...raw6.map((e) => one(Family.ipv6, e))].sort((a, b) =>
    JSON.stringify({ ...a, lifetime: 0 }) < JSON.stringify({ ...b, lifetime: 0 }) ? -1 : 1,
  );
}
