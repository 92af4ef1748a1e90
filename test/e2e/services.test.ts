// Service load balancing end to end on a two-node devcluster with no kube-proxy: a Deployment of
// three backends behind a ClusterIP Service, the devcluster's EndpointSlice controller, real agents
// writing the LB maps, and the socket-LB programs attached at each node's cgroup. Clients run in
// client pods on both nodes (one beside a backend) and in a node's host namespace, each inside its
// node's cgroup as the node's pod processes are.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { testing, type KubeClient, type KubeObject } from '../../controllers/framework/index.js';
import { inCgroup, nodeCgroup } from '../../devcluster/nodes/cgroups.js';
import { waitForPodCIDRs, waitForPods } from '../../devcluster/nodes/cluster-checks.js';
import { NodesLayout, netnsPath, type NodesState } from '../../devcluster/nodes/layout.js';
import { podNetns } from '../../devcluster/nodes/nodes.js';
import { ENDPOINTSLICES, PODS } from '../../devcluster/controllers/objects.js';
import { observeNode } from './fixtures/hubble-observe.js';
import { SelfHostedCluster, type Kubectl } from './harness.js';
import { binaryEntry } from '../../cdk8s/process-launch.js';
import type { ServiceModel } from '../../controllers/agent/services/listing.js';

const run = promisify(execFile);
const clientScript = fileURLToPath(new URL('../datapath/fixtures/lb-client.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kts-e2e-services-'));
const cluster = new SelfHostedCluster(dir);
let state: NodesState;
let client: KubeClient;
let kubectl: Kubectl;
let vip = '';
/** backend pod name -> node */
const backendNode = new Map<string, string>();

// Answers each TCP connection and each UDP datagram on 8080 with the pod's name, and echoes what a
// connection to 9090 sends (a long-lived stream). On SIGTERM it
// keeps serving for 3 s before it exits, as an application shutting down gracefully does, so that
// the load balancer has time to stop giving it new connections.
const SERVER = `
import os, signal, socket, threading
name = os.environ['HOSTNAME'].encode()
signal.signal(signal.SIGTERM, lambda *a: threading.Timer(3, lambda: os._exit(0)).start())
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(('0.0.0.0', 8080))
    while True:
        d, a = u.recvfrom(2048)
        u.sendto(name, a)
threading.Thread(target=udp, daemon=True).start()
def echo(c):
    while True:
        d = c.recv(4096)
        if not d:
            return c.close()
        c.sendall(d)
def stream():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', 9090))
    s.listen(16)
    while True:
        threading.Thread(target=echo, args=(s.accept()[0],), daemon=True).start()
threading.Thread(target=stream, daemon=True).start()
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(('0.0.0.0', 8080))
t.listen(128)
while True:
    c, a = t.accept()
    c.sendall(name + b'\\n')
    c.close()
`;

