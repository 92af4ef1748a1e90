// Codecs and constants of the per-packet NodePort maps (datapath/bpf/nodeport.h), byte for byte.
// test/datapath/nodeport-codecs.test.ts compiles nodeport.h with the host compiler and checks every
// size, offset, a filled-in sample and every define against these definitions.
import { defineStruct, fields, type Struct } from './layout.js';

export const NodePortMapNames = {
  ct: 'cilium_lb4_nodeport_ct',
  rev: 'cilium_lb4_nodeport_rev',
} as const;

/** The programs of nodeport.bpf.c by the tc direction each attaches to on the node's device. */
export const NodePortPrograms = {
  ingress: 'cil_from_netdev',
  egress: 'cil_to_netdev',
} as const;

/** C define name -> value, for the golden test. */
export const NodePortDefines = {
  NODEPORT_CT_MAP_SIZE: 262144,
  NODEPORT_REV_MAP_SIZE: 262144,
  NODEPORT_LIFETIME_TCP: 21600,
  NODEPORT_LIFETIME_SYN: 60,
  NODEPORT_LIFETIME_CLOSE: 10,
  NODEPORT_LIFETIME_NONTCP: 60,
  NODEPORT_SNAT_TRIES: 16,
  NODEPORT_SNAT_PORT_MIN: 1024,
  NODEPORT_F_SNAT: 0x01,
  NODEPORT_F_LOCAL: 0x02,
} as const;

export const NodePortFlag = {
  snat: NodePortDefines.NODEPORT_F_SNAT,
  local: NodePortDefines.NODEPORT_F_LOCAL,
} as const;

/** Addresses as host-order u32 (ipv4ToU32), ports as numbers; the codec writes network order. */
export interface NodePortTuple {
  saddr: number;
  daddr: number;
  sport: number;
  dport: number;
  proto: number;
}
export const nodePortTuple: Struct<NodePortTuple> = defineStruct(
  'nodeport_tuple',
  16,
  fields(['saddr', 'be32', 0], ['daddr', 'be32', 4], ['sport', 'be16', 8], ['dport', 'be16', 10], ['proto', 'u8', 12]),
);

export interface NodePortCtEntry {
  backendAddr: number;
  natAddr: number;
  backendPort: number;
  natPort: number;
  backendId: number;
  lifetime: number;
  revNatIndex: number;
  flags: number;
}
export const nodePortCtEntry: Struct<NodePortCtEntry> = defineStruct(
  'nodeport_ct_entry',
  24,
  fields(
    ['backendAddr', 'be32', 0],
    ['natAddr', 'be32', 4],
    ['backendPort', 'be16', 8],
    ['natPort', 'be16', 10],
    ['backendId', 'u32', 12],
    ['lifetime', 'u32', 16],
    ['revNatIndex', 'u16', 20],
    ['flags', 'u8', 22],
  ),
);

export interface NodePortRevEntry {
  clientAddr: number;
  frontendAddr: number;
  clientPort: number;
  frontendPort: number;
  lifetime: number;
  flags: number;
}
export const nodePortRevEntry: Struct<NodePortRevEntry> = defineStruct(
  'nodeport_rev_entry',
  20,
  fields(
    ['clientAddr', 'be32', 0],
    ['frontendAddr', 'be32', 4],
    ['clientPort', 'be16', 8],
    ['frontendPort', 'be16', 10],
    ['lifetime', 'u32', 12],
    ['flags', 'u8', 16],
  ),
);

export const nodePortStructs: readonly Struct<unknown>[] = [nodePortTuple, nodePortCtEntry, nodePortRevEntry];
