// Constants of the load-balancer ABI, mirroring datapath/bpf/lb.h (values from upstream Cilium's
// bpf/lib/common.h); test/datapath/lb-codecs.test.ts compares every one with the compiler's.

export const LbMapNames = {
  services: 'cilium_lb4_services_v2',
  backends: 'cilium_lb4_backends_v3',
  revNat: 'cilium_lb4_reverse_nat',
  affinity: 'cilium_lb4_affinity',
  affinityMatch: 'cilium_lb_affinity_match',
  reverseSk: 'cilium_lb4_reverse_sk',
} as const;

/** The socket-LB programs (sock_lb.bpf.c) by the cgroup hook each attaches to. */
export const SockLbPrograms = {
  connect4: 'cil_sock4_connect',
  sendmsg4: 'cil_sock4_sendmsg',
  recvmsg4: 'cil_sock4_recvmsg',
  getpeername4: 'cil_sock4_getpeername',
} as const;
export type CgroupHook = keyof typeof SockLbPrograms;

/** C define name -> value, for the golden test. */
export const LbDefines = {
  LB_SERVICE_MAP_MAX_ENTRIES: 65536,
  LB_BACKENDS_MAP_MAX_ENTRIES: 65536,
  LB_REV_NAT_MAP_MAX_ENTRIES: 65536,
  LB_AFFINITY_MAP_MAX_ENTRIES: 65536,
  LB_REVERSE_SK_MAP_SIZE: 262144,
  LB_LOOKUP_SCOPE_EXT: 0,
  LB_LOOKUP_SCOPE_INT: 1,
  SVC_FLAG_EXTERNAL_IP: 0x01,
  SVC_FLAG_NODEPORT: 0x02,
  SVC_FLAG_EXT_LOCAL_SCOPE: 0x04,
  SVC_FLAG_HOSTPORT: 0x08,
  SVC_FLAG_AFFINITY: 0x10,
  SVC_FLAG_LOADBALANCER: 0x20,
  SVC_FLAG_ROUTABLE: 0x40,
  SVC_FLAG_SOURCE_RANGE: 0x80,
  SVC_FLAG_LOCALREDIRECT: 0x01,
  SVC_FLAG_NAT_46X64: 0x02,
  SVC_FLAG_L7LOADBALANCER: 0x04,
  SVC_FLAG_LOOPBACK: 0x08,
  SVC_FLAG_INT_LOCAL_SCOPE: 0x10,
  SVC_FLAG_TWO_SCOPES: 0x20,
  BE_STATE_ACTIVE: 0,
  BE_STATE_TERMINATING: 1,
  BE_STATE_QUARANTINED: 2,
  BE_STATE_MAINTENANCE: 3,
} as const;

export const LbSizes = {
  services: LbDefines.LB_SERVICE_MAP_MAX_ENTRIES,
  backends: LbDefines.LB_BACKENDS_MAP_MAX_ENTRIES,
  revNat: LbDefines.LB_REV_NAT_MAP_MAX_ENTRIES,
  affinity: LbDefines.LB_AFFINITY_MAP_MAX_ENTRIES,
  reverseSk: LbDefines.LB_REVERSE_SK_MAP_SIZE,
} as const;

export const SvcFlag = {
  externalIp: LbDefines.SVC_FLAG_EXTERNAL_IP,
  nodePort: LbDefines.SVC_FLAG_NODEPORT,
  extLocalScope: LbDefines.SVC_FLAG_EXT_LOCAL_SCOPE,
  hostPort: LbDefines.SVC_FLAG_HOSTPORT,
  affinity: LbDefines.SVC_FLAG_AFFINITY,
  loadBalancer: LbDefines.SVC_FLAG_LOADBALANCER,
  routable: LbDefines.SVC_FLAG_ROUTABLE,
  sourceRange: LbDefines.SVC_FLAG_SOURCE_RANGE,
} as const;

export const SvcFlag2 = {
  localRedirect: LbDefines.SVC_FLAG_LOCALREDIRECT,
  nat46x64: LbDefines.SVC_FLAG_NAT_46X64,
  l7LoadBalancer: LbDefines.SVC_FLAG_L7LOADBALANCER,
  loopback: LbDefines.SVC_FLAG_LOOPBACK,
  intLocalScope: LbDefines.SVC_FLAG_INT_LOCAL_SCOPE,
  twoScopes: LbDefines.SVC_FLAG_TWO_SCOPES,
} as const;

/** lb4_backend.flags, and the names `cilium-dbg service list` prints. */
export const BackendState = { active: 0, terminating: 1, quarantined: 2, maintenance: 3 } as const;
export type BackendStateName = keyof typeof BackendState;

export const LbScope = { ext: 0, int: 1 } as const;
