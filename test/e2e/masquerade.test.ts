// Masquerading end to end: a two-node devcluster (cilium-ts as the pods of its own install, BPF
// masquerading on by default) and its outside, a namespace on the fabric with an echo server that
// reports the source it sees and has NO route to the pod CIDRs. A pod reaches it only because its
// packets leave with its node's address: the server sees that address, `cilium-dbg bpf nat list`
// shows the mapping, a long-running stream keeps flowing across an agent SIGKILL and restart
// (the NAT table is pinned), pod-to-pod traffic keeps pod addresses, with
// enable-ipv4-masquerade=false the outside gets the pod's address and its reply goes nowhere, and
// with enable-bpf-masquerade=false an iptables MASQUERADE rule of the agent's does the job.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binaryEntry } from '../../cdk8s/process-launch.js';
import { KubeClient, testing, type KubeObject } from '../../controllers/framework/index.js';
import { downDetached, upDetached, type Devcluster } from '../../devcluster/cluster.js';
import { waitForPodCIDRs, waitForPods } from '../../devcluster/nodes/cluster-checks.js';
import { NodesLayout, type NodesState } from '../../devcluster/nodes/layout.js';
import { downNodes, podNetns, upNodes } from '../../devcluster/nodes/nodes.js';
import { Kubectl } from './harness.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'kts-e2e-masq-'));
let state: NodesState;
let client: KubeClient;
let kubectl: Kubectl;
let ips = new Map<string, string>();
const children: ChildProcess[] = [];

const SLEEPER = (name: string, node: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'masq', labels: { app: name } },
  spec: { nodeName: node, containers: [{ name: 'main', image: 'none', command: ['sleep', '100000'] }] },
});
const MANIFESTS = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'masq' } },
  SLEEPER('client-1', 'node-1'),
  SLEEPER('peer-2', 'node-2'),
];

const nodeIp = (name: string) => state.nodes.find((n) => n.name === name)!.ip;

/** Python in a pod's network namespace; its stdout (empty on failure), never throws. */
async function inPod(pod: string, script: string, timeoutMs = 10_000): Promise<string> {
  const ns = await podNetns(dir, pod);
  try {
    const { stdout } = await run('nsenter', [`--net=${ns}`, '--', 'python3', '-c', script], { timeout: timeoutMs });
    return stdout.trim();
  } catch (e) {
    return (e as { stdout?: string }).stdout?.trim() ?? '';
  }
}

/** The first line the outside's TCP echo server sends: `peer <addr>:<port>`, or '' without a reply. */
const tcpPeer = (pod: string) =>
  inPod(
    pod,
    `import socket
s=socket.create_connection(('${state.outside!.ip}', ${state.outside!.port}), timeout=3)
print(s.makefile().readline().strip())`,
  );

const udpPeer = (pod: string) =>
  inPod(
    pod,
    `import socket
u=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3)
u.sendto(b'hello', ('${state.outside!.ip}', ${state.outside!.port}))
print(u.recvfrom(2048)[0].decode())`,
  );

