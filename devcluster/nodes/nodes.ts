// The devcluster's nodes as the CLI and tests use them: `up --nodes N` (after the API server is
// up), `exec NAMESPACE/POD -- CMD…`, `down`. up creates the namespaces and the fabric itself
// (synchronously, so a failure is reported to the caller), starts the nodes daemon (kubelets,
// scheduler) and waits until it reports ready, then applies the install — whose DaemonSet and
// Deployment run cilium-agent and cilium-operator as pods — and waits until every agent answers.
// Without agents, cilium-cni is installed on every node as a node image would have it.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createNodeCgroups, inCgroup, nodeCgroup } from './cgroups.js';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readlinkSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { compiledEntry, type InstallObject } from '../../cdk8s/process-launch.js';
import { AgentClient } from '../../controllers/agent/api/client.js';
import { KubeClient } from '../../controllers/framework/index.js';
import { readState } from '../cluster.js';
import { applyObjects, waitForWorkloads } from './install-apply.js';
import { CLUSTER_DNS_IP, clusterDnsObjects } from '../dns/manifest.js';
import { installCni } from './cni-install.js';
import { writeImageBin } from './image.js';
import { createFabric, destroyRun, pidsReferencing, stopPids } from './fabric.js';
import { createOutside } from './outside.js';
import {
  NODES_DEFAULTS,
  NodesLayout,
  fabricNetnsName,
  netnsPath,
  nodeNetnsName,
  podNetnsName,
  type NodesState,
} from './layout.js';
import { ciliumBinariesPresent, devclusterInstall, startCompiled } from './processes.js';
import { chooseRanges, hostAddress } from './ranges.js';
import { ROUTED_MAX_NODES, chooseRoutedSupernet, routedNode } from './topology.js';
import { PODS } from './runner.js';
import { NodesError, NodesErrorCode } from './errors.js';

export interface UpNodesOptions {
  nodes?: number;
  /** Start cilium-agent and cilium-operator (when their entry points exist). Default true. */
  agents?: boolean;
  /** Nodes on subnets of their own behind a router namespace, no L2 adjacency (topology.ts). */
  routed?: boolean;
  /** cilium-config keys to override, e.g. `{ 'cluster-pool-ipv4-mask-size': '21' }` for >250 pods per node. */
  config?: Record<string, string>;
  /** Called with one line per step as it happens (the CLI prints them). */
  progress?: (line: string) => void;
  /**
   * Also wait until the DaemonSet and the operator Deployment report ready (readiness probes:
   * some seconds more than the agents answering, which is all pods need). Default false.
   */
  waitForInstall?: boolean;
  /**
   * What the kubelets inject as KUBERNETES_SERVICE_HOST/PORT into host-network pods. Default: the
   * node's forwarder to the API server (127.0.0.1). A real kubelet injects the `kubernetes`
   * Service's ClusterIP, which reaches nothing without kube-proxy: set an address that reaches
   * nothing to check that the install's k8s-service-host is what the agent and operator use.
   */
  kubeletApiServer?: { host: string; port: number };
  /**
   * `up --kvstore`: the kvstore etcd (devcluster/kvstore-etcd.ts) the install is configured for;
   * its client certificate becomes the Secret cilium-etcd-secrets.
   */
  kvstore?: { port: number; secret: InstallObject };
}

const AGENT_READY_TIMEOUT_MS = 90_000;

/**
 * Waits for an agent's REST API to answer healthz (ok, or starting: its IPAM then waits for the
 * pod CIDR itself, so an ADD is served).
 */
