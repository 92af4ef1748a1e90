// The agent the scale harness measures, two ways: `nodes` — node-1's cilium-agent pod on a real
// devcluster (two nodes, kernel datapath; RSS and CPU from /proc of its pid, the ipcache read from
// its pinned map, restart by deleting its pod); `inprocess` — an Agent with the sim datapath in
// this process against an in-process devcluster API server plus the operator (seconds to start:
// what `npm test` drives at small size; RSS and CPU are then the whole process's).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent } from '../../controllers/agent/agent.js';
import { AgentClient } from '../../controllers/agent/api/client.js';
import { agentOptions } from '../../controllers/agent/config.js';
import { KubeClient, type KubeObject, type Manager, type ResourceRef } from '../../controllers/framework/index.js';
import { operatorOptions } from '../../controllers/operator/config.js';
import { createOperator } from '../../controllers/operator/operator.js';
import { MapNames } from '../../datapath/constants.js';
import { remoteEndpointInfo } from '../../datapath/codecs.js';
import { ipcacheKeys } from '../../datapath/map-entries.js';
import { loadAddon } from '../../datapath/addon.js';
import { Devcluster, downDetached, upDetached } from '../../devcluster/cluster.js';
import { NodesLayout } from '../../devcluster/nodes/layout.js';
import { downNodes, upNodes } from '../../devcluster/nodes/nodes.js';
import { waitForPodCIDRs } from '../../devcluster/nodes/cluster-checks.js';
import { toolPath } from '../tools.js';

/** cilium-config for a cluster with simulated nodes: their CiliumNodes outlive the run (see nodesAgent). */
export const SIMULATED_NODES_CONFIG = { 'nodes-gc-interval': '24h0m0s' };

/** What the harness needs of the agent under test. */
export interface AgentUnderTest {
  readonly kind: 'nodes' | 'inprocess';
  readonly client: KubeClient;
  /** The identity the agent's ipcache holds for `ip`, if any (the kernel map itself for `nodes`). */
  lookup(ips: readonly string[]): Map<string, number>;
  /** Resident set size of the agent process, bytes. */
  rss(): number;
  /** CPU seconds the agent process used so far. */
  cpuSeconds(): number;
  /**
   * Restarts the agent; resolves once it is ready, with what it rewrote and its start-up stages (ms).
   * `env`: set on the agent's container for this start and the next (`nodes` only; e.g. the
   * Node's own options in NODE_OPTIONS).
   */
  restart(env?: Record<string, string>): Promise<RestartReport>;
  /** The agent's Prometheus text (its REST API's /metrics). */
  agentMetrics(): Promise<string>;
  /** The API server's Prometheus text (/metrics: apiserver_request_total, requests by user). */
  apiServerMetrics(): Promise<string>;
  /**
   * Restarts the operator with these cilium-config keys changed; resolves once the new one runs
   * (for `nodes`: the ConfigMap patched, the operator's pods deleted, their replacements running).
   */
  restartOperator(config: Record<string, string>): Promise<void>;
  /**
   * The leading operator's process since its last restart (`inprocess`: this whole process, and the
   * requests its client sent: it shares the harness's credentials, the API server cannot tell them apart).
   */
  operator(): { rss(): number; cpuSeconds(): number; requests?(): number };
  close(): Promise<void>;
}

/** An agent restart as its ready line tells it (`nodes`; `inprocess` fills what it can). */
export interface RestartReport {
  /** the container's start (its status' startedAt) → the ready line */
  readyMs: number;
  rewritten: number;
  unchanged: number;
  stagesMs: Record<string, number>;
  /** The agent's CPU per stage ("startupCpuMs" of its ready line) and its node base's parts. */
  cpuMs?: Record<string, number>;
  baseMs?: Record<string, number>;
  /** When each of the agent's informers synced, ms after its manager started. */
  syncMs?: Record<string, number>;
  /**
   * Before the stages: the container's start → the process's (the devcluster's sandbox: nsenter,
   * mounts, the image's wrapper), then process start → the entry's first line (`load`) → start()
   * (`construct`), wall and the agent's CPU.
   */
  containerToProcessMs?: number;
  beforeStartMs?: Record<string, number>;
  beforeStartCpuMs?: Record<string, number>;
}

const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
const LEASES: ResourceRef = {
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  kind: 'Lease',
  namespaced: true,
};
const DAEMONSETS: ResourceRef = {
  group: 'apps',
  version: 'v1',
  plural: 'daemonsets',
  kind: 'DaemonSet',
  namespaced: true,
};

