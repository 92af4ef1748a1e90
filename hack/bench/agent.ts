// Benchmark: policy propagation on one devcluster node — from the API call that creates a
// CiliumNetworkPolicy to the kernel letting a probe connection through — with 10, 100 and 1,000
// endpoints on the node, and the agent's RSS. Every endpoint is selected by the policy, so each
// change regenerates all of them.
//   npm run bench:agent [-- --endpoints 10,100,1000 --rounds 20]
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeClient, testing, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';
import { downDetached, upDetached } from '../devcluster/cluster.js';
import { NodesLayout } from '../devcluster/nodes/layout.js';
import { downNodes, podNetns, upNodes } from '../devcluster/nodes/nodes.js';

const { values } = parseArgs({ options: { endpoints: { type: 'string' }, rounds: { type: 'string' } } });
const SIZES = (values.endpoints ?? '10,100,1000').split(',').map(Number);
const ROUNDS = Number(values.rounds ?? 20);
const NS: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false };
const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
const CNPS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnetworkpolicies',
  kind: 'CiliumNetworkPolicy',
  namespaced: true,
};
const CNS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnodes',
  kind: 'CiliumNode',
  namespaced: false,
};

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const PROBER = `
import socket, sys, time
ip = sys.argv[1]
def attempt(timeout):
    s = socket.socket(); s.settimeout(timeout)
    try:
        s.connect((ip, 8080)); return True
    except Exception:
        return False
    finally:
        s.close()
for line in sys.stdin:
    want = line.strip() == 'open'
    t = time.monotonic()
    if want:
        # open: the first connect that succeeds (a SYN the policy drops just times out)
        while not attempt(0.01): pass
    else:
        # closed: three connects in a row that fail with a generous timeout (no false "closed" under load)
        fails = 0
        while fails < 3:
            fails = 0 if attempt(0.3) else fails + 1
    print(round((time.monotonic() - t) * 1000, 2), flush=True)
`;

class Prober {
  private pending: ((ms: number) => void)[] = [];
  constructor(private readonly p: ChildProcessWithoutNullStreams) {
    let buf = '';
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.pending.shift()?.(Number(line));
      }
    });
  }
  /** Starts waiting for the state now; resolves with the ms it took from this call. */
  waitFor(state: 'open' | 'closed'): Promise<number> {
    return new Promise((r) => {
      this.pending.push(r);
      this.p.stdin.write(`${state}\n`);
    });
  }
  stop(): void {
    this.p.kill('SIGKILL');
  }
}

const pod = (name: string, labels: Record<string, string>, command: string[]): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'bench', labels },
  spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'none', command }] },
});

let current: string | undefined;
// An interrupted benchmark still takes its cluster down: namespaces, pins and processes.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    const dir = current;
    if (!dir) process.exit(130);
    void downNodes(dir)
      .catch(() => undefined)
      .then(() => downDetached(dir).catch(() => undefined))
      .finally(() => process.exit(130));
  });
}

async function runSize(n: number): Promise<{ p50: number; p99: number; max: number; rssMiB: number; setupS: number }> {
  const dir = join(mkdtempSync(join(tmpdir(), 'kts-bench-agent-')), 'c');
  const started = Date.now();
  current = dir;
  await upDetached({ dir });
  let prober: Prober | undefined;
  const client = KubeClient.fromFile(join(dir, 'kubeconfig'));
  try {
    // A /21 holds 2,045 pods: the default /24 stops at 253 on one node.
    await upNodes(dir, { nodes: 1, config: { 'cluster-pool-ipv4-mask-size': '21' } });
    await testing.waitFor(
      () =>
        client
          .list<KubeObject & { spec?: { ipam?: { podCIDRs?: string[] } } }>(CNS)
          .then((l) => l.items[0]?.spec?.ipam?.podCIDRs?.length),
      { what: 'a pod CIDR', timeoutMs: 60_000 },
    );
    await client.create(NS, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
    await client.create(PODS, pod('server', { role: 'server' }, ['python3', '-m', 'http.server', '8080']));
    await client.create(PODS, pod('client', { role: 'client' }, ['sleep', 'infinity']));
    for (let i = 0; i < n - 2; i += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, n - 2 - i) }, (_, j) =>
          client.create(PODS, pod(`filler-${i + j}`, { role: 'filler' }, ['sleep', 'infinity'])),
        ),
      );
    }
    const running = await testing.waitFor(
      async () => {
        const items = (
          await client.list<KubeObject & { status?: { phase?: string; podIP?: string } }>(PODS, { namespace: 'bench' })
        ).items;
        return items.filter((p) => p.status?.phase === 'Running').length === Math.max(n, 2) ? items : undefined;
      },
      { what: `${n} running pods`, timeoutMs: 600_000, intervalMs: 500 },
    );
    const serverIp = running.find((p) => p.metadata?.name === 'server')!.status!.podIP!;
    const clientNs = await podNetns(dir, 'bench/client');
    prober = new Prober(spawn('nsenter', [`--net=${clientNs}`, '--', 'python3', '-u', '-c', PROBER, serverIp]));
    await prober.waitFor('open');
    // Every endpoint is selected and enforcing: only the client's allow opens the server.
    await client.create(CNPS, {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'lockdown', namespace: 'bench' },
      spec: { endpointSelector: {}, ingress: [{ fromEndpoints: [{ matchLabels: { role: 'nobody' } }] }] },
    });
    await prober.waitFor('closed');
    const samples: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const opened = prober.waitFor('open');
      await client.create(CNPS, {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name: 'allow-client', namespace: 'bench' },
        spec: { endpointSelector: {}, ingress: [{ fromEndpoints: [{ matchLabels: { role: 'client' } }] }] },
      });
      samples.push(await opened);
      await client.delete(CNPS, 'allow-client', 'bench');
      await prober.waitFor('closed');
    }
    const state = new NodesLayout(dir).read()!;
    const socket = new NodesLayout(dir).node('node-1').socket;
    const pid = await new Promise<string>((res) => {
      const p = spawn('pgrep', ['-f', `cilium-agent.ts.*${socket}`]);
      let o = '';
      p.stdout.on('data', (d: Buffer) => (o += d));
      p.on('close', () => res(o.trim().split('\n')[0] ?? ''));
    });
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    void state;
    return {
      p50: pct(samples, 50),
      p99: pct(samples, 99),
      max: Math.max(...samples),
      rssMiB: rssKb / 1024,
      setupS: (Date.now() - started) / 1000,
    };
  } finally {
    prober?.stop();
    client.close();
    await downNodes(dir).catch(() => undefined);
    await downDetached(dir).catch(() => undefined);
    rmSync(join(dir, '..'), { recursive: true, force: true });
  }
}

console.log(
  `policy propagation: API create of a CNP selecting every endpoint → probe connection through the kernel; ${ROUNDS} rounds per size; Node ${process.version}`,
);
console.log(
  `${'endpoints'.padEnd(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'agent RSS MiB'.padStart(14)} ${'setup s'.padStart(8)}`,
);
for (const n of SIZES) {
  const r = await runSize(n);
  console.log(
    `${String(n).padEnd(10)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${r.max.toFixed(1).padStart(8)} ${r.rssMiB.toFixed(0).padStart(14)} ${r.setupS.toFixed(0).padStart(8)}`,
  );
}
