// The agent's options: upstream's cilium-config keys (read from `--config-dir`) and flags, with
// every default in one place. The ConfigMap keys are those cdk8s/cilium-config.ts writes.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SOCKET_PATH } from './api/types.js';

export type EnforcementMode = 'default' | 'always' | 'never';

export interface AgentOptions {
  /** This node (`K8S_NODE_NAME`, or `--node-name`). */
  nodeName: string;
  /** A kubeconfig; absent: in-cluster or ~/.kube/config. */
  kubeconfig?: string;
  /** `cluster-name`: every endpoint gets `io.cilium.k8s.policy.cluster=<name>`. */
  clusterName: string;
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
  /** `prometheus-serve-addr` (":9962"); empty = no metrics server. */
  prometheusAddr: string;
  /**
   * Install routes to other nodes' pod CIDRs via their InternalIP (upstream's
   * `auto-direct-node-routes` in native routing mode). Needs the nodes on one L2 segment.
   */
  autoDirectNodeRoutes: boolean;
  /**
   * Set up cilium_host, forwarding and node routes in the agent's network namespace. Only false
   * for control-plane tests that run the agent in the host's namespace (the host is not ours).
   */
  manageNodeNetwork: boolean;
  /** `bpf-policy-map-max`: entries of each endpoint's policy map. */
  policyMapMax: number;
  /** Wait this long for the operator's podCIDRs before giving up with a clear error (ms). */
  podCidrTimeoutMs: number;
}

const bool = (v: string | undefined, dflt: boolean) => (v === undefined ? dflt : v === 'true');

export function agentOptions(config: Record<string, string>, env: NodeJS.ProcessEnv = process.env): AgentOptions {
  const enforcement = (config['enable-policy'] ?? 'default') as EnforcementMode;
  if (!['default', 'always', 'never'].includes(enforcement)) {
    throw new Error(`KTS_ERR_AGENT_CONFIG: enable-policy must be default, always or never (got ${JSON.stringify(config['enable-policy'])})`);
  }
  const bpfRoot = config['bpf-root'] ?? '/sys/fs/bpf';
  return {
    nodeName: config['node-name'] ?? env.K8S_NODE_NAME ?? hostname(),
    kubeconfig: config.kubeconfig ?? env.KUBECONFIG,
    clusterName: config['cluster-name'] ?? 'default',
    enforcement,
    socketPath: config['socket-path'] ?? DEFAULT_SOCKET_PATH,
    stateDir: config['state-dir'] ?? '/var/run/cilium/state',
    bpfRoot,
    datapath: (config.datapath ?? 'kernel') as 'kernel' | 'sim',
    healthPort: Number(config['agent-health-port'] ?? 9879),
    prometheusAddr: config['prometheus-serve-addr'] ?? ':9962',
    autoDirectNodeRoutes: bool(config['auto-direct-node-routes'], (config['routing-mode'] ?? 'native') === 'native'),
    manageNodeNetwork: bool(config['manage-node-network'], true),
    policyMapMax: Number(config['bpf-policy-map-max'] ?? 16384),
    podCidrTimeoutMs: Number(config['pod-cidr-timeout-ms'] ?? 120_000),
  };
}

export const pinRoot = (o: AgentOptions) => join(o.bpfRoot, 'tc', 'globals');
