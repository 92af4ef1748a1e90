// The agent's options: upstream's cilium-config keys (read from `--config-dir`) and flags. The
// ConfigMap keys and their defaults when absent are those config/cilium-config.ts lists (the one
// source: the reads here give no default); flags give theirs here. The
// hubble-* keys are read by hubble/options.ts (wired in cmd/cilium-agent.ts). `agentOptions`
// reads every key it knows on every call, so the keys it reads are exactly the keys it knows,
// and refuses a value it cannot act on with a ConfigError naming the key.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CONFIG_DEFAULTS } from '../../config/cilium-config.js';
import {
  ConfigReader,
  apiServerEndpoint,
  refuseUnsupportedCluster,
  type ApiServerEndpoint,
  type ListenAddress,
} from '../framework/index.js';
import { kvstoreConfig } from '../kvstore/config.js';
import type { KvstoreOptions } from '../kvstore/options.js';
import { DEFAULT_SOCKET_PATH } from './api/types.js';
import { AgentErrorCode } from './errors.js';
import { fqdnOptions, type FqdnPolicyOptions } from './l7/fqdn-options.js';
import { masqueradeOptions, type MasqueradeOptions } from './masquerade/options.js';

/** The stable code of the agent's configuration errors. */
export const AGENT_CONFIG_ERROR = AgentErrorCode.Config;

export type EnforcementMode = 'default' | 'always' | 'never';