const procStatus = (pid: number | 'self') => readFileSync(`/proc/${pid}/status`, 'utf8');
const rssOf = (pid: number | 'self') => Number(/VmRSS:\s+(\d+)/.exec(procStatus(pid))?.[1] ?? 0) * 1024;
/** utime + stime of a process, seconds (clock ticks of 1/100 s on Linux). */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** The datapath writes a (re)started agent logged: `{ ipcache: {added, updated, removed, unchanged}, … }`. */
interface RestartWrites {
  ipcache?: { added: number; updated: number; removed: number; unchanged: number };
  endpoints?: { added: number; updated: number; removed: number; unchanged: number };
  policyMapsReplaced?: number;
}
const rewrittenOf = (w: RestartWrites) =>
  (w.ipcache ? w.ipcache.added + w.ipcache.updated + w.ipcache.removed : 0) +
  (w.endpoints ? w.endpoints.added + w.endpoints.updated + w.endpoints.removed : 0) +
  (w.policyMapsReplaced ?? 0);

/**
 * node-1's agent pod on a two-node devcluster: a new one, or (`dir`) the one already up there
 * (upDetached and upNodes find it); `keep` leaves it up at close (scale-restart.ts iterates on it).
 */
export async function nodesAgent(
  progress: (l: string) => void,
  o: { dir?: string; keep?: boolean } = {},
): Promise<AgentUnderTest> {
  const dir = o.dir ?? join(mkdtempSync(join(tmpdir(), 'kts-bench-scale-')), 'c');
  await upDetached({ dir, port: 0 });
  const client = KubeClient.fromFile(join(dir, 'kubeconfig'));
  const layout = new NodesLayout(dir);
  const close = async () => {
    client.close();
    if (o.keep) return;
    await downNodes(dir).catch(() => undefined);
    await downDetached(dir).catch(() => undefined);
    // the temporary parent this made (a given dir's parent is not ours)
    if (!o.dir) rmSync(join(dir, '..'), { recursive: true, force: true });
  };
  try {
    // The simulated nodes have CiliumNodes but no Nodes (no kubelets): the operator's CiliumNode GC
    // would delete them nodes-gc-interval (5 min) after it first saw them — and with them, through
    // the API server's ownerReference collector, every CEP they own, while a large load is still
    // being written (50,000 pods take longer than that). A day is longer than any run.
    const state = await upNodes(dir, { nodes: 2, progress, config: SIMULATED_NODES_CONFIG });
    await waitForPodCIDRs(client, 2, 120_000);
    const addon = loadAddon();
    const pin = join(state.bpfRoot, 'node-1', 'tc', 'globals', MapNames.ipcache);
    const agentPod = async () => {
      const pods = await client.list<AgentPod>(PODS, { namespace: 'kube-system', labelSelector: 'k8s-app=cilium' });
      return pods.items.find((p) => p.spec?.nodeName === 'node-1' && !p.metadata?.deletionTimestamp);
    };
    const pidOf = (p: AgentPod | undefined) => containerPid(p, 'cilium-agent');
    let pid = 0;
    while (!(pid = pidOf(await agentPod()))) await new Promise((r) => setTimeout(r, 200));
    let fd = addon.objGet(pin);
    const value = new Uint8Array(remoteEndpointInfo.size);
    /** the leading operator's pid (its Lease holder is `<host>-<pid>`), or every replica's when unknown */
    let operatorPids: number[] = [];
    const operatorPods = async () =>
      (
        await client.list<AgentPod>(PODS, { namespace: 'kube-system', labelSelector: 'io.cilium/app=operator' })
      ).items.filter((p) => !p.metadata?.deletionTimestamp);
    const sumOver = (f: (pid: number) => number) => () =>
      operatorPids.reduce((a, pid) => {
        try {
          return a + f(pid);
        } catch {
          return a; // the process is gone
        }
      }, 0);
    return {
      kind: 'nodes',
      client,
      operator: () => ({ rss: sumOver(rssOf), cpuSeconds: sumOver(cpuOf) }),
      async restartOperator(config) {
        await client.patch(CONFIGMAPS, 'cilium-config', 'kube-system', { data: config } as KubeObject, 'merge');
        const old = await operatorPods();
        const oldUids = new Set(old.map((p) => p.metadata?.uid));
        await Promise.all(old.map((p) => client.delete(PODS, p.metadata!.name!, 'kube-system').catch(() => undefined)));
        const deadline = Date.now() + 180_000;
        for (;;) {
          const fresh = (await operatorPods()).filter((p) => !oldUids.has(p.metadata?.uid));
          const pids = fresh.map((p) => containerPid(p, 'cilium-operator')).filter(Boolean);
          const lease = await client.get<KubeObject & { spec?: { holderIdentity?: string } }>(
            LEASES,
            'cilium-operator-resource-lock',
            'kube-system',
          );
          const leader = pids.find((pid) => lease.spec?.holderIdentity?.endsWith(`-${pid}`));
          if (leader || (Date.now() > deadline && pids.length)) {
            operatorPids = leader ? [leader] : pids;
            if (!leader) progress(`operator restarted; its leader unknown, measuring all ${pids.length} replicas`);
            return;
          }
          if (Date.now() > deadline) throw new Error('the operator did not come back within 180 s');
          await new Promise((r) => setTimeout(r, 500));
        }
      },
      lookup(ips) {
        const out = new Map<string, number>();
        const keys = ipcacheKeys(ips.map((ip) => `${ip}/32`));
        keys.forEach((k, i) => {
          if (addon.mapLookup(fd, k, value)) out.set(ips[i]!, remoteEndpointInfo.decode(value).secIdentity);
        });
        return out;
      },
      rss: () => rssOf(pid),
      cpuSeconds: () => cpuOf(pid),
      agentMetrics: () =>
        new AgentClient({ socketPath: layout.node('node-1').socket }).request<string>('GET', '/metrics'),
      apiServerMetrics: async () =>
        execFileSync(toolPath('kubectl'), ['--kubeconfig', join(dir, 'kubeconfig'), 'get', '--raw', '/metrics'], {
          encoding: 'utf8',
          maxBuffer: 64 << 20,
        }),
      async restart(env) {
        const current = await agentPod();
        const before = current?.metadata?.uid;
        // Node-1's agent alone, as after a crash or `kubectl delete pod`: a rollout restarts both
        // nodes' agents at once (maxUnavailable 2, upstream's default), and here both nodes share
        // this machine's two CPUs, which a real cluster's nodes do not (both restarting: ≈ 13–17 s
        // at 50,000 pods, each agent's list and parse competing with the other's).
        if (!env && current) await client.delete(PODS, current.metadata!.name!, 'kube-system');
        else
          await client.patch(
            DAEMONSETS,
            'cilium',
            'kube-system',
            {
              spec: {
                template: {
                  metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } },
                  ...(env
                    ? {
                        spec: {
                          containers: [
                            {
                              name: 'cilium-agent',
                              env: Object.entries(env).map(([name, value]) => ({ name, value })),
                            },
                          ],
                        },
                      }
                    : {}),
                },
              },
            } as unknown as KubeObject,
            'strategic',
          );
        for (;;) {
          const pod = await agentPod();
          const status = pod?.status?.containerStatuses?.find((s) => s.name === 'cilium-agent');
          const startedAt = status?.state?.running?.startedAt;
          const log =
            pod &&
            pod.metadata?.uid !== before &&
            layout.containerLog('kube-system', pod.metadata!.name!, 'cilium-agent');
          if (startedAt && log && existsSync(log)) {
            const lines = readFileSync(log, 'utf8').split('\n');
            const ready = lines.find((l) => l.includes('"msg":"cilium-agent ready"'));
            const writes = lines.find((l) => l.includes('"msg":"datapath writes after restart"'));
            if (ready && writes) {
              pid = pidOf(pod);
              addon.close(fd);
              fd = addon.objGet(pin);
              const r = JSON.parse(ready) as {
                time: number | string;
                startupMs?: Record<string, number>;
                startupCpuMs?: Record<string, number>;
                baseMs?: Record<string, number>;
                syncMs?: Record<string, number>;
                beforeStart?: { ms: Record<string, number>; cpuMs: Record<string, number> };
                processStart?: string;
              };
              const time = r.time;
              const w = JSON.parse(writes) as RestartWrites;
              return {
                readyMs: (typeof time === 'number' ? time : Date.parse(time)) - Date.parse(startedAt),
                rewritten: rewrittenOf(w),
                unchanged: w.ipcache?.unchanged ?? 0,
                stagesMs: r.startupMs ?? {},
                cpuMs: r.startupCpuMs ?? {},
                baseMs: r.baseMs ?? {},
                syncMs: r.syncMs ?? {},
                ...(r.processStart ? { containerToProcessMs: Date.parse(r.processStart) - Date.parse(startedAt) } : {}),
                ...(r.beforeStart ? { beforeStartMs: r.beforeStart.ms, beforeStartCpuMs: r.beforeStart.cpuMs } : {}),
              };
            }
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      async close() {
        addon.close(fd);
        await close();
      },
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The host pid of a pod's container (the devcluster's container IDs are `devcluster://<pid>`), 0 if none yet. */
function containerPid(p: AgentPod | undefined, container: string): number {
  const s = p?.status?.containerStatuses?.find((c) => c.name === container);
  return Number(/^devcluster:\/\/(\d+)$/.exec(s?.containerID ?? '')?.[1] ?? 0);
}

interface AgentPod extends KubeObject {
  spec?: { nodeName?: string };
  status?: {
    containerStatuses?: { name: string; containerID?: string; state?: { running?: { startedAt?: string } } }[];
  };
}

/** The in-process agent can also be stopped alone (memory: the heap without it) and started again. */
export interface InprocessAgent extends AgentUnderTest {
  stopAgent(): Promise<void>;
  startAgent(): Promise<void>;
}

/** An in-process agent (sim datapath) and operator against an in-process devcluster. */
export async function inprocessAgent(): Promise<InprocessAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'kts-bench-scale-inproc-'));
  const cluster = await Devcluster.start({ dir: join(dir, 'cluster') });
  const client = KubeClient.fromFile(cluster.kubeconfig);
  const silent = pino({ level: 'silent' });
  const NODES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false };
  const NS: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false };
  await client.create(NS, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } }).catch(() => 0);
  await client.create(NODES, {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'node-1' },
    status: { addresses: [{ type: 'InternalIP', address: '192.0.2.10' }] },
  });
  let operator: Manager | undefined;
  const start = async () => {
    const a = new Agent(
      agentOptions({
        'node-name': 'node-1',
        kubeconfig: cluster.kubeconfig,
        datapath: 'sim',
        'manage-node-network': 'false',
        'socket-path': join(dir, 'agent', 'cilium.sock'),
        'state-dir': join(dir, 'agent', 'state'),
        'agent-health-port': '0',
      }),
      { log: silent },
    );
    const t0 = Date.now();
    await a.start();
    return { a, readyMs: Date.now() - t0 };
  };
  const close = async () => {
    await agent?.stop().catch(() => undefined);
    await operator?.stop().catch(() => undefined);
    client.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  let agent: Agent | undefined;
  const startOperator = async (config: Record<string, string> = {}) => {
    operator = createOperator(
      {
        ...operatorOptions({
          kubeconfig: cluster.kubeconfig,
          'cluster-pool-ipv4-cidr': '10.250.0.0/16',
          'cluster-pool-ipv4-mask-size': '24',
          'operator-api-serve-addr': '127.0.0.1:0',
          ...SIMULATED_NODES_CONFIG,
          ...config,
        }),
        leaseDurationMs: 2000,
        renewDeadlineMs: 1500,
        retryPeriodMs: 200,
      },
      { log: silent },
    );
    await operator.start();
  };
  try {
    // The agent installs the CRDs; the operator (IPAM, GC) comes after them.
    agent = (await start()).a;
    await startOperator();
  } catch (e) {
    await close();
    throw e;
  }
  return {
    kind: 'inprocess',
    client,
    lookup(ips) {
      const want = new Set(ips.map((ip) => `${ip}/32`));
      const out = new Map<string, number>();
      for (const e of agent!.datapath.dumpIpcache()) if (want.has(e.prefix)) out.set(e.prefix.slice(0, -3), e.identity);
      return out;
    },
    rss: () => rssOf('self'),
    async restartOperator(config) {
      await operator?.stop();
      await startOperator(config);
    },
    operator: () => ({
      requests: () => [...(operator?.client.sent.values() ?? [])].reduce((a, b) => a + b, 0),
      rss: () => rssOf('self'),
      cpuSeconds: () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1e6;
      },
    }),
    agentMetrics: () => agent!.manager.metrics.registry.metrics(),
    apiServerMetrics: async () => cluster.apiserver.requests.text(),
    cpuSeconds: () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    },
    async stopAgent() {
      await agent?.stop();
      agent = undefined;
    },
    async startAgent() {
      agent = (await start()).a;
    },
    async restart() {
      await agent!.stop();
      // The sim datapath starts empty: every entry is rewritten (the kernel's pinned maps are the real test).
      const r = await start();
      agent = r.a;
      return { readyMs: r.readyMs, rewritten: -1, unchanged: 0, stagesMs: r.a.startupMs ?? {} };
    },
    close,
  };
}