/** The cilium-agent container of a node's cilium pod: its main process and restart count. */
async function agentContainer(node: string): Promise<{ pid: number; restartCount: number; pod: string }> {
  const pods = await client.list<KubeObject & { status?: { containerStatuses?: Record<string, unknown>[] } }>(
    { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
    { namespace: 'kube-system', labelSelector: 'k8s-app=cilium', fieldSelector: `spec.nodeName=${node}` },
  );
  const p = pods.items.find((i) => !i.metadata?.deletionTimestamp);
  const c = p?.status?.containerStatuses?.find((s) => s.name === 'cilium-agent');
  return {
    pid: Number(/^devcluster:\/\/(\d+)$/.exec(String(c?.containerID ?? ''))?.[1] ?? 0),
    restartCount: Number(c?.restartCount ?? -1),
    pod: p?.metadata?.name ?? '',
  };
}

/** cilium-dbg against a node's agent. */
async function dbg(node: string, args: string[]): Promise<string> {
  const socket = new NodesLayout(dir).node(node).socket;
  const { stdout } = await run(process.execPath, [binaryEntry('cilium-dbg'), ...args, '--socket', socket]);
  return stdout;
}

const readyLines = (node: string) =>
  readFileSync(new NodesLayout(dir).node(node).agentLog, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"msg":"cilium-agent ready"'));

beforeAll(async () => {
  await upDetached({ dir, port: 0 });
  state = await upNodes(dir, { nodes: 2 });
  client = KubeClient.fromFile(join(dir, 'kubeconfig'));
  kubectl = new Kubectl({ kubeconfig: join(dir, 'kubeconfig'), dir } as Devcluster);
  await waitForPodCIDRs(client, 2, 60_000);
  await kubectl.ok(['apply', '-f', '-'], MANIFESTS.map((m) => JSON.stringify(m)).join('\n'));
  ips = await waitForPods(client, { count: 2, what: 'the two pods', namespaces: ['masq'], timeoutMs: 90_000 });
}, 300_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  kubectl?.stopAll();
  client?.close();
  await downNodes(dir).catch(() => undefined);
  await downDetached(dir).catch(() => undefined);
}, 60_000);

describe('masquerading to the outside (BPF, the default)', () => {
  it('the outside has one route, to the node subnet: none to the pod CIDRs', async () => {
    const routes = (await run('ip', ['-n', state.outside!.netns, '-4', 'route', 'show'])).stdout.trim().split('\n');
    expect(routes).toHaveLength(1);
    expect(routes[0]).toMatch(new RegExp(`^${state.ranges.nodeSubnet.replace(/\./g, '\\.')} dev eth0`));
  });

  it("a pod reaches the outside by TCP and UDP, which sees its node's address", async () => {
    const tcp = await testing.waitFor(async () => (await tcpPeer('masq/client-1')) || undefined, {
      what: 'the outside to answer client-1 over TCP',
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    expect(tcp).toMatch(new RegExp(`^peer ${nodeIp('node-1').replace(/\./g, '\\.')}:\\d+$`));
    expect(await udpPeer('masq/client-1')).toMatch(
      new RegExp(`^peer ${nodeIp('node-1').replace(/\./g, '\\.')}:\\d+ hello$`),
    );
  }, 60_000);

  it('cilium-dbg shows the mapping (bpf nat list) and the mode (status)', async () => {
    await tcpPeer('masq/client-1');
    const nat = await dbg('node-1', ['bpf', 'nat', 'list']);
    const o = state.outside!;
    expect(nat).toMatch(
      new RegExp(`TCP OUT ${ips.get('masq/client-1')}:\\d+ -> ${o.ip}:${o.port} XLATE_SRC ${nodeIp('node-1')}:\\d+`),
    );
    expect(nat).toMatch(
      new RegExp(`TCP IN ${o.ip}:${o.port} -> ${nodeIp('node-1')}:\\d+ XLATE_DST ${ips.get('masq/client-1')}:`),
    );
    const status = await dbg('node-1', ['status']);
    expect(status).toContain(`Masquerading:   BPF [eth0] ${state.ranges.clusterPool} [IPv4: Enabled, IPv6: Disabled]`);
  });

  it('pod-to-pod traffic keeps pod addresses', async () => {
    const ns = await podNetns(dir, 'masq/peer-2');
    const server = spawn(
      'nsenter',
      [
        `--net=${ns}`,
        '--',
        'python3',
        '-c',
        "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 9100)); s.listen(8)\nwhile True:\n  c,a=s.accept(); c.sendall(('peer %s\\n' % a[0]).encode()); c.close()",
      ],
      { stdio: 'ignore' },
    );
    children.push(server);
    const seen = await testing.waitFor(
      async () =>
        (await inPod(
          'masq/client-1',
          `import socket\ns=socket.create_connection(('${ips.get('masq/peer-2')}', 9100), timeout=2)\nprint(s.makefile().readline().strip())`,
        )) || undefined,
      { what: 'peer-2 to answer', timeoutMs: 20_000, intervalMs: 300 },
    );
    expect(seen).toBe(`peer ${ips.get('masq/client-1')}`);
    server.kill('SIGKILL');
  }, 40_000);

  it('a long-running TCP stream through masquerading survives an agent SIGKILL and restart', async () => {
    const ns = await podNetns(dir, 'masq/client-1');
    const o = state.outside!;
    const stream = spawn(
      'nsenter',
      [
        `--net=${ns}`,
        '--',
        'python3',
        '-u',
        '-c',
        `import socket,time\ns=socket.create_connection(('${o.ip}', ${o.port}), timeout=5)\nf=s.makefile()\nf.readline()\nn=0\nwhile True:\n  s.sendall(b'x'*64+b'\\n'); f.readline(); n+=1\n  print(n, flush=True); time.sleep(0.05)`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(stream);
    let echoes = 0;
    let err = '';
    let pending = '';
    stream.stdout!.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) if (l.trim()) echoes = Math.max(echoes, Number(l));
    });
    stream.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await testing.waitFor(() => echoes > 5, { what: 'the stream to flow' });
    const first = await agentContainer('node-1');
    const readyBefore = readyLines('node-1').length;
    process.kill(first.pid, 'SIGKILL');
    const atKill = echoes;
    await new Promise((r) => setTimeout(r, 1500));
    expect(echoes).toBeGreaterThan(atKill + 10); // agent down: the pinned programs and NAT table carry it
    await testing.waitFor(
      async () =>
        (await agentContainer('node-1')).restartCount === first.restartCount + 1 &&
        readyLines('node-1').length > readyBefore,
      { what: 'the kubelet to restart the agent', timeoutMs: 60_000, intervalMs: 300 },
    );
    const atReady = echoes;
    await new Promise((r) => setTimeout(r, 2000));
    expect(echoes).toBeGreaterThan(atReady + 10); // the restarted agent re-attached without breaking it
    expect(stream.exitCode).toBeNull();
    expect(err).toBe('');
    stream.kill('SIGKILL');
  }, 120_000);
});

/** Changes cilium-config and replaces node-1's agent pod (a ConfigMap volume is read at pod start). */
async function reconfigureNode1(data: Record<string, string>, status: RegExp): Promise<void> {
  await kubectl.ok([
    '-n',
    'kube-system',
    'patch',
    'configmap',
    'cilium-config',
    '--type',
    'merge',
    '-p',
    JSON.stringify({ data }),
  ]);
  const before = await agentContainer('node-1');
  await kubectl.ok(['-n', 'kube-system', 'delete', 'pod', before.pod, '--wait=false']);
  await testing.waitFor(
    async () => {
      const now = await agentContainer('node-1');
      return now.pod !== before.pod && now.pid > 0;
    },
    { what: 'a new agent pod on node-1', timeoutMs: 90_000, intervalMs: 500 },
  );
  await testing.waitFor(async () => status.test(await dbg('node-1', ['status']).catch(() => '')), {
    what: `the new agent to report ${status}`,
    timeoutMs: 60_000,
    intervalMs: 500,
  });
}

describe('enable-ipv4-masquerade: false', () => {
  it("leaves pods' packets with their own address: the outside cannot answer", async () => {
    await reconfigureNode1({ 'enable-ipv4-masquerade': 'false' }, /Masquerading:\s+Disabled/);
    expect(await tcpPeer('masq/client-1')).toBe('');
    expect(await udpPeer('masq/client-1')).toBe('');
  }, 150_000);
});

describe('enable-bpf-masquerade: false (iptables)', () => {
  it("masquerades by a MASQUERADE rule in the node's chain CILIUM_POST_nat: the outside sees the node", async () => {
    await reconfigureNode1(
      { 'enable-ipv4-masquerade': 'true', 'enable-bpf-masquerade': 'false' },
      /Masquerading:\s+IPTables \[eth0\]/,
    );
    const node1 = state.nodes.find((n) => n.name === 'node-1')!;
    const rules = (await run('ip', ['netns', 'exec', node1.netns, 'iptables', '-t', 'nat', '-S'])).stdout;
    expect(rules).toContain('-A POSTROUTING -j CILIUM_POST_nat');
    expect(rules).toMatch(
      /-A CILIUM_POST_nat -s \S+ ! -d \S+ -o eth0 -m comment --comment "cilium masquerade non-cluster" -j MASQUERADE/,
    );
    const seen = await testing.waitFor(async () => (await tcpPeer('masq/client-1')) || undefined, {
      what: 'the outside to answer client-1 through iptables',
      timeoutMs: 20_000,
      intervalMs: 500,
    });
    expect(seen).toMatch(new RegExp(`^peer ${nodeIp('node-1').replace(/\./g, '\\.')}:\\d+$`));
  }, 150_000);
});