export interface AgentOptions {
  /** This node (`K8S_NODE_NAME`, or `--node-name`). */
  nodeName: string;
  /** A kubeconfig; absent: in-cluster or ~/.kube/config. */
  kubeconfig?: string;
  /** `debug`: log at debug level. */
  debug: boolean;
  /** `cluster-name`: every endpoint gets `io.cilium.k8s.policy.cluster=<name>`. */
  clusterName: string;
  /**
   * `cluster-id` (0..255, 0 = not meshed): put in bits 16–23 of every identity this agent
   * allocates, as upstream does, so identities of meshed clusters never collide. Every agent of
   * a cluster must use the same id; changing it gives every endpoint a new identity.
   */
  clusterId: number;
  /**
   * Not `disable-cnp-status-updates`: this agent writes the Valid condition into every CNP and CCNP
   * as well as the operator (off by default, as upstream: with every agent writing into every
   * policy, the status writes and the watch events they cause grow with nodes × policies).
   */
  cnpStatusUpdates: boolean;
  /**
   * `enable-l7-proxy`: the agent runs the HTTP proxy (controllers/agent/l7) that ports with L7
   * rules are redirected to, and the node routing it needs. Off, such ports are dropped
   * (DROP_PROXY_LOOKUP_FAILED): the datapath redirects, nobody listens.
   */
  l7Proxy: boolean;
  /**
   * `external-l7-proxy`: the proxies are cilium-l7proxy's (its own DaemonSet) and the agent's, on
   * the same ports (decision 34); the agent serves the proxy process their state.
   */
  externalL7Proxy: boolean;
  /** `enable-policy`: default (deny once selected), always, never. */
  enforcement: EnforcementMode;
  /** REST API socket (CNI plugin, cilium-dbg). */
  socketPath: string;
  /** Per-endpoint state files live here; they and the pinned maps let a restart change nothing. */
  stateDir: string;
  /** `bpf-root`: the bpffs mount; maps are pinned under `<bpf-root>/tc/globals`. */
  bpfRoot: string;
  /** `kernel` (eBPF through the addon) or `sim` (userspace, machines without eBPF). */
  datapath: 'kernel' | 'sim';
  /** `agent-health-port` on 127.0.0.1 (0 = any free port; the devcluster runs agents side by side). */
  healthPort: number;
  /**
   * `prometheus-serve-addr` (":9962" in the manifests): a listener serving only `/metrics`;
   * absent = none (upstream's default too). `/metrics` is also on the health port.
   */
  prometheusAddr?: ListenAddress;
  /**
   * Install routes to other nodes' pod CIDRs via their InternalIP (upstream's
   * `auto-direct-node-routes` in native routing mode). Needs the nodes on one L2 segment.
   */
  autoDirectNodeRoutes: boolean;
  /**
   * `routing-mode`: `native` (the node network routes pod CIDRs; with `auto-direct-node-routes`
   * the agent installs the routes) or `tunnel` (pods' packets to other nodes are encapsulated in
   * VXLAN or Geneve by the datapath, carrying the source identity; the nodes only need to reach
   * each other's InternalIP over UDP `tunnelPort`). Tunnel mode costs 50 bytes of MTU per packet.
   */
  routingMode: RoutingMode;
  /** `tunnel-protocol`: the tunnel device's kind in tunnel mode. */
  tunnelProtocol: TunnelProtocol;
  /** `tunnel-port` (0 in the ConfigMap = the protocol's port: VXLAN 8472, Geneve 6081). Every node must agree. */
  tunnelPort: number;
  /**
   * Set up cilium_host, forwarding and node routes in the agent's network namespace. Only false
   * for control-plane tests that run the agent in the host's namespace (the host is not ours).
   */
  manageNodeNetwork: boolean;
  /** `bpf-policy-map-max`: entries of each endpoint's policy map (256..65536, as upstream). */
  policyMapMax: number;
  /**
   * Entries of the IPv4 conntrack map cilium_ct4_global: `bpf-ct-global-tcp-max` +
   * `bpf-ct-global-any-max`. Upstream keeps TCP and non-TCP flows in two maps per family; cilium-ts
   * keeps both in one LRU map per family, so it gets the capacity of both. The IPv6 map keeps its
   * compiled size (IPv6 pods are refused, see `enable-ipv6`). A pinned map of another size is
   * recreated at start-up: the connections it tracked are then looked at by policy again.
   * Memory: about 120 bytes per entry, allocated up front (LRU maps are preallocated).
   */
  ctMapSize: number;
  /**
   * `conntrack-gc-interval`: period of the conntrack garbage collector that deletes expired
   * entries (ms); 0 = adaptive, as upstream: 5 min at first, then shorter when a run deletes
   * more than a quarter of the table's capacity (down to 10 s), longer when it deletes under 5%
   * (up to 12 h). The maps are LRU, so a full table evicts rather than refuses; the GC keeps
   * expired entries from pushing live ones out.
   */
  conntrackGcIntervalMs: number;
  /**
   * `identity-change-grace-period` (ms): when an endpoint's labels change, it keeps its old
   * identity this long after the new one exists, so that other nodes learn the new identity (and
   * compute policy for it) before traffic carries it. 0 = switch at once. Not applied when an
   * endpoint gets its first identity.
   */
  identityChangeGracePeriodMs: number;
  /**
   * `cni-exclusive`: keep other CNI configurations out of `cniConfDir` by renaming them to
   * `*.cilium_bak` (at start-up and whenever the directory changes), as upstream's agent does; the
   * install-cni init container does the same once before the agent starts.
   */
  cniExclusive: boolean;
  /** `--cni-conf-dir`: the host's CNI configuration directory as mounted in the agent's pod. */
  cniConfDir: string;
  /**
   * `write-cni-conf-when-ready`: the agent writes its conflist here once it is ready (caches
   * synced, endpoints restored, the node's network programmed), so that the node takes no pod
   * before; empty = never (the conflist comes from elsewhere).
   */
  writeCniConfWhenReady: string;
  /** `cni-uninstall`: on shutdown remove that conflist and restore the `*.cilium_bak` configurations. */
  cniUninstall: boolean;
  /** `procfs`: the host's /proc/sys/net is at `<procfs>/sys/net` (sysctls). */
  procfs: string;
  /** `k8s-service-host`/`-port`: the API server's address, when the install names it. */
  apiServer?: ApiServerEndpoint;
  /** Wait this long for the operator's podCIDRs before giving up with a clear error (ms). */
  podCidrTimeoutMs: number;
  /**
   * `kube-proxy-replacement`: NodePort, ExternalIPs and LoadBalancer frontends too (true), or
   * ClusterIP frontends only (false).
   */
  kubeProxyReplacement: boolean;
  /** `bpf-lb-map-max`: entries of the cilium_lb4_* maps; a pinned map of another size is recreated. */
  lbMapMax: number;
  /** `node-port-range`: NodePorts outside it get no frontend. */
  nodePortRange: [number, number];
  /**
   * `cgroup-root`: the cgroup v2 directory the socket-LB programs attach to (upstream's default
   * /run/cilium/cgroupv2, a cgroup2 mount); every process below it is balanced. Missing or not
   * cgroup v2: the agent runs without socket-LB and says so in its log.
   */
  cgroupRoot: string;
  /**
   * `identity-allocation-mode: kvstore` with `kvstore: etcd`: identities, the ipcache and this
   * node's entry live in etcd (controllers/kvstore/); absent = CRD mode.
   */
  kvstore?: KvstoreOptions;
  /** `enable-ipv4-masquerade`, `enable-bpf-masquerade`, `ipv4-native-routing-cidr` (controllers/agent/masquerade/). */
  masquerade: MasqueradeOptions;
  /** `tofqdns-min-ttl`, `tofqdns-endpoint-max-ip-per-hostname` (controllers/agent/l7/fqdn-options.ts). */
  fqdn: Pick<FqdnPolicyOptions, 'minTtlSeconds' | 'maxIpsPerHostname'>;
}

