// Codecs for every map key, map value and event in datapath/bpf/lxc.h, byte for byte.
// test/datapath/codecs.test.ts compiles lxc.h with the host compiler and checks every size,
// offset and a filled-in sample against these definitions. Integers are little-endian (the
// host order of every machine we run on: x86-64, arm64); `be16`/`be32` fields are network order.
import { defineStruct, fields, type Struct } from './layout.js';

export interface PolicyKey {
  prefixlen: number;
  secLabel: number;
  egress: number;
  protocol: number;
  dport: number;
}
export const policyKey: Struct<PolicyKey> = defineStruct(
  'policy_key',
  12,
  fields(
    ['prefixlen', 'u32', 0],
    ['secLabel', 'u32', 4],
    ['egress', 'u8', 8],
    ['protocol', 'u8', 9],
    ['dport', 'be16', 10],
  ),
);

export interface PolicyEntryValue {
  proxyPort: number;
  flags: number;
  authType: number;
  precedence: number;
  cookie: number;
}
export const policyEntry: Struct<PolicyEntryValue> = defineStruct(
  'policy_entry',
  12,
  fields(
    ['proxyPort', 'be16', 0],
    ['flags', 'u8', 2],
    ['authType', 'u8', 3],
    ['precedence', 'u32', 4],
    ['cookie', 'u32', 8],
  ),
);

export interface IpcacheKey {
  prefixlen: number;
  pad1: number;
  pad2: number;
  family: number;
  ip: Uint8Array;
}
export const ipcacheKey: Struct<IpcacheKey> = defineStruct(
  'ipcache_key',
  24,
  fields(['prefixlen', 'u32', 0], ['pad1', 'u16', 4], ['pad2', 'u8', 6], ['family', 'u8', 7], ['ip', { bytes: 16 }, 8]),
);

export interface RemoteEndpointInfo {
  secIdentity: number;
  tunnelEndpoint: number;
  nodeId: number;
  key: number;
  flags: number;
}
export const remoteEndpointInfo: Struct<RemoteEndpointInfo> = defineStruct(
  'remote_endpoint_info',
  12,
  fields(
    ['secIdentity', 'u32', 0],
    ['tunnelEndpoint', 'be32', 4],
    ['nodeId', 'u16', 8],
    ['key', 'u8', 10],
    ['flags', 'u8', 11],
  ),
);

export interface EndpointKey {
  ip: Uint8Array;
  family: number;
  key: number;
  clusterId: number;
  pad: number;
}
export const endpointKey: Struct<EndpointKey> = defineStruct(
  'endpoint_key',
  20,
  fields(['ip', { bytes: 16 }, 0], ['family', 'u8', 16], ['key', 'u8', 17], ['clusterId', 'u8', 18], ['pad', 'u8', 19]),
);

export interface EndpointInfo {
  ifindex: number;
  unused: number;
  lxcId: number;
  flags: number;
  mac: Uint8Array;
  nodeMac: Uint8Array;
  secIdentity: number;
}
export const endpointInfo: Struct<EndpointInfo> = defineStruct(
  'endpoint_info',
  40,
  fields(
    ['ifindex', 'u32', 0],
    ['unused', 'u16', 4],
    ['lxcId', 'u16', 6],
    ['flags', 'u32', 8],
    ['mac', { bytes: 6 }, 12],
    ['nodeMac', { bytes: 6 }, 18],
    ['secIdentity', 'u32', 24],
  ),
);

export interface CtTuple {
  daddr: Uint8Array;
  saddr: Uint8Array;
  dport: number;
  sport: number;
  nexthdr: number;
  flags: number;
}
export const ipv4CtTuple: Struct<CtTuple> = defineStruct(
  'ipv4_ct_tuple',
  14,
  fields(
    ['daddr', { bytes: 4 }, 0],
    ['saddr', { bytes: 4 }, 4],
    ['dport', 'be16', 8],
    ['sport', 'be16', 10],
    ['nexthdr', 'u8', 12],
    ['flags', 'u8', 13],
  ),
);
export const ipv6CtTuple: Struct<CtTuple> = defineStruct(
  'ipv6_ct_tuple',
  38,
  fields(
    ['daddr', { bytes: 16 }, 0],
    ['saddr', { bytes: 16 }, 16],
    ['dport', 'be16', 32],
    ['sport', 'be16', 34],
    ['nexthdr', 'u8', 36],
    ['flags', 'u8', 37],
  ),
);

export interface CtEntry {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  lifetime: number;
  flags: number;
  revNatIndex: number;
  ifindex: number;
  txFlagsSeen: number;
  rxFlagsSeen: number;
  srcSecId: number;
  lastTxReport: number;
  lastRxReport: number;
}
export const ctEntry: Struct<CtEntry> = defineStruct(
  'ct_entry',
  56,
  fields(
    ['rxPackets', 'u64', 0],
    ['rxBytes', 'u64', 8],
    ['txPackets', 'u64', 16],
    ['txBytes', 'u64', 24],
    ['lifetime', 'u32', 32],
    ['flags', 'u16', 36],
    ['revNatIndex', 'u16', 38],
    ['ifindex', 'u16', 40],
    ['txFlagsSeen', 'u8', 42],
    ['rxFlagsSeen', 'u8', 43],
    ['srcSecId', 'u32', 44],
    ['lastTxReport', 'u32', 48],
    ['lastRxReport', 'u32', 52],
  ),
);

