// Codecs for the load-balancer maps of datapath/bpf/lb.h, byte for byte.
// test/datapath/lb-codecs.test.ts compiles lb.h with the host compiler and checks every size,
// offset and a filled-in sample against these definitions.
import { defineStruct, fields, type Struct } from './layout.js';

export interface Lb4Key {
  address: number;
  dport: number;
  backendSlot: number;
  proto: number;
  scope: number;
}
export const lb4Key: Struct<Lb4Key> = defineStruct(
  'lb4_key',
  12,
  fields(
    ['address', 'be32', 0],
    ['dport', 'be16', 4],
    ['backendSlot', 'u16', 6],
    ['proto', 'u8', 8],
    ['scope', 'u8', 9],
  ),
);

/** `backendId` on backend slots; on the frontend (slot 0) the same field is the affinity timeout. */
export interface Lb4Service {
  backendId: number;
  count: number;
  revNatIndex: number;
  flags: number;
  flags2: number;
}
export const lb4Service: Struct<Lb4Service> = defineStruct(
  'lb4_service',
  12,
  fields(
    ['backendId', 'u32', 0],
    ['count', 'u16', 4],
    ['revNatIndex', 'u16', 6],
    ['flags', 'u8', 8],
    ['flags2', 'u8', 9],
  ),
);

export interface Lb4Backend {
  address: number;
  port: number;
  proto: number;
  flags: number;
  clusterId: number;
}
export const lb4Backend: Struct<Lb4Backend> = defineStruct(
  'lb4_backend',
  12,
  fields(['address', 'be32', 0], ['port', 'be16', 4], ['proto', 'u8', 6], ['flags', 'u8', 7], ['clusterId', 'u8', 8]),
);

export interface Lb4ReverseNat {
  address: number;
  port: number;
}
export const lb4ReverseNat: Struct<Lb4ReverseNat> = defineStruct(
  'lb4_reverse_nat',
  8,
  fields(['address', 'be32', 0], ['port', 'be16', 4]),
);

export interface Lb4AffinityKey {
  clientId: number;
  revNatId: number;
  netnsCookie: number;
}
export const lb4AffinityKey: Struct<Lb4AffinityKey> = defineStruct(
  'lb4_affinity_key',
  16,
  fields(['clientId', 'u64', 0], ['revNatId', 'u16', 8], ['netnsCookie', 'u8', 10]),
);

export interface LbAffinityVal {
  lastUsed: number;
  backendId: number;
}
export const lbAffinityVal: Struct<LbAffinityVal> = defineStruct(
  'lb_affinity_val',
  16,
  fields(['lastUsed', 'u64', 0], ['backendId', 'u32', 8]),
);

export interface LbAffinityMatch {
  backendId: number;
  revNatId: number;
}
export const lbAffinityMatch: Struct<LbAffinityMatch> = defineStruct(
  'lb_affinity_match',
  8,
  fields(['backendId', 'u32', 0], ['revNatId', 'u16', 4]),
);

export interface Ipv4RevnatTuple {
  cookie: number;
  address: number;
  port: number;
}
export const ipv4RevnatTuple: Struct<Ipv4RevnatTuple> = defineStruct(
  'ipv4_revnat_tuple',
  16,
  fields(['cookie', 'u64', 0], ['address', 'be32', 8], ['port', 'be16', 12]),
);

export interface Ipv4RevnatEntry {
  address: number;
  port: number;
  revNatIndex: number;
}
export const ipv4RevnatEntry: Struct<Ipv4RevnatEntry> = defineStruct(
  'ipv4_revnat_entry',
  8,
  fields(['address', 'be32', 0], ['port', 'be16', 4], ['revNatIndex', 'u16', 6]),
);

/** Every struct of lb.h: the golden test walks this list. */
export const lbStructs: readonly Struct<unknown>[] = [
  lb4Key,
  lb4Service,
  lb4Backend,
  lb4ReverseNat,
  lb4AffinityKey,
  lbAffinityVal,
  lbAffinityMatch,
  ipv4RevnatTuple,
  ipv4RevnatEntry,
] as Struct<unknown>[];
