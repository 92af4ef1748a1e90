// The devcluster's nodes as the CLI and tests use them: `up --nodes N` (after the API server is
// up), `exec NAMESPACE/POD -- CMD…`, `down`. up creates the namespaces and the fabric itself
// (synchronously, so a failure is reported to the caller), installs cilium-cni, then starts the
// nodes daemon and waits until it reports ready.
import { spawn, spawnSync } from 'node:child_process';
import { createNodeCgroups } from './cgroups.js';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { compiledEntry } from '../../cdk8s/process-launch.js';
import { KubeClient } from '../../controllers/framework/index.js';
import { readState } from '../cluster.js';
import { installCni, writeNodeConflist } from './cni-install.js';
import { createFabric, destroyRun, stopPids } from './fabric.js';
import {
  NODES_DEFAULTS,
  NodesLayout,
  fabricNetnsName,
  netnsPath,
  nodeNetnsName,
  podNetnsName,
  type NodesState,
} from './layout.js';
import { startCompiled } from './processes.js';
import { chooseRanges, hostAddress } from './ranges.js';
import { PODS } from './runner.js';
import { NodesError, NodesErrorCode } from './errors.js';

export interface UpNodesOptions {
  nodes?: number;
  /** Start cilium-agent and cilium-operator (when their entry points exist). Default true. */
  agents?: boolean;
  /** cilium-config keys to override, e.g. `{ 'cluster-pool-ipv4-mask-size': '21' }` for >250 pods per node. */
  config?: Record<string, string>;
}

const DAEMON = compiledEntry('devcluster/nodes/daemon.ts');

export async function upNodes(dirIn: string, o: UpNodesOptions = {}): Promise<NodesState> {
  const dir = resolve(dirIn);
  const layout = new NodesLayout(dir);
  const existing = layout.read();
  if (existing?.ready && existing.daemonPid && alive(existing.daemonPid)) return existing;
  const api = readState(dir);
  if (!api) throw new NodesError(NodesErrorCode.NotUp, `the API server is not up in ${dir} (run up first)`);
  const count = o.nodes ?? NODES_DEFAULTS.nodes;
  if (!Number.isInteger(count) || count < 1 || count > 200)
    throw new NodesError(NodesErrorCode.Usage, `--nodes must be between 1 and 200 (got ${count})`);
  const runId = randomBytes(3).toString('hex').slice(0, 5);
  const ranges = chooseRanges();
  const names = Array.from({ length: count }, (_, i) => `node-${i + 1}`);
  const state: NodesState = {
    runId,
    dir,
    ranges,
    fabricNetns: fabricNetnsName(runId),
    nodes: names.map((name, i) => ({
      name,
      netns: nodeNetnsName(runId, name),
      ip: hostAddress(ranges.nodeSubnet, i + 1),
    })),
    bpfRoot: `/sys/fs/bpf/kts${runId}`,
    apiserverPort: api.port,
    hostPids: [],
    agents: o.agents ?? true,
    ...(o.config ? { configOverrides: o.config } : {}),
    ready: false,
    startedAt: new Date().toISOString(),
  };
  // The state goes to disk before anything exists, so `down` can always find what to remove.
  layout.write(state);
  try {
    createFabric(state);
    const install = installCni(layout.cniDir);
    for (const n of state.nodes) {
      const p = layout.node(n.name);
      mkdirSync(p.pods, { recursive: true });
      writeNodeConflist(install, p.confDir, { socketPath: p.socket, logFile: p.cniLog });
    }
    mkdirSync(state.bpfRoot, { recursive: true });
    createNodeCgroups(runId, names);
    const daemon = startCompiled(DAEMON, ['--dir', dir], { log: layout.daemonLog });
    daemon.unref();
    layout.write({ ...state, daemonPid: daemon.pid ?? 0 });
    const deadline = Date.now() + NODES_DEFAULTS.readyTimeoutMs;
    for (;;) {
      const s = layout.read();
      if (s?.ready) return s;
      if (daemon.exitCode !== null || Date.now() > deadline)
        throw new NodesError(NodesErrorCode.Start, `the nodes daemon did not become ready; see ${layout.daemonLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    await downNodes(dir).catch(() => undefined);
    throw e;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops the daemon (which tears its pods down), then removes every namespace, pin and process left. */
export async function downNodes(dirIn: string): Promise<{ namespaces: string[] } | undefined> {
  const layout = new NodesLayout(resolve(dirIn));
  const s = layout.read();
  if (!s) return undefined;
  if (s.daemonPid && alive(s.daemonPid)) {
    process.kill(s.daemonPid, 'SIGTERM');
    const deadline = Date.now() + 20_000;
    while (alive(s.daemonPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }
  await stopPids([...(s.daemonPid ? [s.daemonPid] : []), ...s.hostPids]);
  const namespaces = await destroyRun(s.runId, s.bpfRoot);
  rmSync(layout.root, { recursive: true, force: true });
  return { namespaces };
}

/** The network namespace path of a pod (from its uid), or an error saying why there is none. */
export async function podNetns(dirIn: string, ref: string): Promise<string> {
  const layout = new NodesLayout(resolve(dirIn));
  const s = layout.read();
  if (!s) throw new NodesError(NodesErrorCode.NotUp, 'the devcluster has no nodes (up --nodes N)');
  const [namespace, name] = ref.includes('/') ? ref.split('/', 2) : ['default', ref];
  const client = KubeClient.fromFile(layout.kubeconfig);
  try {
    const pod = await client.get<{ metadata: { uid: string }; spec?: { nodeName?: string; hostNetwork?: boolean } }>(
      PODS,
      name!,
      namespace,
    );
    const node = s.nodes.find((n) => n.name === pod.spec?.nodeName);
    const path = netnsPath(pod.spec?.hostNetwork && node ? node.netns : podNetnsName(s.runId, pod.metadata.uid));
    if (!existsSync(path))
      throw new NodesError(
        NodesErrorCode.NoSandbox,
        `pod ${namespace}/${name} has no sandbox yet${pod.spec?.nodeName ? ` on ${pod.spec.nodeName}` : ' (not scheduled)'}`,
      );
    return path;
  } finally {
    client.close();
  }
}

/** Runs a command inside a pod's network namespace with the caller's stdio; returns its exit status. */
export async function execInPod(
  dir: string,
  ref: string,
  cmd: string[],
  o: { capture?: boolean } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  if (!cmd.length) throw new NodesError(NodesErrorCode.Usage, 'exec: no command (exec NAMESPACE/POD -- CMD…)');
  const path = await podNetns(dir, ref);
  if (!o.capture) {
    const r = spawnSync('nsenter', [`--net=${path}`, '--', ...cmd], { stdio: 'inherit' });
    return { code: r.status ?? 1, stdout: '', stderr: '' };
  }
  return new Promise((resolvePromise, reject) => {
    const child = spawn('nsenter', [`--net=${path}`, '--', ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout, stderr }));
  });
}
