// Constants of the kernel ABI, mirroring datapath/bpf/lxc.h (values from upstream Cilium's
// bpf/lib/common.h where they exist). Hubble maps drop reasons by absolute value.

export const MapNames = {
  policy: 'cilium_policy_v2',
  ipcache: 'cilium_ipcache_v2',
  endpoints: 'cilium_lxc',
  ct4: 'cilium_ct4_global',
  ct6: 'cilium_ct6_global',
  metrics: 'cilium_metrics',
  events: 'cilium_events',
  config: 'cilium_config',
  eventsBudget: 'cilium_events_budget',
} as const;

export const ProgramNames = { fromContainer: 'cil_from_container', toContainer: 'cil_to_container' } as const;

export const Sizes = {
  policyMap: 16384,
  policyOuter: 65535,
  ipcache: 512000,
  endpoints: 65535,
  ct4: 262144,
  ct6: 131072,
  metrics: 1024,
  eventsRing: 1 << 22,
} as const;

export const Identity = { unknown: 0, host: 1, world: 2 } as const;

export const Family = { ipv4: 1, ipv6: 2 } as const;
export type FamilyId = (typeof Family)[keyof typeof Family];

/** Direction as the metrics map, verdict events and this API use it. */
export const Dir = { ingress: 1, egress: 2 } as const;
export type DirId = (typeof Dir)[keyof typeof Dir];

export const Proto = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58 } as const;

export const PolicyPrefix = { static: 40, full: 64 } as const;
export const POLICY_F_DENY = 0x01;
export const POLICY_PREFIX_SHIFT = 3;
export const IPCACHE_STATIC_PREFIX = 32;

/** dp_config.flags */
export const DP_F_CT_ACCOUNTING = 0x1;
export const DP_F_LOCAL_REDIRECT = 0x2;
/** endpoint_info.flags */
export const ENDPOINT_F_HOST = 1;
/** tc return codes the programs use */
export const TcAct = { ok: 0, shot: 2, redirect: 7 } as const;

export const TupleFlag = { out: 0, in: 1 } as const;
export const CtFlag = { rxClosing: 0x1, txClosing: 0x2, seenNonSyn: 0x10, proxyRedirect: 0x20 } as const;
export const CtStatus = { new: 0, established: 1, reply: 2, related: 3, reopened: 4 } as const;
/** Default conntrack timeouts in seconds (lxc.h). */
export const CtTimeouts = { tcp: 21600, nonTcp: 60, syn: 60, close: 10 } as const;

export const NotifyType = { drop: 1, trace: 4, policyVerdict: 5 } as const;
export const TracePoint = { toLxc: 0, toProxy: 1, fromLxc: 5 } as const;
export const TRACE_PAYLOAD_LEN = 128;

export const PolicyMatch = { none: 0, l3Only: 1, l3L4: 2, l4Only: 3, all: 4, l3Proto: 5, protoOnly: 6 } as const;

/** Drop reasons as the C code returns them (negative); their names are in drop-reasons.ts. */
export const Drop = {
  invalidSip: -132,
  policy: -133,
  invalid: -134,
  ctInvalidHdr: -135,
  unknownL3: -139,
  unknownL4: -142,
  unroutable: -151,
  ctCreateFailed: -155,
  invalidExthdr: -156,
  fragNoSupport: -157,
  noService: -158,
  noConfig: -165,
  natNoMapping: -167,
  invalidIdentity: -171,
  writeError: -141,
  noTunnelKey: -147,
  proxyLookupFailed: -178,
  proxySetFailed: -179,
  proxyUnknownProto: -180,
  policyDeny: -181,
} as const;

/** skb->mark magic (bpf/lxc.h MARK_MAGIC_*): bits 8-11. */
export const MarkMagic = { mask: 0x0f00, toProxy: 0x0200 } as const;

/**
 * The node's proxy ports, one per L7 parser (policy/l7.ts): an allow entry with `l7` gets its
 * parser's port as `proxy_port`. Upstream allocates proxy ports from 10000–20000; fixed here so
 * pinned policy maps stay right across agent restarts. The agent's proxy listens on them.
 */
export const PROXY_PORTS = { http: 10001, dns: 10002 } as const;
export type ProxyParser = keyof typeof PROXY_PORTS;

/** BPF map and program type numbers used by the loader (uapi linux/bpf.h). */
export const BpfMapType = {
  hash: 1,
  array: 2,
  percpuHash: 5,
  percpuArray: 6,
  lruHash: 9,
  lpmTrie: 11,
  arrayOfMaps: 12,
  hashOfMaps: 13,
  ringbuf: 27,
} as const;
export const BpfProgType = { schedCls: 3, xdp: 6 } as const;
export const BPF_F_NO_PREALLOC = 1;
export const BpfUpdate = { any: 0, noexist: 1, exist: 2 } as const;