async function waitForAgent(node: string, socketPath: string, deadline: number): Promise<void> {
  const client = new AgentClient({ socketPath, timeoutMs: 2000 });
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      last = (await client.healthz()).status;
      return;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new NodesError(NodesErrorCode.Start, `cilium-agent on ${node} does not answer on ${socketPath} (${last})`);
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
  if (o.routed && count > ROUTED_MAX_NODES)
    throw new NodesError(NodesErrorCode.Usage, `--routed has room for ${ROUTED_MAX_NODES} nodes (got ${count})`);
  const bridged = chooseRanges();
  // routed: nodeSubnet is the /16 that every node's own /24 comes from
  const ranges = o.routed ? { ...bridged, nodeSubnet: chooseRoutedSupernet(bridged.clusterPool) } : bridged;
  const names = Array.from({ length: count }, (_, i) => `node-${i + 1}`);
  const state: NodesState = {
    runId,
    dir,
    ranges,
    fabricNetns: fabricNetnsName(runId),
    nodes: names.map((name, i) => ({
      name,
      netns: nodeNetnsName(runId, name),
      ip: o.routed ? routedNode(ranges.nodeSubnet, i + 1).ip : hostAddress(ranges.nodeSubnet, i + 1),
    })),
    // Each node's bpffs is its own mount at <bpfRoot>/<node>, which the agent pod's mount-bpf-fs
    // init container mounts there (as on a real node), so it is a plain directory until then.
    bpfRoot: join(layout.root, 'bpffs'),
    apiserverPort: api.port,
    hostPids: [],
    agents: o.agents ?? true,
    ...(o.routed ? { topology: 'routed' as const } : {}),
    ...(o.config ? { configOverrides: o.config } : {}),
    ...(o.kubeletApiServer ? { kubeletApiServer: o.kubeletApiServer } : {}),
    ...(o.kvstore ? { kvstore: { port: o.kvstore.port } } : {}),
    ready: false,
    startedAt: new Date().toISOString(),
  };
  // The state goes to disk before anything exists, so `down` can always find what to remove.
  layout.write(state);
  try {
    const say = o.progress ?? (() => undefined);
    createFabric(state);
    state.outside = createOutside(state, layout);
    say(
      `nodes: ${state.nodes.map((n) => `${n.name} (${n.ip}, netns ${n.netns})`).join(', ')}; pod pool ${ranges.clusterPool}`,
    );
    say(
      `outside: ${state.outside.ip} (netns ${state.outside.netns}), echo server on TCP and UDP ${state.outside.port}`,
    );
    writeImageBin(layout.imageBin);
    for (const n of state.nodes) {
      const p = layout.node(n.name);
      for (const d of [p.pods, p.confDir, p.cniBinDir, join(p.socket, '..'), join(state.bpfRoot, n.name)])
        mkdirSync(d, { recursive: true });
      // No agent pods: the plugin is on the node beforehand, as in a node image, and so is bpffs.
      if (!state.agents) {
        installCni(p.root, { binDir: p.cniBinDir, confDir: p.confDir, runtimeDir: '/opt/cni/bin' });
        execFileSync('mount', ['-t', 'bpf', 'bpf', join(state.bpfRoot, n.name)], { stdio: 'ignore' });
      }
    }
    createNodeCgroups(
      state.runId,
      state.nodes.map((n) => n.name),
    );
    const daemon = startCompiled(DAEMON, ['--dir', dir], { log: layout.daemonLog });
    daemon.unref();
    layout.write({ ...state, daemonPid: daemon.pid ?? 0 });
    const deadline = Date.now() + NODES_DEFAULTS.readyTimeoutMs;
    let ready: NodesState | undefined;
    while (!ready) {
      const s = layout.read();
      if (s?.ready) ready = s;
      else if (daemon.exitCode !== null || Date.now() > deadline)
        throw new NodesError(NodesErrorCode.Start, `the nodes daemon did not become ready; see ${layout.daemonLog}`);
      else await new Promise((r) => setTimeout(r, 100));
    }
    say(`kubelets and scheduler: running (daemon pid ${ready.daemonPid}, log ${layout.daemonLog})`);
    if (!state.agents || !ciliumBinariesPresent().agent) {
      say(
        state.agents ? 'cmd/cilium-agent.ts does not exist: no install applied' : 'agents disabled: no install applied',
      );
      return ready;
    }
    const client = KubeClient.fromFile(layout.kubeconfig);
    try {
      // the cluster DNS add-on first (kubeadm installs CoreDNS the same way, before the CNI), so that
      // its well-known ClusterIP is still free
      await applyObjects(client, clusterDnsObjects());
      say(`cluster DNS applied: Deployment coredns, Service kube-dns ${CLUSTER_DNS_IP}`);
      const objects = devclusterInstall(state);
      // the etcd client certificate before the pods that mount it
      if (o.kvstore) await applyObjects(client, [o.kvstore.secret]);
      await applyObjects(client, objects);
      say(
        `install applied: ${objects.length} objects (cilium-config, DaemonSet cilium, Deployments cilium-operator and hubble-relay, RBAC, CRDs)`,
      );
      const until = Date.now() + AGENT_READY_TIMEOUT_MS;
      await Promise.all(
        state.nodes.map(async (n) => {
          await waitForAgent(n.name, layout.node(n.name).socket, until);
          say(`agent: cilium-agent on ${n.name} answers (${layout.node(n.name).socket})`);
        }),
      );
      if (o.waitForInstall)
        await waitForWorkloads(
          client,
          'kube-system',
          { daemonSets: ['cilium'], deployments: ['cilium-operator', 'hubble-relay', 'coredns'] },
          until,
          say,
        );
    } finally {
      client.close();
    }
    return ready;
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
  // what the daemon started and left behind (it was killed, or its pod's namespace went first)
  await stopPids(pidsReferencing(layout.root));
  const namespaces = await destroyRun(s.runId, s.bpfRoot);
  rmSync(layout.root, { recursive: true, force: true });
  return { namespaces };
}

/** The network namespace path of a pod (from its uid), or an error saying why there is none. */
export async function podNetns(dirIn: string, ref: string): Promise<string> {
  return (await podNamespaces(dirIn, ref)).net;
}

/**
 * A pod's namespaces: its network namespace, and the mount namespace of its first running
 * container when that one has its own (the container's filesystem view).
 */
export async function podNamespaces(
  dirIn: string,
  ref: string,
): Promise<{ net: string; mnt?: string; cgroup?: string }> {
  const layout = new NodesLayout(resolve(dirIn));
  const s = layout.read();
  if (!s) throw new NodesError(NodesErrorCode.NotUp, 'the devcluster has no nodes (up --nodes N)');
  const [namespace, name] = ref.includes('/') ? ref.split('/', 2) : ['default', ref];
  const client = KubeClient.fromFile(layout.kubeconfig);
  try {
    const pod = await client.get<{
      metadata: { uid: string };
      spec?: { nodeName?: string; hostNetwork?: boolean };
      status?: { containerStatuses?: { containerID?: string; started?: boolean }[] };
    }>(PODS, name!, namespace);
    const node = s.nodes.find((n) => n.name === pod.spec?.nodeName);
    const path = netnsPath(pod.spec?.hostNetwork && node ? node.netns : podNetnsName(s.runId, pod.metadata.uid));
    if (!existsSync(path))
      throw new NodesError(
        NodesErrorCode.NoSandbox,
        `pod ${namespace}/${name} has no sandbox yet${pod.spec?.nodeName ? ` on ${pod.spec.nodeName}` : ' (not scheduled)'}`,
      );
    const pid = /^devcluster:\/\/(\d+)$/.exec(
      pod.status?.containerStatuses?.find((c) => c.started)?.containerID ?? '',
    )?.[1];
    const mnt = pid ? `/proc/${pid}/ns/mnt` : undefined;
    const own = mnt && existsSync(mnt) && readlinkSync(mnt) !== readlinkSync('/proc/self/ns/mnt');
    return { net: path, ...(own ? { mnt } : {}), ...(node ? { cgroup: nodeCgroup(s.runId, node.name) } : {}) };
  } finally {
    client.close();
  }
}

/** Runs a command inside a pod's network namespace (and its container's filesystem view) with the caller's stdio; returns its exit status. */
export async function execInPod(
  dir: string,
  ref: string,
  cmd: string[],
  o: { capture?: boolean } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  if (!cmd.length) throw new NodesError(NodesErrorCode.Usage, 'exec: no command (exec NAMESPACE/POD -- CMD…)');
  const ns = await podNamespaces(dir, ref);
  // in the pod's node cgroup, as its containers (that node's socket-LB serves them)
  const [bin, args] = inCgroup(ns.cgroup, [
    'nsenter',
    `--net=${ns.net}`,
    ...(ns.mnt ? [`--mount=${ns.mnt}`] : []),
    '--',
    ...cmd,
  ]);
  const enter = [bin, ...args];
  if (!o.capture) {
    const r = spawnSync(enter[0]!, enter.slice(1), { stdio: 'inherit' });
    return { code: r.status ?? 1, stdout: '', stderr: '' };
  }
  return new Promise((resolvePromise, reject) => {
    const child = spawn(enter[0]!, enter.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout, stderr }));
  });
}
