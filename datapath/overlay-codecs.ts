// Codecs and constants of the tunnel maps (datapath/bpf/overlay.h), byte for byte.
// test/datapath/overlay-codecs.test.ts compiles overlay.h with the host compiler and checks every
// size, offset, a filled-in sample and every define against these definitions.
import { Family } from './constants.js';
import { formatIp, parseIp, parsePrefix } from './ip.js';
import { defineStruct, fields, type Struct } from './layout.js';

export const OverlayMapNames = {
  tunnel: 'cilium_tunnel_map',
  config: 'cilium_tunnel_config',
} as const;

/** The programs of overlay.bpf.c by the tc direction each attaches to on the tunnel device. */
export const OverlayPrograms = {
  ingress: 'cil_from_overlay',
  egress: 'cil_to_overlay',
} as const;

/** Geneve mode's programs (framed in BPF, datapath/bpf/geneve.h) on the node's underlay device. */
export const UnderlayPrograms = {
  ingress: 'cil_from_underlay',
  egress: 'cil_to_underlay',
} as const;

/** C define name -> value, for the golden test. */
export const OverlayDefines = {
  TUNNEL_MAP_SIZE: 65536,
  TRACE_TO_OVERLAY: 4,
  TRACE_FROM_OVERLAY: 9,
  IDENTITY_REMOTE_NODE: 6,
  TUNNEL_TTL: 64,
  TUNNEL_PROTO_VXLAN: 1,
  TUNNEL_PROTO_GENEVE: 2,
} as const;

export type TunnelProtocol = 'vxlan' | 'geneve';

export const TunnelProtocolId: Record<TunnelProtocol, number> = {
  vxlan: OverlayDefines.TUNNEL_PROTO_VXLAN,
  geneve: OverlayDefines.TUNNEL_PROTO_GENEVE,
};

export interface TunnelKey {
  ip: Uint8Array;
  family: number;
  clusterId: number;
  pad: number;
}
export const tunnelKey: Struct<TunnelKey> = defineStruct(
  'tunnel_key',
  20,
  fields(['ip', { bytes: 16 }, 0], ['family', 'u8', 16], ['clusterId', 'u8', 17], ['pad', 'u16', 18]),
);

export interface TunnelValue {
  ip: Uint8Array;
  family: number;
  key: number;
  nodeId: number;
}
export const tunnelValue: Struct<TunnelValue> = defineStruct(
  'tunnel_value',
  20,
  fields(['ip', { bytes: 16 }, 0], ['family', 'u8', 16], ['key', 'u8', 17], ['nodeId', 'u16', 18]),
);

export interface TunnelConfig {
  ifindex: number;
  prefixlen4: number;
  protocol: number;
  /** Geneve: the UDP destination port */
  port: number;
  /** Geneve: this node's InternalIP (outer source), 4 bytes */
  localIp4: Uint8Array;
}
export const tunnelConfig: Struct<TunnelConfig> = defineStruct(
  'tunnel_config',
  12,
  fields(
    ['ifindex', 'u32', 0],
    ['prefixlen4', 'u8', 4],
    ['protocol', 'u8', 5],
    ['port', 'be16', 6],
    ['localIp4', { bytes: 4 }, 8],
  ),
);

export const overlayStructs: readonly Struct<unknown>[] = [tunnelKey, tunnelValue, tunnelConfig];

/** One remote node's pod CIDR and the node IP its pods are reached through. */
export interface TunnelEndpoint {
  /** the pod CIDR, e.g. 10.0.2.0/24 (the map keeps its prefix address; the length is the config's) */
  podCidr: string;
  /** the node's InternalIP: the outer destination */
  nodeIp: string;
}

/** The map entry of a tunnel endpoint (IPv4 only: the datapath encapsulates IPv4). */
export function tunnelEntry(e: TunnelEndpoint): { key: Uint8Array; value: Uint8Array } {
  const prefix = parsePrefix(e.podCidr);
  const node = parseIp(e.nodeIp);
  if (prefix.family !== Family.ipv4 || node.family !== Family.ipv4)
    throw new TypeError(`tunnel endpoints are IPv4 only: ${e.podCidr} via ${e.nodeIp}`);
  return {
    key: tunnelKey.encode({ ip: prefix.bytes, family: Family.ipv4, clusterId: 0, pad: 0 }),
    value: tunnelValue.encode({ ip: node.bytes, family: Family.ipv4, key: 0, nodeId: 0 }),
  };
}

/** `cilium-dbg bpf tunnel list`'s rows: prefix address and node IP. */
export function decodeTunnelEntry(key: Uint8Array, value: Uint8Array): { prefix: string; nodeIp: string } {
  const k = tunnelKey.decode(key);
  const v = tunnelValue.decode(value);
  return { prefix: formatIp(k.family, k.ip), nodeIp: formatIp(v.family, v.ip) };
}
