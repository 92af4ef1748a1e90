// Codecs and constants of the proxy's original-destination map (datapath/bpf/proxy.h), byte for
// byte. test/datapath/proxy-codecs.test.ts compiles proxy.h with the host compiler and checks every
// size, offset, a filled-in sample and every define against these definitions.
import { defineStruct, fields, type Struct } from './layout.js';

export const ProxyMapNames = { proxy4: 'cilium_proxy4' } as const;

/** C define name -> value, for the golden test. */
export const ProxyDefines = {
  PROXY4_MAP_SIZE: 16384,
  PROXY4_LIFETIME: 60,
} as const;

/** Addresses as host-order u32 (lb.ts ipv4ToU32), ports as numbers; the codec writes network order. */
export interface Proxy4Key {
  saddr: number;
  dport: number;
  sport: number;
  nexthdr: number;
  pad: number;
}
export const proxy4Key: Struct<Proxy4Key> = defineStruct(
  'proxy4_tbl_key',
  10,
  fields(['saddr', 'be32', 0], ['dport', 'be16', 4], ['sport', 'be16', 6], ['nexthdr', 'u8', 8], ['pad', 'u8', 9]),
);

export interface Proxy4Value {
  origDaddr: number;
  origDport: number;
  pad1: number;
  identity: number;
  lifetime: number;
}
export const proxy4Value: Struct<Proxy4Value> = defineStruct(
  'proxy4_tbl_value',
  16,
  fields(
    ['origDaddr', 'be32', 0],
    ['origDport', 'be16', 4],
    ['pad1', 'u16', 6],
    ['identity', 'u32', 8],
    ['lifetime', 'u32', 12],
  ),
);

export const proxyStructs: readonly Struct<unknown>[] = [proxy4Key, proxy4Value];
