// The agent's REST API on its unix socket (upstream's `/v1` API in shape and field names, the
// part cilium-ts serves): what cilium-cni and cilium-dbg send and receive. One source of truth
// for the server (controllers/agent) and the client (cni/, cilium-dbg).

/** The default socket; a devcluster node passes its own with `--socket-path`. */
export const DEFAULT_SOCKET_PATH = '/var/run/cilium/cilium.sock';
export const API_PREFIX = '/v1';

/** GET /v1/healthz. */
export interface HealthResponse {
  /** ok: Ready; starting: caches not synced yet; degraded: started, but something keeps it from Ready. */
  status: 'ok' | 'starting' | 'degraded';
  /** Why it is not ok. */
  reason?: string;
}

/** GET /v1/config: what cilium-cni and cilium-dbg need to know about this agent. */
export interface ConfigResponse {
  nodeName: string;
  clusterName: string;
  enforcement: string;
  podCIDR: string;
  router: string;
  /** `cilium-dbg status`'s Masquerading line (controllers/agent/masquerade/). */
  masquerading?: string;
  /** `cilium-dbg status`'s Routing line: native, or the tunnel protocol and how it is framed. */
  routing?: string;
}

/** GET /v1/ipam: this node's pod CIDR and who holds which address. */
export interface IpamStatus {
  cidr: string;
  router?: string;
  used: Record<string, string>;
}

/** GET /v1/identity[/{id}] (upstream Identity model: labels as `source:key=value`). */
export interface IdentityModel {
  id: number;
  labels: string[];
}

/** POST /v1/policy/trace: peers by `{identity}` or `{labels}`. */
export interface TraceRequest {
  source?: unknown;
  destination?: unknown;
  port?: number;
  protocol?: string | number;
}

/** POST /v1/ipam?family=ipv4&owner=<namespace/pod> answers this (upstream IPAMResponse). */
export interface IpamResponse {
  address: { ipv4?: string; ipv6?: string };
  ipv4?: IpamAddressing;
  ipv6?: IpamAddressing;
  'host-addressing': { ipv4?: { ip: string; enabled: boolean }; ipv6?: { ip: string; enabled: boolean } };
}

export interface IpamAddressing {
  /** The allocated address, without prefix length. */
  ip: string;
  /** The next hop for the pod's default route (the node's router address). */
  gateway: string;
  /** The node's pod CIDRs (e.g. `10.200.1.0/24`). */
  cidrs: string[];
  'master-mac'?: string;
  'interface-number'?: string;
}

/** PUT /v1/endpoint/{id}: what the CNI plugin knows after it built the veth pair. */
export interface EndpointChangeRequest {
  'container-id': string;
  /** The pod-side interface name (CNI_IFNAME, usually eth0). */
  'container-interface-name': string;
  /** The host-side veth name; our tc programs attach here. */
  'interface-name': string;
  'interface-index': number;
  /** The pod-side MAC and the host-side MAC. */
  mac: string;
  'host-mac': string;
  addressing: { ipv4?: string; ipv6?: string };
  'k8s-pod-name': string;
  'k8s-namespace': string;
  'netns-path'?: string;
  /** When true the call returns only once the endpoint's datapath is programmed (ready). */
  'sync-build'?: boolean;
}

export type EndpointState =
  | 'creating'
  | 'waiting-for-identity'
  | 'not-ready'
  | 'waiting-to-regenerate'
  | 'regenerating'
  | 'restoring'
  | 'ready'
  | 'disconnecting'
  | 'disconnected'
  | 'invalid';

/** GET /v1/endpoint[/{id}] (a subset of upstream's Endpoint model). */
export interface EndpointModel {
  id: number;
  'container-id': string;
  'interface-name': string;
  'k8s-pod-name': string;
  'k8s-namespace': string;
  addressing: { ipv4?: string; ipv6?: string };
  identity?: { id: number; labels: string[] };
  state: EndpointState;
  policy?: { ingress: { enforcing: boolean }; egress: { enforcing: boolean } };
}

/**
 * Endpoint ids in paths: a numeric endpoint id, `cni-attachment-id:<container-id>:<ifname>` (what
 * the CNI plugin uses, so DEL works without knowing the numeric id), or `pod-name:<ns>/<pod>`.
 */
export function cniAttachmentId(containerId: string, ifName: string): string {
  return `cni-attachment-id:${containerId}:${ifName}`;
}

/** The error body of every non-2xx answer. */
export interface ApiErrorBody {
  code: string;
  message: string;
}