export interface MetricsKey {
  reason: number;
  dir: number;
}
export const metricsKey: Struct<MetricsKey> = defineStruct(
  'metrics_key',
  8,
  fields(['reason', 'u8', 0], ['dir', 'u8', 1]),
);

export interface MetricsValue {
  count: number;
  bytes: number;
}
export const metricsValue: Struct<MetricsValue> = defineStruct(
  'metrics_value',
  16,
  fields(['count', 'u64', 0], ['bytes', 'u64', 8]),
);

export interface DpConfig {
  eventsRate: number;
  eventsBurst: number;
  ctLifetimeTcp: number;
  ctLifetimeNontcp: number;
  ctSynTimeout: number;
  ctCloseTimeout: number;
  flags: number;
}
export const dpConfig: Struct<DpConfig> = defineStruct(
  'dp_config',
  32,
  fields(
    ['eventsRate', 'u32', 0],
    ['eventsBurst', 'u32', 4],
    ['ctLifetimeTcp', 'u32', 8],
    ['ctLifetimeNontcp', 'u32', 12],
    ['ctSynTimeout', 'u32', 16],
    ['ctCloseTimeout', 'u32', 20],
    ['flags', 'u32', 24],
  ),
);

export interface EventsBudget {
  tokensNs: number;
  lastNs: number;
  lostRatelimit: number;
  lostRingFull: number;
}
export const eventsBudget: Struct<EventsBudget> = defineStruct(
  'events_budget',
  32,
  fields(['tokensNs', 'u64', 0], ['lastNs', 'u64', 8], ['lostRatelimit', 'u64', 16], ['lostRingFull', 'u64', 24]),
);

export interface DropNotify {
  type: number;
  subtype: number;
  source: number;
  hash: number;
  lenOrig: number;
  lenCap: number;
  version: number;
  srcLabel: number;
  dstLabel: number;
  dstId: number;
  line: number;
  file: number;
  extError: number;
  ifindex: number;
  flags: number;
  data: Uint8Array;
}
export const dropNotify: Struct<DropNotify> = defineStruct(
  'drop_notify',
  168,
  fields(
    ['type', 'u8', 0],
    ['subtype', 'u8', 1],
    ['source', 'u16', 2],
    ['hash', 'u32', 4],
    ['lenOrig', 'u32', 8],
    ['lenCap', 'u16', 12],
    ['version', 'u16', 14],
    ['srcLabel', 'u32', 16],
    ['dstLabel', 'u32', 20],
    ['dstId', 'u32', 24],
    ['line', 'u16', 28],
    ['file', 'u8', 30],
    ['extError', 'i8', 31],
    ['ifindex', 'u32', 32],
    ['flags', 'u8', 36],
    ['data', { bytes: 128 }, 40],
  ),
);

export interface TraceNotify {
  type: number;
  obsPoint: number;
  source: number;
  hash: number;
  lenOrig: number;
  lenCap: number;
  version: number;
  extVersion: number;
  srcLabel: number;
  dstLabel: number;
  dstId: number;
  reason: number;
  flags: number;
  ifindex: number;
  origIp: Uint8Array;
  data: Uint8Array;
}
export const traceNotify: Struct<TraceNotify> = defineStruct(
  'trace_notify',
  176,
  fields(
    ['type', 'u8', 0],
    ['obsPoint', 'u8', 1],
    ['source', 'u16', 2],
    ['hash', 'u32', 4],
    ['lenOrig', 'u32', 8],
    ['lenCap', 'u16', 12],
    ['version', 'u8', 14],
    ['extVersion', 'u8', 15],
    ['srcLabel', 'u32', 16],
    ['dstLabel', 'u32', 20],
    ['dstId', 'u16', 24],
    ['reason', 'u8', 26],
    ['flags', 'u8', 27],
    ['ifindex', 'u32', 28],
    ['origIp', { bytes: 16 }, 32],
    ['data', { bytes: 128 }, 48],
  ),
);

export interface PolicyVerdictNotify {
  type: number;
  subtype: number;
  source: number;
  hash: number;
  lenOrig: number;
  lenCap: number;
  version: number;
  extVersion: number;
  remoteLabel: number;
  verdict: number;
  dstPort: number;
  proto: number;
  flags: number;
  authType: number;
  cookie: number;
  data: Uint8Array;
}
export const policyVerdictNotify: Struct<PolicyVerdictNotify> = defineStruct(
  'policy_verdict_notify',
  168,
  fields(
    ['type', 'u8', 0],
    ['subtype', 'u8', 1],
    ['source', 'u16', 2],
    ['hash', 'u32', 4],
    ['lenOrig', 'u32', 8],
    ['lenCap', 'u16', 12],
    ['version', 'u8', 14],
    ['extVersion', 'u8', 15],
    ['remoteLabel', 'u32', 16],
    ['verdict', 'i32', 20],
    ['dstPort', 'u16', 24],
    ['proto', 'u8', 26],
    ['flags', 'u8', 27],
    ['authType', 'u8', 28],
    ['cookie', 'u32', 32],
    ['data', { bytes: 128 }, 40],
  ),
);

/** Every struct, by its C name: the golden test walks this list. */
export const allStructs: readonly Struct<unknown>[] = [
  policyKey,
  policyEntry,
  ipcacheKey,
  remoteEndpointInfo,
  endpointKey,
  endpointInfo,
  ipv4CtTuple,
  ipv6CtTuple,
  ctEntry,
  metricsKey,
  metricsValue,
  dpConfig,
  eventsBudget,
  dropNotify,
  traceNotify,
  policyVerdictNotify,
] as Struct<unknown>[];