export type RoutingMode = 'native' | 'tunnel';
export type TunnelProtocol = 'vxlan' | 'geneve';

/** The protocols' IANA/upstream ports (VXLAN 8472 as Linux and upstream Cilium use it, Geneve 6081). */
export const TUNNEL_PORTS: Readonly<Record<TunnelProtocol, number>> = { vxlan: 8472, geneve: 6081 };

/**
 * `routing-mode`, `tunnel-protocol`, `tunnel-port`, `auto-direct-node-routes` and what goes with
 * them; combinations that cannot work are refused here, naming the key.
 */
function routingOptions(
  r: ConfigReader,
): Pick<AgentOptions, 'routingMode' | 'tunnelProtocol' | 'tunnelPort' | 'autoDirectNodeRoutes' | 'manageNodeNetwork'> {
  const routingMode = r.oneOf<RoutingMode>('routing-mode', ['native', 'tunnel']);
  const tunnelProtocol = r.oneOf<TunnelProtocol>('tunnel-protocol', ['vxlan', 'geneve']);
  const port = r.int('tunnel-port', { min: 0, max: 65535 });
  const autoDirectNodeRoutes = r.bool('auto-direct-node-routes');
  const manageNodeNetwork = r.bool('manage-node-network', true);
  if (routingMode === 'tunnel') {
    // upstream refuses the same ("auto-direct-node-routes cannot be used with tunneling")
    if (autoDirectNodeRoutes)
      r.refuse(
        'auto-direct-node-routes',
        'cannot be used with routing-mode "tunnel": pod traffic to other nodes goes through the tunnel device, not via routes to their InternalIP; set it to "false"',
      );
    if (!manageNodeNetwork)
      r.refuse('manage-node-network', 'routing-mode "tunnel" needs it: the agent creates the tunnel device');
    if (r.string('datapath', 'kernel') === 'sim')
      r.refuse('datapath', 'routing-mode "tunnel" needs the kernel datapath (encapsulation is done in eBPF)');
  } else if (port !== 0) {
    r.refuse('tunnel-port', 'is only used with routing-mode "tunnel" (routing-mode is "native")');
  }
  return {
    routingMode,
    tunnelProtocol,
    tunnelPort: port || TUNNEL_PORTS[tunnelProtocol],
    autoDirectNodeRoutes,
    manageNodeNetwork,
  };
}

/** Upstream's bounds on the conntrack table sizes (LimitTableMin, LimitTableMax). */
const CT_MIN = 1 << 10;
const CT_MAX = 1 << 24;

