// The long-running processes beside the nodes' pods: the API server forwarder inside every node
// and hubble-relay; and the install the devcluster applies, whose DaemonSet and Deployment run
// cilium-agent and cilium-operator as pods (runner.ts, sandbox.ts). Every process runs its
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

export function startForwarder(l: NodesLayout, s: NodesState, n: NodeInfo): ChildProcess {
  return startCompiled(FORWARDER, [`tcp:127.0.0.1:${s.apiserverPort}`, `unix:${l.apiserverSocket}`], {
    log: l.node(n.name).forwarderLog,
    netns: n.netns,
  });
}

/**
 * The install as the devcluster applies it (`cilium install` with these values): the chosen pod
 * pool and cluster name, cilium-config keys the caller overrides, and no hubble-relay Deployment
 * (relay runs beside the nodes, see startRelay).
 */
export function devclusterInstall(s: NodesState): InstallObject[] {
  return installObjects(
    {
      cluster: { name: DEVCLUSTER_NAME },
      ipam: { operator: { clusterPoolIPv4PodCIDRList: [s.ranges.clusterPool] } },
      hubble: { relay: { enabled: false } },
      // two replicas never share a node (required anti-affinity): one per node at most
      operator: { replicas: Math.min(2, s.nodes.length) },
    },
    s.configOverrides ?? {},
  );
}

export const RELAY_ENTRY = binaryEntry('hubble-relay');

/** The cluster name the devcluster installs with (the Hubble server names end in it). */
export const DEVCLUSTER_NAME = 'devcluster';

/** Relay's client certificate, key and the nodes' CA, as files (from the Secret hubble-relay-client-certs). */
export interface RelayTlsFiles {
  cert: string;
  key: string;
  ca: string;
}

/**
 * hubble-relay inside the first node's namespace (the nodes' Hubble ports live on the fabric, which
 * the host cannot reach); it serves on a unix socket under the cluster directory instead, which the
 * host's `hubble` CLI can. Not the install's Deployment: that one finds the agents through the
 * hubble-peer Service by cluster DNS, and the devcluster has neither Service VIPs nor DNS yet.
 */
export function startRelay(l: NodesLayout, s: NodesState, tls?: RelayTlsFiles): ChildProcess {
  const first = s.nodes[0]!;
  const peer = l.node(first.name).hubbleSocket;
  const tlsArgs = tls
    ? [
        `--cluster-name=${DEVCLUSTER_NAME}`,
        `--tls-hubble-client-cert-file=${tls.cert}`,
        `--tls-hubble-client-key-file=${tls.key}`,
        `--tls-hubble-server-ca-files=${tls.ca}`,
      ]
    : ['--disable-client-tls'];
  return startCompiled(
    RELAY_ENTRY,
    ['serve', `--peer-service=unix://${peer}`, `--listen-address=unix://${relaySocket(l)}`, ...tlsArgs],
    {
      log: join(l.root, 'hubble-relay.log'),
      netns: first.netns,
    },
  );
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
