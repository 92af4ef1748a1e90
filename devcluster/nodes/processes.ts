// The long-running processes of the nodes: the API server forwarder inside every node, and the
// cilium-agent per node and the cilium-operator, started from the install's own launch description
// (cdk8s processLaunch(): argv, env, cilium-config), pointed at the devcluster's paths. Every one
// runs its compiled JavaScript (`npm run build`), as the images do, never a TypeScript loader. Agents run
// with `nsenter --net` only: in the node's network namespace but the host's mount namespace, so
// /sys/fs/bpf is the real bpffs (`ip netns exec` would remount /sys and hide it).
import { spawn, type ChildProcess } from 'node:child_process';
import { nodeCgroup } from './cgroups.js';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  binaryEntry,
  compiledEntry,
  PACKAGE_ROOT,
  PINNED_NODE,
  processLaunch,
  writeConfigDir,
  type LaunchedProcess,
} from '../../cdk8s/process-launch.js';
import { netnsPath, type NodeInfo, type NodesLayout, type NodesState } from './layout.js';
import { NodesError, NodesErrorCode } from './errors.js';

export const NODE_BIN = PINNED_NODE;
export const AGENT_ENTRY = binaryEntry('cilium-agent');
export const OPERATOR_ENTRY = binaryEntry('cilium-operator');
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

/** cilium-config as the install ships it, with the devcluster's pool and one bpf root per node below it. */
export function writeClusterConfig(l: NodesLayout, s: NodesState): Record<string, string> {
  const config = {
    ...processLaunch('cilium-agent').config,
    'cluster-pool-ipv4-cidr': s.ranges.clusterPool,
    'cluster-name': 'devcluster',
    'bpf-root': s.bpfRoot,
    ...(s.configOverrides ?? {}),
  };
  writeConfigDir(l.configDir, config);
  return config;
}

/** argv without the binary name, `--config-dir` pointed at our copy of cilium-config. */
function launchArgs(p: LaunchedProcess, l: NodesLayout): { args: string[]; env: NodeJS.ProcessEnv } {
  const launch = processLaunch(p);
  const args = launch.argv.slice(1).map((a) => (a.startsWith('--config-dir') ? `--config-dir=${l.configDir}` : a));
  if (!args.some((a) => a.startsWith('--config-dir'))) args.push(`--config-dir=${l.configDir}`);
  return { args, env: {} };
}

/** The env of a launch with the pod's fields filled in as the kubelet would. */
function launchEnv(
  p: LaunchedProcess,
  fields: Record<string, string>,
  config: Record<string, string>,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(processLaunch(p).env)) {
    if ('value' in v) env[k] = v.value;
    else if ('fieldPath' in v) env[k] = fields[v.fieldPath] ?? '';
    else env[k] = config[v.configMapKey] ?? '';
  }
  return env;
}

export const NAMESPACE = 'kube-system';

export function startAgent(
  l: NodesLayout,
  s: NodesState,
  n: NodeInfo,
  config: Record<string, string>,
  kubeconfig = l.kubeconfig,
): ChildProcess {
  const p = l.node(n.name);
  mkdirSync(p.state, { recursive: true });
  const bpfRoot = join(s.bpfRoot, n.name);
  const { args } = launchArgs('cilium-agent', l);
  const env = launchEnv(
    'cilium-agent',
    { 'spec.nodeName': n.name, 'metadata.namespace': NAMESPACE, 'metadata.name': `cilium-${n.name}` },
    config,
  );
  // The node's CNI configuration directory is what the pod mounts at /host/etc/cni/net.d (cni-exclusive keeps it ours).
  const paths = [
    '--kubeconfig',
    kubeconfig,
    '--socket-path',
    p.socket,
    '--state-dir',
    p.state,
    '--bpf-root',
    bpfRoot,
    '--hubble-socket-path',
    join(dirname(p.socket), 'hubble.sock'),
    '--cni-conf-dir',
    p.confDir,
    // this node's cgroup subtree: its pods' processes live there (sandbox.ts), so its socket-LB serves them
    ...cgroupRootArgs(s.runId, n.name),
  ];
  return startCompiled(AGENT_ENTRY, [...args, ...paths], {
    log: p.agentLog,
    netns: n.netns,
    env: { ...env, K8S_NODE_NAME: n.name },
  });
}

function cgroupRootArgs(runId: string, node: string): string[] {
  const cg = nodeCgroup(runId, node);
  return cg ? ['--cgroup-root', cg] : [];
}

export const RELAY_ENTRY = binaryEntry('hubble-relay');

/**
 * hubble-relay inside the first node's namespace (the nodes' Hubble ports live on the fabric, which
 * the host cannot reach); it serves on a unix socket under the cluster directory instead, which the
 * host's `hubble` CLI can.
 */
export function startRelay(l: NodesLayout, s: NodesState): ChildProcess {
  const first = s.nodes[0]!;
  const peer = join(dirname(l.node(first.name).socket), 'hubble.sock');
  return startCompiled(
    RELAY_ENTRY,
    ['serve', `--peer-service=unix://${peer}`, `--listen-address=unix://${relaySocket(l)}`],
    {
      log: join(l.root, 'hubble-relay.log'),
      netns: first.netns,
    },
  );
}

export const relaySocket = (l: NodesLayout): string => join(l.root, 'hubble-relay.sock');

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

export function startOperator(l: NodesLayout, config: Record<string, string>, kubeconfig = l.kubeconfig): ChildProcess {
  const { args } = launchArgs('cilium-operator', l);
  const env = launchEnv(
    'cilium-operator',
    {
      'spec.nodeName': 'devcluster-host',
      'metadata.namespace': NAMESPACE,
      'metadata.name': 'cilium-operator-devcluster',
    },
    config,
  );
  // The operator shares the host's network with other devclusters: its health and metrics ports are any free ones.
  const ports = [
    '--operator-api-serve-addr=127.0.0.1:0',
    ...(config['operator-prometheus-serve-addr'] ? ['--operator-prometheus-serve-addr=127.0.0.1:0'] : []),
  ];
  return startCompiled(OPERATOR_ENTRY, [...args, '--kubeconfig', kubeconfig, ...ports], {
    log: join(l.root, 'operator.log'),
    env,
  });
}

/** Whether the agent and operator sources exist yet (the devcluster runs without them; a missing build fails). */
export function ciliumBinariesPresent(): { agent: boolean; operator: boolean } {
  const source = (name: string) => existsSync(join(PACKAGE_ROOT, 'cmd', `${name}.ts`));
  return { agent: source('cilium-agent'), operator: source('cilium-operator') };
}
