// A devcluster with one real node for e2e suites whose pods must really run (exec, logs, restarts,
// workload controllers against the real runner): the API server and controllers as `up` starts
// them, one netns node with its kubelet-like runner, and — instead of cilium-agent — a stand-in of
// the agent's REST API that answers the CNI plugin (IPAM from the node's /24, the router address
// on cilium_host). kubectl 1.32 bound to it with a private cache.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downDetached, upDetached } from '../../devcluster/cluster.js';
import { NodesLayout, type NodesState } from '../../devcluster/nodes/layout.js';
import { downNodes, upNodes } from '../../devcluster/nodes/nodes.js';
import { intToIp, parseCidr } from '../../devcluster/nodes/ranges.js';
import { FakeAgent } from '../cni/fake-agent.js';
import { eventually, KUBECTL, type KubectlResult } from './harness.js';

export interface PodStatusLite {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { nodeName?: string; hostname?: string; subdomain?: string };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
    containerStatuses?: { name: string; containerID: string; restartCount: number; ready: boolean }[];
  };
}

export class NodeCluster {
  readonly layout: NodesLayout;
  private readonly running = new Set<ChildProcess>();
  private agent?: FakeAgent;
  state!: NodesState;

  private constructor(readonly dir: string) {
    this.layout = new NodesLayout(dir);
  }

  static async start(name: string): Promise<NodeCluster> {
    const c = new NodeCluster(mkdtempSync(join(tmpdir(), `kts-${name}-`)));
    try {
      await upDetached({ dir: c.dir, port: 0 });
      c.state = await upNodes(c.dir, { nodes: 1, agents: false });
      const n = c.state.nodes[0]!;
      const pool = parseCidr(c.state.ranges.clusterPool);
      c.agent = new FakeAgent({ socketPath: c.layout.node(n.name).socket, cidr: `${intToIp(pool.base + 256)}/24` });
      await c.agent.start();
      const ipIn = (...args: string[]) => execFileSync('ip', ['-n', n.netns, ...args]);
      ipIn('link', 'add', 'cilium_host', 'type', 'veth', 'peer', 'name', 'cilium_net');
      ipIn('link', 'set', 'cilium_net', 'up');
      ipIn('link', 'set', 'cilium_host', 'up');
      ipIn('addr', 'add', `${c.agent.gateway}/32`, 'dev', 'cilium_host');
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  /** Everything goes: kubectl children, pods and the node, the API server and etcd, the directory. */
  async stop(): Promise<void> {
    for (const ch of this.running) ch.kill('SIGKILL');
    await downNodes(this.dir).catch(() => undefined);
    await downDetached(this.dir).catch(() => undefined);
    await this.agent?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      KUBECONFIG: this.layout.kubeconfig,
      KUBECACHEDIR: join(this.dir, 'kubecache'),
      HOME: this.dir,
    };
  }

  kubectl(args: string[], stdin?: string): Promise<KubectlResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(KUBECTL, args, { env: this.env() });
      this.running.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        this.running.delete(child);
        resolve({ code: code ?? -1, stdout, stderr });
      });
      // A kubectl that exits before reading its stdin (all but `-f -`) closes the pipe under our write:
      // EPIPE, which would be thrown in this process. Its exit code and stderr say how it went.
      child.stdin.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EPIPE') reject(e);
      });
      child.stdin.end(stdin ?? '');
    });
  }

  /** A long-running kubectl (logs -f, get -w); stopped with the cluster. */
  spawnKubectl(args: string[]): ChildProcess {
    const child = spawn(KUBECTL, args, { env: this.env() });
    this.running.add(child);
    child.on('close', () => this.running.delete(child));
    return child;
  }

  async ok(args: string[], stdin?: string): Promise<string> {
    const r = await this.kubectl(args, stdin);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  async getPod(name: string): Promise<PodStatusLite | undefined> {
    const r = await this.kubectl(['get', 'pod', name, '-o', 'json']);
    return r.code === 0 ? (JSON.parse(r.stdout) as PodStatusLite) : undefined;
  }

  /** Waits until the pod is Running with every container ready. */
  async runningPod(name: string, ms = 30_000): Promise<PodStatusLite> {
    await eventually(
      async () => {
        const p = await this.getPod(name);
        return p?.status.phase === 'Running' && !!p.status.containerStatuses?.every((c) => c.ready);
      },
      ms,
      `pod ${name} Running`,
    );
    return (await this.getPod(name))!;
  }
}

/** A Pod of `sh -c` containers (images are ignored on the devcluster). */
export function shPod(
  name: string,
  containers: { name: string; script: string }[],
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      ...extra,
      containers: containers.map((c) => ({ name: c.name, image: 'ignored:latest', command: ['sh', '-c', c.script] })),
    },
  });
}

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The host pid of a container (the runner reports it as `devcluster://<pid>`). */
export const containerPid = (p: PodStatusLite, container = 'main'): number =>
  Number(p.status.containerStatuses?.find((c) => c.name === container)?.containerID.replace('devcluster://', ''));