export function agentOptions(
  config: Readonly<Record<string, string>> | ConfigReader,
  env: NodeJS.ProcessEnv = process.env,
): AgentOptions {
  const r = ConfigReader.of(config, AGENT_CONFIG_ERROR).withKeyDefaults(CONFIG_DEFAULTS);
  refuseUnsupportedCluster(r);
  const routing = routingOptions(r);
  const clusterName = r.string('cluster-name');
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(clusterName) || clusterName.length > 32) {
    r.refuse(
      'cluster-name',
      'must be at most 32 lowercase letters, digits and "-", starting and ending with a letter or digit',
    );
  }
  r.oneOf('bpf-lb-sock', ['true'], {
    false: 'socket-level load balancing is the only in-cluster Service translation cilium-ts has',
  });
  r.oneOf('bpf-lb-algorithm', ['random'], {
    maglev: 'Maglev backend selection is not yet supported by cilium-ts; use "random"',
  });
  r.oneOf('monitor-aggregation', ['medium', 'maximum'], {
    none: "the cilium-ts datapath traces a connection's first packet and its first FIN/RST, never every packet",
    lowest: 'the cilium-ts datapath never traces every packet',
    low: 'the cilium-ts datapath never traces every packet',
  });
  return {
    nodeName: r.raw('node-name') ?? env.K8S_NODE_NAME ?? hostname(),
    kubeconfig: r.raw('kubeconfig') ?? env.KUBECONFIG,
    debug: r.bool('debug'),
    clusterName,
    clusterId: r.int('cluster-id', { min: 0, max: 255 }),
    cnpStatusUpdates: !r.bool('disable-cnp-status-updates'),
    l7Proxy: r.bool('enable-l7-proxy'),
    externalL7Proxy: r.bool('external-l7-proxy'),
    enforcement: r.oneOf<EnforcementMode>('enable-policy', ['default', 'always', 'never']),
    socketPath: r.string('socket-path', DEFAULT_SOCKET_PATH),
    stateDir: r.string('state-dir', '/var/run/cilium/state'),
    bpfRoot: r.string('bpf-root'),
    datapath: r.oneOf('datapath', 'kernel', ['kernel', 'sim']),
    healthPort: r.int('agent-health-port', { min: 0, max: 65535 }),
    prometheusAddr: r.listenAddress('prometheus-serve-addr'),
    ...routing,
    policyMapMax: r.int('bpf-policy-map-max', { min: 1 << 8, max: 1 << 16 }),
    ctMapSize:
      r.int('bpf-ct-global-tcp-max', { min: CT_MIN, max: CT_MAX }) +
      r.int('bpf-ct-global-any-max', { min: CT_MIN, max: CT_MAX }),
    conntrackGcIntervalMs: r.duration('conntrack-gc-interval'),
    identityChangeGracePeriodMs: r.duration('identity-change-grace-period'),
    cniExclusive: r.bool('cni-exclusive'),
    cniConfDir: r.string('cni-conf-dir', '/host/etc/cni/net.d'),
    writeCniConfWhenReady: r.string('write-cni-conf-when-ready'),
    cniUninstall: r.bool('cni-uninstall'),
    procfs: r.string('procfs'),
    apiServer: apiServerEndpoint(r),
    podCidrTimeoutMs: r.int('pod-cidr-timeout-ms', 120_000, { min: 1 }),
    kubeProxyReplacement: r.bool('kube-proxy-replacement'),
    lbMapMax: r.int('bpf-lb-map-max', { min: 1 << 10, max: 1 << 24 }),
    nodePortRange: nodePortRange(r),
    cgroupRoot: r.string('cgroup-root'),
    kvstore: kvstoreConfig(r),
    masquerade: masqueradeOptions(r),
    fqdn: fqdnOptions(r),
  };
}

/** `node-port-range`: "min-max" or "min,max" (upstream accepts both), 1..65535, min <= max. */
function nodePortRange(r: ConfigReader): [number, number] {
  const raw = r.string('node-port-range');
  const m = /^(\d{1,5})\s*[-,]\s*(\d{1,5})$/.exec(raw.trim());
  const lo = Number(m?.[1]);
  const hi = Number(m?.[2]);
  if (!m || lo < 1 || hi > 65535 || lo > hi)
    r.refuse('node-port-range', 'must be "min-max" with 1 <= min <= max <= 65535');
  return [lo, hi];
}

export const pinRoot = (o: AgentOptions) => join(o.bpfRoot, 'tc', 'globals');
