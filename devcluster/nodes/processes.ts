// The long-running processes beside the nodes' pods: the API server forwarder inside every node
// and the port-forward to hubble-relay; and the install the devcluster applies, whose DaemonSet
// and Deployments run cilium-agent, cilium-operator and hubble-relay as pods (runner.ts, sandbox.ts). Every process runs its
// compiled JavaScript (`npm run build`), as the images do, never a TypeScript loader.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import {
  binaryEntry,
  compiledEntry,
  installObjects,
  PACKAGE_ROOT,
  PINNED_NODE,
  type InstallObject,
} from '../../cdk8s/process-launch.js';
import { netnsPath, type NodeInfo, type NodesLayout, type NodesState } from './layout.js';
import { NodesError, NodesErrorCode } from './errors.js';

export const NODE_BIN = PINNED_NODE;
const FORWARDER = compiledEntry('devcluster/nodes/forwarder.ts');

/** The pinned Node running a compiled entry, inside `netns` when given; own process group, output to `log`. */
export function startCompiled(
  entry: string,
  args: string[],
  o: { log: string; env?: NodeJS.ProcessEnv; netns?: string },
): ChildProcess {
  if (!existsSync(entry)) throw new NodesError(NodesErrorCode.Start, `${entry} is not built: run \`npm run build\``);
  const fd = openSync(o.log, 'a');
  const argv = [NODE_BIN, entry, ...args];
  const [cmd, ...rest] = o.netns ? ['nsenter', `--net=${netnsPath(o.netns)}`, ...argv] : argv;
  const child = spawn(cmd!, rest, {
    cwd: PACKAGE_ROOT,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  child.on('error', () => undefined);
  return child;
}

/** Resolves once a process wrote `marker` into its log, rejects if it exits first. */
export async function waitForLog(child: ChildProcess, log: string, marker: string, timeoutMs = 20_000): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(log) && readFileSync(log, 'utf8').includes(marker)) return;
    if (child.exitCode !== null || child.signalCode !== null)
      throw new NodesError(
        NodesErrorCode.Start,
        `${log}: the process exited (${child.exitCode ?? child.signalCode}) before "${marker}"`,
      );
    if (Date.now() > deadline)
      throw new NodesError(NodesErrorCode.Start, `${log}: no "${marker}" within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The host-side end of every node's API server forwarder: `apiserverSocket` → the API server's port,
 * a process of its own. In the daemon's event loop (as it was), every byte between a pod and the API
 * server (the agents' watches too) waited behind the kubelet work of every pod: with 1,000 pods a
 * policy's watch event reached the agent up to ~180 ms after the API server sent it. A real cluster
 * has no kubelet between an agent and the API server.
 */
export function startApiserverBridge(l: NodesLayout, s: NodesState): ChildProcess {
  return startCompiled(FORWARDER, [`unix:${l.apiserverSocket}`, `tcp:127.0.0.1:${s.apiserverPort}`], {
    log: l.apiserverBridgeLog,
  });
}

/** `up --kvstore`: the same for the kvstore etcd's socket. */
export function startKvstoreBridge(l: NodesLayout, port: number): ChildProcess {
  return startCompiled(FORWARDER, [`unix:${l.kvstoreSocket}`, `tcp:127.0.0.1:${port}`], { log: l.kvstoreBridgeLog });
}

export function startForwarder(l: NodesLayout, s: NodesState, n: NodeInfo): ChildProcess {
  return startCompiled(FORWARDER, [`tcp:127.0.0.1:${s.apiserverPort}`, `unix:${l.apiserverSocket}`], {
    log: l.node(n.name).forwarderLog,
    netns: n.netns,
  });
}

/** `up --kvstore`: the kvstore etcd on the node's 127.0.0.1, as on the host's (devcluster/kvstore-etcd.ts). */
export function startKvstoreForwarder(l: NodesLayout, port: number, n: NodeInfo): ChildProcess {
  return startCompiled(FORWARDER, [`tcp:127.0.0.1:${port}`, `unix:${l.kvstoreSocket}`], {
    log: l.node(n.name).kvstoreForwarderLog,
    netns: n.netns,
  });
}

/**
 * The install as the devcluster applies it (`cilium install` with these values): the chosen pod
 * pool and cluster name, and cilium-config keys the caller overrides. hubble-relay is the pod of
 * its Deployment: it finds the agents through the hubble-peer Service by cluster DNS.
 */
export function devclusterInstall(s: NodesState): InstallObject[] {
  return installObjects(
    {
      cluster: { name: DEVCLUSTER_NAME },
      ipam: { operator: { clusterPoolIPv4PodCIDRList: [s.ranges.clusterPool] } },
      // the devcluster serves hubble-ui from the host (startHubbleUi), where a browser can reach it
      hubble: { ui: { enabled: false } },
      // the L7 proxies' own DaemonSet follows the key a test sets (both or neither)
      externalL7Proxy: s.configOverrides?.['external-l7-proxy'] !== 'false',
      // two replicas never share a node (required anti-affinity): one per node at most
      operator: { replicas: Math.min(2, s.nodes.length) },
      // `up --kvstore`: identities, ipcache and nodes in the kvstore etcd, over TLS (its Secret is applied first)
      ...(s.kvstore
        ? {
            identityAllocationMode: 'kvstore' as const,
            etcd: { enabled: true, endpoints: [`https://127.0.0.1:${s.kvstore.port}`], ssl: true },
          }
        : {}),
    },
    s.configOverrides ?? {},
  );
}

export const RELAY_ENTRY = binaryEntry('hubble-relay');

/** The cluster name the devcluster installs with (the Hubble server names end in it). */
export const DEVCLUSTER_NAME = 'devcluster';

/**
 * What `cilium hubble port-forward` gives a user, for the host: a forwarder inside the relay pod's
 * network namespace listening on a unix socket under the cluster directory (pathname sockets are
 * reachable from every namespace; the pod network is not reachable from the host) and forwarding
 * to relay's gRPC port on the pod's loopback.
 */
export function startRelayPortForward(l: NodesLayout, netns: string, port: number): ChildProcess {
  return startCompiled(FORWARDER, [`unix:${relaySocket(l)}`, `tcp:127.0.0.1:${port}`], {
    log: join(l.root, 'hubble-relay-forward.log'),
    netns,
  });
}

export const relaySocket = (l: NodesLayout): string => join(l.root, 'hubble-relay.sock');

/** Whether the agent and operator sources exist yet (the devcluster runs without them; a missing build fails). */
export function ciliumBinariesPresent(): { agent: boolean; operator: boolean } {
  const source = (name: string) => existsSync(join(PACKAGE_ROOT, 'cmd', `${name}.ts`));
  return { agent: source('cilium-agent'), operator: source('cilium-operator') };
}

export const HUBBLE_UI_ENTRY = compiledEntry('cmd/hubble-ui.ts');
export const hubbleUiLog = (l: NodesLayout): string => join(l.root, 'hubble-ui.log');

/** hubble-ui on the host, on a free loopback port, reading relay's socket and the API server. */
export function startHubbleUi(l: NodesLayout): ChildProcess {
  return startCompiled(
    HUBBLE_UI_ENTRY,
    ['--listen-address=127.0.0.1:0', `--relay=unix://${relaySocket(l)}`, `--kubeconfig=${l.kubeconfig}`],
    { log: hubbleUiLog(l) },
  );
}