const MANIFESTS = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lb' } },
  // clients first and pinned, so that the scheduler then spreads the backends over both nodes
  ...['node-1', 'node-2'].map((node) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `client-${node}`, namespace: 'lb', labels: { app: 'client' } },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'none', command: ['sleep', 'infinity'] }] },
  })),
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'echo', namespace: 'lb' },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'echo' } },
      template: {
        metadata: { labels: { app: 'echo' } },
        spec: {
          containers: [
            {
              name: 'echo',
              image: 'none',
              command: ['python3', '-c', SERVER],
              ports: [
                { name: 'web', containerPort: 8080, protocol: 'TCP' },
                { name: 'web-udp', containerPort: 8080, protocol: 'UDP' },
                { name: 'stream', containerPort: 9090, protocol: 'TCP' },
              ],
              readinessProbe: { tcpSocket: { port: 'web' }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'echo', namespace: 'lb' },
    spec: {
      selector: { app: 'echo' },
      ports: [
        { name: 'tcp', port: 80, targetPort: 'web', protocol: 'TCP' },
        { name: 'udp', port: 53, targetPort: 'web-udp', protocol: 'UDP' },
        { name: 'stream', port: 90, targetPort: 'stream', protocol: 'TCP' },
      ],
    },
  },
];

interface Attempt {
  backend?: string;
  peer?: string;
  from?: string;
  error?: string;
  /** when the attempt started (LB_CLIENT_AT) */
  at?: number;
  /** stream mode */
  sent?: number;
  received?: number;
  maxGapMs?: number;
}

/** TCP connects in a loop from a client pod until stop() is called; the attempts so far. */
async function connectLoop(node: string): Promise<{ got: Attempt[]; stop: () => Promise<void> }> {
  const [bin, args] = inCgroup(nodeCgroup(state.runId, node), [
    'nsenter',
    `--net=${await podNetns(dir, `lb/client-${node}`)}`,
    '--',
    process.execPath,
    clientScript,
    'tcp',
    vip,
    '80',
    '1000000',
  ]);
  const child = spawn(bin, args, { env: { ...process.env, LB_CLIENT_AT: '1' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const got: Attempt[] = [];
  let rest = '';
  child.stdout.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop()!;
    for (const l of lines) if (l) got.push(JSON.parse(l) as Attempt);
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return {
    got,
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

type Slice = KubeObject & {
  endpoints?: { addresses?: string[]; conditions?: { ready?: boolean; terminating?: boolean } }[];
};

/** Whether the Service's EndpointSlices still list `ip` as ready. */
async function readyInSlices(ip: string): Promise<boolean> {
  const slices = await client.list<Slice>(ENDPOINTSLICES, {
    namespace: 'lb',
    labelSelector: 'kubernetes.io/service-name=echo',
  });
  return slices.items.some((s) =>
    (s.endpoints ?? []).some((e) => e.addresses?.includes(ip) && e.conditions?.ready !== false),
  );
}

/** Runs the client fixture in a netns, inside `node`'s cgroup (where that node's pods live). */
async function attempts(
  netns: string,
  node: string,
  mode: 'tcp' | 'udp' | 'udp-conn' | 'stream',
  port: number,
  count: number,
  target = vip,
): Promise<Attempt[]> {
  const [bin, args] = inCgroup(nodeCgroup(state.runId, node), [
    'nsenter',
    `--net=${netns}`,
    '--',
    process.execPath,
    clientScript,
    mode,
    target,
    String(port),
    String(count),
  ]);
  const { stdout } = await run(bin, args, { timeout: 90_000 });
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Attempt);
}

const fromPod = async (
  node: string,
  mode: 'tcp' | 'udp' | 'udp-conn' | 'stream',
  port: number,
  count: number,
  target = vip,
) => attempts(await podNetns(dir, `lb/client-${node}`), node, mode, port, count, target);

const podIp = async (name: string): Promise<string> =>
  (await kubectl.ok(['-n', 'lb', 'get', 'pod', name, '-o', 'jsonpath={.status.podIP}'])).trim();

beforeAll(async () => {
  ({ state, client, kubectl } = await cluster.up({ nodes: 2 }));
  await waitForPodCIDRs(client, 2, 60_000);
  await kubectl.ok(['apply', '-f', '-'], MANIFESTS.map((m) => JSON.stringify(m)).join('\n'));
  await waitForPods(client, { count: 5, what: 'two clients and three backends', timeoutMs: 90_000 });
  vip = (await kubectl.ok(['-n', 'lb', 'get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  type Pod = KubeObject & { spec?: { nodeName?: string } };
  for (const p of (await client.list<Pod>(PODS, { namespace: 'lb', labelSelector: 'app=echo' })).items)
    if (p.metadata?.labels?.app === 'echo') backendNode.set(p.metadata.name!, p.spec!.nodeName!);
  // the agents have programmed the Service once every backend answers through it
  await testing.waitFor(
    async () => {
      const got = await fromPod('node-2', 'tcp', 80, 12).catch(() => []);
      return new Set(got.map((a) => a.backend)).size === 3;
    },
    { what: 'all three backends answering through the ClusterIP', timeoutMs: 60_000, intervalMs: 500 },
  );
}, 240_000);

afterAll(() => cluster.down(), 60_000);

describe('ClusterIP Service through socket-LB, no kube-proxy', () => {
  it('the devcluster placed backends on both nodes and the ClusterIP comes from 10.96.0.0/16', () => {
    expect(new Set(backendNode.values())).toEqual(new Set(['node-1', 'node-2']));
    expect(vip).toMatch(/^10\.96\.\d+\.\d+$/);
  });

  it.each(['node-1', 'node-2'])(
    'TCP from a client pod on %s: every connect answered, spread over the backends, getpeername shows the VIP',
    async (node) => {
      const got = await fromPod(node, 'tcp', 80, 30);
      expect(got.filter((a) => a.error)).toEqual([]);
      expect(new Set(got.map((a) => a.peer))).toEqual(new Set([`${vip}:80`]));
      const seen = new Set(got.map((a) => a.backend!));
      for (const b of seen) expect([...backendNode.keys()]).toContain(b);
      expect(seen.size).toBeGreaterThanOrEqual(2);
      // node-1 has a client beside a backend: that local backend is reached too
      if (node === 'node-1') expect([...seen].some((b) => backendNode.get(b) === 'node-1')).toBe(true);
    },
  );

  it.each(['node-1', 'node-2'])(
    'UDP from a client pod on %s by the named targetPort: replies read as from the VIP',
    async (node) => {
      const unconnected = await fromPod(node, 'udp', 53, 10);
      expect(unconnected.filter((a) => a.error)).toEqual([]);
      expect(new Set(unconnected.map((a) => a.from))).toEqual(new Set([`${vip}:53`]));
      for (const a of unconnected) expect([...backendNode.keys()]).toContain(a.backend);
      const connected = await fromPod(node, 'udp-conn', 53, 5);
      expect(connected.filter((a) => a.error)).toEqual([]);
      expect(new Set(connected.map((a) => a.peer))).toEqual(new Set([`${vip}:53`]));
    },
  );

  it("from a node's host namespace", async () => {
    const node = state.nodes.find((n) => n.name === 'node-2')!;
    const got = await attempts(netnsPath(node.netns), 'node-2', 'tcp', 80, 10);
    expect(got.filter((a) => a.error)).toEqual([]);
    expect(new Set(got.map((a) => a.peer))).toEqual(new Set([`${vip}:80`]));
  });

  it('cilium-dbg service list and bpf lb list on a node show the ClusterIP and its three backends', async () => {
    const socket = new NodesLayout(dir).node('node-1').socket;
    const dbg = async (...args: string[]) =>
      (await run(process.execPath, [binaryEntry('cilium-dbg'), '--socket', socket, ...args])).stdout;
    const models = JSON.parse(await dbg('service', 'list', '-o', 'json')) as ServiceModel[];
    const tcp = models.find((m) => m.frontend === `${vip}:80/TCP`);
    expect(tcp).toMatchObject({ type: 'ClusterIP', name: 'lb/echo' });
    expect(tcp!.backends.map((b) => b.state)).toEqual(['active', 'active', 'active']);
    expect(models.find((m) => m.frontend === `${vip}:53/UDP`)?.backends).toHaveLength(3);
    const table = await dbg('service', 'list');
    expect(table.split('\n')[0]).toMatch(/^ID\s+Frontend\s+Service Type\s+Backend$/);
    expect(table).toMatch(
      new RegExp(`${vip.replace(/\./g, '\\.')}:80/TCP\\s+ClusterIP\\s+1 => [\\d.]+:8080/TCP \\(active\\)`),
    );
    const lbList = await dbg('bpf', 'lb', 'list');
    expect(lbList.split('\n')[0]).toMatch(/^SERVICE ADDRESS\s+BACKEND ADDRESS \(REVNAT_ID\) \(SLOT\)$/);
    expect(lbList).toContain(`${vip}:80/TCP (3)`);
  });

  it('rolling a backend: no failed connect, and none to the deleted backend later than 1 s after its slice changed', async () => {
    type Pod = KubeObject & { status?: { podIP?: string } };
    const pods = (await client.list<Pod>(PODS, { namespace: 'lb', labelSelector: 'app=echo' })).items;
    const victim = pods.find((p) => p.metadata?.name && backendNode.get(p.metadata.name) === 'node-1')!;
    const victimName = victim.metadata!.name!;
    const victimIp = victim.status!.podIP!;
    const loops = await Promise.all(['node-1', 'node-2'].map((n) => connectLoop(n)));
    let sliceChanged = 0;
    try {
      await testing.waitFor(async () => loops.every((l) => l.got.length >= 20), {
        what: 'both connect loops running',
        timeoutMs: 20_000,
        intervalMs: 100,
      });
      await kubectl.ok(['-n', 'lb', 'delete', 'pod', victimName, '--wait=false']);
      // the moment the slice stops listing the victim as ready (seen by polling: a little late at most)
      await testing.waitFor(
        async () => {
          if (await readyInSlices(victimIp)) return false;
          sliceChanged = Date.now();
          return true;
        },
        { what: 'the EndpointSlice marks the deleted backend not ready', timeoutMs: 30_000, intervalMs: 50 },
      );
      // the Deployment's replacement comes up and joins: three backends again, the victim not among them
      await testing.waitFor(
        async () => {
          const recent = loops.flatMap((l) => l.got.slice(-60));
          const names = new Set(recent.map((a) => a.backend));
          return names.size === 3 && !names.has(victimName);
        },
        { what: 'the replacement backend answering through the ClusterIP', timeoutMs: 60_000, intervalMs: 250 },
      );
    } finally {
      await Promise.all(loops.map((l) => l.stop()));
    }
    const all = loops.flatMap((l) => l.got);
    expect(all.length).toBeGreaterThan(100);
    expect(all.filter((a) => a.error)).toEqual([]);
    const late = all.filter((a) => a.backend === victimName && a.at! > sliceChanged + 1000);
    expect(late).toEqual([]);
    backendNode.delete(victimName);
  }, 150_000);

  it('sessionAffinity ClientIP: 100 connections from one client reach one backend; several clients spread', async () => {
    await kubectl.ok([
      '-n',
      'lb',
      'patch',
      'svc',
      'echo',
      '-p',
      JSON.stringify({ spec: { sessionAffinity: 'ClientIP' } }),
    ]);
    // more client pods: each network namespace is one client (socket-LB keys affinity by netns)
    const extra = Array.from({ length: 6 }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `affine-${i}`, namespace: 'lb', labels: { app: 'client' } },
      spec: {
        nodeName: `node-${(i % 2) + 1}`,
        containers: [{ name: 'c', image: 'none', command: ['sleep', 'infinity'] }],
      },
    }));
    await kubectl.ok(['apply', '-f', '-'], extra.map((m) => JSON.stringify(m)).join('\n'));
    await waitForPods(client, { count: 11, what: 'the affinity clients', timeoutMs: 60_000 });
    await testing.waitFor(
      async () => {
        const got = await fromPod('node-1', 'tcp', 80, 10);
        return got.every((a) => !a.error) && new Set(got.map((a) => a.backend)).size === 1;
      },
      { what: 'affinity programmed', timeoutMs: 30_000, intervalMs: 500 },
    );
    const hundred = await fromPod('node-1', 'tcp', 80, 100);
    expect(hundred.filter((a) => a.error)).toEqual([]);
    expect(new Set(hundred.map((a) => a.backend)).size).toBe(1);
    const picks = new Set<string>();
    for (let i = 0; i < extra.length; i++) {
      const node = `node-${(i % 2) + 1}`;
      const got = await attempts(await podNetns(dir, `lb/affine-${i}`), node, 'tcp', 80, 5);
      expect(got.filter((a) => a.error)).toEqual([]);
      expect(new Set(got.map((a) => a.backend)).size).toBe(1); // each client sticks
      picks.add(got[0]!.backend!);
    }
    // 7 clients choosing at random among 3: all on one backend has p = 3^-6
    picks.add(hundred[0]!.backend!);
    expect(picks.size).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it('egress CNP allowing toEndpoints of the backends on the service port: the ClusterIP answers, nothing else does', async () => {
    const other = await podIp('client-node-1');
    const backendIp = await podIp([...backendNode.keys()][0]!);
    // before: a pod with no listener refuses at once (RST), so a policy drop shows as a timeout
    expect(await fromPod('node-2', 'tcp', 8080, 1, other)).toEqual([{ error: 'ECONNREFUSED' }]);
    await kubectl.ok(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name: 'clients-to-echo', namespace: 'lb' },
        spec: {
          endpointSelector: { matchLabels: { app: 'client' } },
          egress: [
            {
              toEndpoints: [{ matchLabels: { app: 'echo' } }],
              toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }],
            },
          ],
        },
      }),
    );
    try {
      await testing.waitFor(async () => (await fromPod('node-2', 'tcp', 8080, 1, other))[0]?.error === 'TIMEOUT', {
        what: 'the egress policy in force',
        timeoutMs: 30_000,
        intervalMs: 500,
      });
      for (const node of ['node-1', 'node-2']) {
        const viaVip = await fromPod(node, 'tcp', 80, 10);
        expect(viaVip.filter((a) => a.error)).toEqual([]);
        expect(new Set(viaVip.map((a) => a.peer))).toEqual(new Set([`${vip}:80`]));
      }
      // the UDP port of the same Service and backends is not allowed, nor another pod
      expect(await fromPod('node-2', 'udp', 53, 1)).toEqual([{ error: 'TIMEOUT' }]);
      expect(await fromPod('node-2', 'udp', 8080, 1, backendIp)).toEqual([{ error: 'TIMEOUT' }]);
      expect(await fromPod('node-2', 'tcp', 8080, 1, other)).toEqual([{ error: 'TIMEOUT' }]);
    } finally {
      await kubectl.ok(['-n', 'lb', 'delete', 'ciliumnetworkpolicy', 'clients-to-echo']);
    }
  }, 120_000);

  it('ingress CNP on the backends refusing the client: blocked through the VIP as by pod IP; Hubble names the Service', async () => {
    const [backend, node] = [...backendNode.entries()][0]!;
    const backendIp = await podIp(backend);
    await kubectl.ok(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name: 'echo-from-nobody', namespace: 'lb' },
        spec: {
          endpointSelector: { matchLabels: { app: 'echo' } },
          ingress: [{ fromEndpoints: [{ matchLabels: { app: 'nobody' } }] }],
        },
      }),
    );
    try {
      await testing.waitFor(async () => (await fromPod('node-1', 'tcp', 8080, 1, backendIp))[0]?.error === 'TIMEOUT', {
        what: 'the ingress policy in force',
        timeoutMs: 30_000,
        intervalMs: 500,
      });
      for (const client of ['node-1', 'node-2']) {
        expect(await fromPod(client, 'tcp', 80, 2)).toEqual([{ error: 'TIMEOUT' }, { error: 'TIMEOUT' }]);
        expect(await fromPod(client, 'tcp', 8080, 1, backendIp)).toEqual([{ error: 'TIMEOUT' }]);
      }
      const drops = await testing.waitFor(
        async () => {
          const flows = await observeNode(dir, node, [
            '--last',
            '500',
            '--verdict',
            'DROPPED',
            '--to-service',
            'lb/echo',
          ]);
          return flows.length ? flows : undefined;
        },
        { what: 'hubble observe --to-service lb/echo to show the drops', timeoutMs: 15_000, intervalMs: 500 },
      );
      expect(drops[0]).toMatchObject({
        verdict: 'DROPPED',
        destinationService: { namespace: 'lb', name: 'echo' },
        destination: { namespace: 'lb' },
      });
      expect(drops.some((f) => (f.IP as { destination?: string })?.destination === backendIp)).toBe(true);
    } finally {
      await kubectl.ok(['-n', 'lb', 'delete', 'ciliumnetworkpolicy', 'echo-from-nobody']);
    }
  }, 120_000);

  it('agent SIGKILLed under a stream through the ClusterIP: the stream keeps flowing, new connects keep being balanced', async () => {
    type AgentPod = KubeObject & {
      status?: { containerStatuses?: { name: string; ready: boolean; restartCount: number; containerID: string }[] };
    };
    const agent = async () => {
      const pods = await client.list<AgentPod>(PODS, {
        namespace: 'kube-system',
        labelSelector: 'k8s-app=cilium',
        fieldSelector: 'spec.nodeName=node-1',
      });
      return pods.items[0]!.status!.containerStatuses!.find((c) => c.name === 'cilium-agent')!;
    };
    // affinity off again, so that new connections show the balancing
    await kubectl.ok(['-n', 'lb', 'patch', 'svc', 'echo', '-p', JSON.stringify({ spec: { sessionAffinity: 'None' } })]);
    await testing.waitFor(
      async () => new Set((await fromPod('node-1', 'tcp', 80, 12)).map((a) => a.backend)).size > 1,
      {
        what: 'affinity off',
        timeoutMs: 30_000,
        intervalMs: 500,
      },
    );
    const streaming = fromPod('node-1', 'stream', 90, 15);
    await new Promise((r) => setTimeout(r, 3000));
    const before = await agent();
    const pid = Number(/^devcluster:\/\/(\d+)$/.exec(before.containerID)?.[1] ?? 0);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    // when the restarted agent is ready again, watched from the kill on
    const restarted = testing.waitFor(
      async () => {
        const c = await agent();
        return c.restartCount === before.restartCount + 1 && c.ready ? Date.now() : undefined;
      },
      { what: 'the agent restarted and ready', timeoutMs: 90_000, intervalMs: 100 },
    );
    const during = await fromPod('node-1', 'tcp', 80, 12);
    const connectsDone = Date.now();
    const [s] = await streaming;
    const readyAt = await restarted;
    // the connects ran while the agent was down (the restarted one was not ready before they ended)
    expect(readyAt).toBeGreaterThan(connectsDone);
    expect(during.filter((a) => a.error)).toEqual([]);
    expect(new Set(during.map((a) => a.backend)).size).toBeGreaterThanOrEqual(2);
    expect(s).toMatchObject({ peer: `${vip}:90` });
    expect(s!.error).toBeUndefined();
    expect(s!.sent).toBeGreaterThan(200); // 15 s at one line per 50 ms
    expect(s!.received).toBeGreaterThanOrEqual(s!.sent! - 2); // at most what was still in flight
    expect(s!.maxGapMs).toBeLessThan(1000);
  }, 180_000);

  it("NodePort for a client on the node: socket-LB serves the node's own address:nodePort (the port allocated by the API server)", async () => {
    await kubectl.ok(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'echo-np', namespace: 'lb' },
        spec: { type: 'NodePort', selector: { app: 'echo' }, ports: [{ name: 'tcp', port: 80, targetPort: 'web' }] },
      }),
    );
    const nodePort = Number(
      await kubectl.ok(['-n', 'lb', 'get', 'svc', 'echo-np', '-o', 'jsonpath={.spec.ports[0].nodePort}']),
    );
    expect(nodePort).toBeGreaterThanOrEqual(30000);
    expect(nodePort).toBeLessThanOrEqual(32767);
    for (const node of state.nodes) {
      const got = await testing.waitFor(
        async () => {
          const r = await attempts(netnsPath(node.netns), node.name, 'tcp', nodePort, 10, node.ip);
          return r.every((a) => !a.error) ? r : undefined;
        },
        { what: `${node.name}:${nodePort} answering from its own host namespace`, timeoutMs: 30_000, intervalMs: 500 },
      );
      expect(new Set(got.map((a) => a.peer))).toEqual(new Set([`${node.ip}:${nodePort}`]));
      expect(new Set(got.map((a) => a.backend)).size).toBeGreaterThanOrEqual(2);
    }
    await kubectl.ok(['-n', 'lb', 'delete', 'svc', 'echo-np']);
  }, 120_000);

  it('a Service whose backends are all gone refuses connections at once', async () => {
    await kubectl.ok(['-n', 'lb', 'scale', 'deployment/echo', '--replicas=0']);
    // Until a terminating pod is deleted its endpoint may still serve (the terminating fallback):
    // a connect then meets its closed port (refused) or its removed network (ENETUNREACH), as in
    // Kubernetes. The backends are gone once the pods are.
    await testing.waitFor(
      async () => (await client.list(PODS, { namespace: 'lb', labelSelector: 'app=echo' })).items.length === 0,
      { what: 'the echo pods deleted', timeoutMs: 60_000, intervalMs: 250 },
    );
    for (const node of ['node-1', 'node-2'])
      await testing.waitFor(
        async () => {
          const [a] = await fromPod(node, 'tcp', 80, 1);
          return a?.error === 'ECONNREFUSED';
        },
        { what: `connects to the ClusterIP from ${node} refused`, timeoutMs: 60_000, intervalMs: 250 },
      );
    const t0 = Date.now();
    const got = await fromPod('node-2', 'tcp', 80, 5);
    expect(got).toEqual(Array.from({ length: 5 }, () => ({ error: 'ECONNREFUSED' })));
    expect(Date.now() - t0).toBeLessThan(5000); // a refusal, not five connect timeouts
  }, 90_000);
});
