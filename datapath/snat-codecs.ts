// Codecs and constants of the masquerading maps (datapath/bpf/nat.h), byte for byte.
// test/datapath/snat-codecs.test.ts compiles nat.h with the host compiler and checks every size,
// offset, a filled-in sample and every define against these definitions. The key of
// cilium_snat_v4_external is the conntrack tuple (codecs.ts ipv4CtTuple), as upstream's.
import { defineStruct, fields, type Struct } from './layout.js';

export const SnatMapNames = {
  external: 'cilium_snat_v4_external',
  config: 'cilium_snat_v4_config',
} as const;

/** C define name -> value, for the golden test. */
export const SnatDefines = {
  SNAT_MAP_SIZE_V4: 524288,
  NAT_DIR_EGRESS: 0,
  NAT_DIR_INGRESS: 1,
  SNAT_PORT_MIN: 32768,
  SNAT_PORT_MAX: 65535,
  SNAT_COLLISION_RETRIES: 32,
  SNAT_LIFETIME_TCP: 21600,
  SNAT_LIFETIME_SYN: 60,
  SNAT_LIFETIME_CLOSE: 10,
  SNAT_LIFETIME_NONTCP: 60,
  SNAT_F_ENABLED: 0x01,
} as const;

export const NatDir = { egress: SnatDefines.NAT_DIR_EGRESS, ingress: SnatDefines.NAT_DIR_INGRESS } as const;

/** Addresses as host-order u32 (ipv4ToU32), ports as numbers; the codec writes network order. */
export interface Ipv4NatEntry {
  created: number;
  needsCt: number;
  lifetime: number;
  toAddr: number;
  toPort: number;
}
export const ipv4NatEntry: Struct<Ipv4NatEntry> = defineStruct(
  'ipv4_nat_entry',
  40,
  fields(
    ['created', 'u64', 0],
    ['needsCt', 'u64', 8],
    ['lifetime', 'u32', 16],
    ['toAddr', 'be32', 32],
    ['toPort', 'be16', 36],
  ),
);

export interface SnatConfig {
  nodeAddr: number;
  excludeAddr: number;
  excludeMask: number;
  portMin: number;
  portMax: number;
  flags: number;
}
export const snatConfig: Struct<SnatConfig> = defineStruct(
  'snat_config',
  20,
  fields(
    ['nodeAddr', 'be32', 0],
    ['excludeAddr', 'be32', 4],
    ['excludeMask', 'be32', 8],
    ['portMin', 'u16', 12],
    ['portMax', 'u16', 14],
    ['flags', 'u8', 16],
  ),
);

export const snatStructs: readonly Struct<unknown>[] = [ipv4NatEntry, snatConfig];
