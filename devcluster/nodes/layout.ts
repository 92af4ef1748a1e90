// Where a devcluster's nodes keep their things, and the state file that lets `down` remove all of
// it, also after a crash: everything we create is named from the run id (`kts<runid>-…` namespaces,
// `/sys/fs/bpf/kts<runid>/`), so the state file only has to survive, not be complete.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Ranges } from './ranges.js';

export interface NodeInfo {
  name: string;
  /** Network namespace name (under /var/run/netns). */
  netns: string;
  /** Its address on the fabric (the Node's InternalIP). */
  ip: string;
}

export interface NodesState {
  runId: string;
  dir: string;
  ranges: Ranges;
  fabricNetns: string;
  nodes: NodeInfo[];
  bpfRoot: string;
  /** The API server port the node forwarders listen on inside every node. */
  apiserverPort: number;
  /** The nodes daemon (scheduler, runners, forwarders' parent) and host-side processes it started. */
  daemonPid?: number;
  hostPids: number[];
  agents: boolean;
  /** `routed`: each node on its own subnet behind a router namespace (topology.ts); absent: one bridge. */
  topology?: 'routed';
  /** cilium-config keys set on top of the manifests' (e.g. a larger pod CIDR for benchmarks). */
  configOverrides?: Record<string, string>;
  /**
   * `up --kvstore`: the kvstore etcd's port on the host's 127.0.0.1, forwarded into every node on
   * the same address (devcluster/kvstore-etcd.ts); the install runs in kvstore mode against it.
   */
  kvstore?: { port: number };
  /** KUBERNETES_SERVICE_HOST/PORT the kubelets inject into host-network pods (UpNodesOptions). */
  kubeletApiServer?: { host: string; port: number };
  ready: boolean;
  /** The outside namespace and its echo server (outside.ts), reachable from pods only masqueraded. */
  outside?: { netns: string; ip: string; port: number };
  /** Where hubble-ui serves the page (started with the agents). */
  hubbleUiUrl?: string;
  startedAt: string;
}

export const NODES_DEFAULTS = {
  nodes: 2,
  /** How long `up` waits for the daemon to report ready (ms). */
  readyTimeoutMs: 60_000,
  /** The fabric bridge and the node-side name of each node's fabric link. */
  bridge: 'br0',
  nodeIfName: 'eth0',
  /** Pod interface name (CNI_IFNAME). */
  podIfName: 'eth0',
};

/** Paths of one devcluster's node parts (`dir` is the devcluster directory, e.g. .devcluster). */
export class NodesLayout {
  constructor(readonly dir: string) {}
  get root(): string {
    return join(this.dir, 'nodes');
  }
  get stateFile(): string {
    return join(this.root, 'state.json');
  }
  /** The host-side end of the API server forwarders (a pathname socket crosses namespaces). */
  get apiserverSocket(): string {
    return join(this.root, 'apiserver.sock');
  }
  /** The host-side end of the kvstore etcd's forwarders (`up --kvstore`). */
  get kvstoreSocket(): string {
    return join(this.root, 'kvstore.sock');
  }
  get cniDir(): string {
    return join(this.root, 'cni');
  }
  get kubeconfig(): string {
    return join(this.dir, 'kubeconfig');
  }
  get daemonLog(): string {
    return join(this.root, 'daemon.log');
  }
  /** The host-side bridges' own logs (apiserverSocket → the API server, kvstoreSocket → the kvstore etcd). */
  get apiserverBridgeLog(): string {
    return join(this.root, 'apiserver-bridge.log');
  }
  get kvstoreBridgeLog(): string {
    return join(this.root, 'kvstore-bridge.log');
  }
  /** The "image" every container sees: /usr/local/bin of the images (cmd-wrapper links, install-cni.sh, node). */
  get imageBin(): string {
    return join(this.root, 'image', 'bin');
  }
  /** A log of one of the operator's pods (the first found; both replicas log their start). */
  get operatorLog(): string {
    return this.containerLog('kube-system', 'cilium-operator-', 'cilium-operator') ?? join(this.root, 'operator.log');
  }
  /** The container log of the first pod on any node whose name starts with `podPrefix`. */
  containerLog(namespace: string, podPrefix: string, container: string, node?: string): string | undefined {
    const nodes = node ? [node] : existsSync(this.root) ? readdirSync(this.root) : [];
    for (const n of nodes) {
      const pods = join(this.root, n, 'pods');
      if (!existsSync(pods)) continue;
      for (const d of readdirSync(pods).sort())
        if (d.startsWith(`${namespace}_${podPrefix}`) && existsSync(join(pods, d, `${container}.log`)))
          return join(pods, d, `${container}.log`);
    }
    return undefined;
  }
  node(name: string) {
    const d = join(this.root, name);
    // The node's own filesystem view: a hostPath /x of a pod on this node is <root>/x (/var/run is /run).
    const root = join(d, 'root');
    const run = join(root, 'run', 'cilium');
    const containerLog = (ns: string, prefix: string, c: string) => this.containerLog(ns, prefix, c, name);
    return {
      dir: d,
      root,
      /** The agent's REST API socket (/var/run/cilium/cilium.sock in the node's view). */
      socket: join(run, 'cilium.sock'),
      hubbleSocket: join(run, 'hubble.sock'),
      state: join(run, 'state'),
      /** /etc/cni/net.d and /opt/cni/bin of the node: the agent pod's install-cni writes them. */
      confDir: join(root, 'etc', 'cni', 'net.d'),
      cniBinDir: join(root, 'opt', 'cni', 'bin'),
      cniLog: join(run, 'cilium-cni.log'),
      /** The log of this node's cilium-agent container (its DaemonSet pod). */
      get agentLog(): string {
        return containerLog('kube-system', 'cilium-', 'cilium-agent') ?? join(d, 'agent.log');
      },
      forwarderLog: join(d, 'forwarder.log'),
      kvstoreForwarderLog: join(d, 'kvstore-forwarder.log'),
      pods: join(d, 'pods'),
    };
  }

  read(): NodesState | undefined {
    if (!existsSync(this.stateFile)) return undefined;
    return JSON.parse(readFileSync(this.stateFile, 'utf8')) as NodesState;
  }

  write(s: NodesState): void {
    mkdirSync(this.root, { recursive: true });
    const tmp = this.stateFile + '.tmp';
    writeFileSync(tmp, JSON.stringify(s, null, 2));
    renameSync(tmp, this.stateFile);
  }
}

export const netnsPath = (name: string): string => `/var/run/netns/${name}`;
export const nodeNetnsName = (runId: string, node: string): string => `kts${runId}-${node}`;
export const fabricNetnsName = (runId: string): string => `kts${runId}-fabric`;
/** A pod's sandbox namespace, from the pod's uid. */
export const podNetnsName = (runId: string, uid: string): string =>
  `kts${runId}-p-${uid.replace(/-/g, '').slice(0, 12)}`;
