// NodePort from outside a node, end to end: a two-node devcluster with no kube-proxy, the agents
// attaching the per-packet NodePort programs (nodeport.bpf.c) at each node's eth0. A client in one
// node's host namespace connects to the OTHER node's address:nodePort; its own socket-LB does not
// know that address, so the packets cross the fabric and are translated at the other node's device.
// The backends answer with their name and the source address they saw, which shows where SNAT
// happened (remote backend: the node's address; local backend: the client's own address).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { testing, type KubeClient } from '../../controllers/framework/index.js';
import { inCgroup, nodeCgroup } from '../../devcluster/nodes/cgroups.js';
import { waitForPodCIDRs, waitForPods } from '../../devcluster/nodes/cluster-checks.js';
import { netnsPath, type NodesState } from '../../devcluster/nodes/layout.js';
import { observeNode } from './fixtures/hubble-observe.js';
import { SelfHostedCluster, type Kubectl } from './harness.js';

const run = promisify(execFile);
const clientScript = fileURLToPath(new URL('../datapath/fixtures/lb-client.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kts-e2e-nodeport-'));
const cluster = new SelfHostedCluster(dir);
let state: NodesState;
let client: KubeClient;
let kubectl: Kubectl;
const nodePorts = new Map<string, number>();
/** client timeout of lb-client.mjs: a dropped SYN is reported as TIMEOUT after this long */
const CLIENT_TIMEOUT_MS = 3000;

// Answers each TCP connection and UDP datagram on 8080 with "<pod name> <source address seen>".
const SERVER = `
import os, socket, threading
name = os.environ['HOSTNAME']
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(('0.0.0.0', 8080))
    while True:
        d, a = u.recvfrom(2048)
        u.sendto(('%s %s' % (name, a[0])).encode(), a)
threading.Thread(target=udp, daemon=True).start()
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(('0.0.0.0', 8080))
t.listen(128)
while True:
    c, a = t.accept()
    c.sendall(('%s %s\\n' % (name, a[0])).encode())
    c.close()
`;

/** backend pod -> node: two on node-1, one on node-2 for the Cluster Service; eTP=Local ones on node-1 only */
const BACKENDS: Record<string, { node: string; app: string }> = {
  'echo-a': { node: 'node-1', app: 'echo' },
  'echo-b': { node: 'node-2', app: 'echo' },
  'echo-c': { node: 'node-1', app: 'echo' },
  'local-a': { node: 'node-1', app: 'local' },
  'local-b': { node: 'node-1', app: 'local' },
};

const nodePortService = (name: string, app: string, local: boolean) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'np' },
  spec: {
    type: 'NodePort',
    selector: { app },
    ...(local ? { externalTrafficPolicy: 'Local' } : {}),
    ports: [
      { name: 'tcp', port: 80, targetPort: 'web', protocol: 'TCP' },
      { name: 'udp', port: 53, targetPort: 'web-udp', protocol: 'UDP' },
    ],
  },
});

const MANIFESTS = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'np' } },
  ...Object.entries(BACKENDS).map(([name, { node, app }]) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'np', labels: { app } },
    spec: {
      nodeName: node,
      containers: [
        {
          name: 'echo',
          image: 'none',
          command: ['python3', '-c', SERVER],
          ports: [
            { name: 'web', containerPort: 8080, protocol: 'TCP' },
            { name: 'web-udp', containerPort: 8080, protocol: 'UDP' },
          ],
          readinessProbe: { tcpSocket: { port: 'web' }, periodSeconds: 1 },
        },
      ],
    },
  })),
  nodePortService('np-cluster', 'echo', false),
  nodePortService('np-local', 'local', true),
];

interface Attempt {
  backend?: string;
  peer?: string;
  from?: string;
  error?: string;
}

const node = (name: string) => state.nodes.find((n) => n.name === name)!;

/** The lb-client fixture in `from`'s host namespace (and cgroup, so its socket-LB applies). */
async function attempts(
  from: string,
  mode: 'tcp' | 'udp',
  target: string,
  port: number,
  count: number,
): Promise<Attempt[]> {
  const [bin, args] = inCgroup(nodeCgroup(state.runId, from), [
    'nsenter',
    `--net=${netnsPath(node(from).netns)}`,
    '--',
    process.execPath,
    clientScript,
    mode,
    target,
    String(port),
    String(count),
  ]);
  const { stdout } = await run(bin, args, { timeout: 120_000 });
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Attempt);
}

/** "<pod> <source seen>" -> [pod, source] */
const answer = (a: Attempt): [string, string] => {
  const [pod = '', seen = ''] = (a.backend ?? '').split(' ');
  return [pod, seen];
};

beforeAll(async () => {
  ({ state, client, kubectl } = await cluster.up({ nodes: 2 }));
  await waitForPodCIDRs(client, 2, 60_000);
  await kubectl.ok(['apply', '-f', '-'], MANIFESTS.map((m) => JSON.stringify(m)).join('\n'));
  await waitForPods(client, { count: 5, what: 'five backends', namespaces: ['np'], timeoutMs: 90_000 });
  for (const svc of ['np-cluster', 'np-local'])
    nodePorts.set(
      svc,
      Number(await kubectl.ok(['-n', 'np', 'get', 'svc', svc, '-o', 'jsonpath={.spec.ports[0].nodePort}'])),
    );
  // programmed once node-2 reaches all three Cluster backends through node-1's address
  await testing.waitFor(
    async () => {
      const got = await attempts('node-2', 'tcp', node('node-1').ip, nodePorts.get('np-cluster')!, 12).catch(() => []);
      return new Set(got.map((a) => answer(a)[0])).size === 3;
    },
    { what: "node-1's NodePort answering from node-2 with all backends", timeoutMs: 90_000, intervalMs: 1000 },
  );
}, 300_000);

afterAll(() => cluster.down(), 60_000);

describe("NodePort from another node's host namespace (per packet at the node's device)", () => {
  it.each([
    ['node-2', 'node-1'],
    ['node-1', 'node-2'],
  ])(
    'TCP from %s to %s:nodePort: every connect answered by every backend, replies from nodeIP:nodePort, SNAT only for remote backends',
    async (from, to) => {
      const port = nodePorts.get('np-cluster')!;
      const got = await attempts(from, 'tcp', node(to).ip, port, 40);
      expect(got.filter((a) => a.error)).toEqual([]);
      expect(new Set(got.map((a) => a.peer))).toEqual(new Set([`${node(to).ip}:${port}`]));
      const pods = new Set(got.map((a) => answer(a)[0]));
      expect([...pods].sort()).toEqual(['echo-a', 'echo-b', 'echo-c']);
      for (const a of got) {
        const [pod, seen] = answer(a);
        // a backend on the node that was addressed sees the client; one elsewhere sees that node
        const expected = BACKENDS[pod]!.node === to ? node(from).ip : node(to).ip;
        expect([pod, seen]).toEqual([pod, expected]);
      }
    },
    120_000,
  );

  it('UDP from node-2 to node-1:nodePort: answers read as from nodeIP:nodePort', async () => {
    const port = (
      JSON.parse(await kubectl.ok(['-n', 'np', 'get', 'svc', 'np-cluster', '-o', 'json'])) as {
        spec: { ports: { name: string; nodePort: number }[] };
      }
    ).spec.ports.find((p) => p.name === 'udp')!.nodePort;
    const got = await attempts('node-2', 'udp', node('node-1').ip, port, 20);
    expect(got.filter((a) => a.error)).toEqual([]);
    expect(new Set(got.map((a) => a.from))).toEqual(new Set([`${node('node-1').ip}:${port}`]));
    expect(new Set(got.map((a) => answer(a)[0])).size).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('externalTrafficPolicy: Local answers on node-1 (local backends, client address kept) and not on node-2', async () => {
    const port = nodePorts.get('np-local')!;
    const ok = await attempts('node-2', 'tcp', node('node-1').ip, port, 20);
    expect(ok.filter((a) => a.error)).toEqual([]);
    expect(new Set(ok.map((a) => a.peer))).toEqual(new Set([`${node('node-1').ip}:${port}`]));
    for (const a of ok) expect(answer(a)).toEqual([expect.stringMatching(/^local-[ab]$/), node('node-2').ip]);

    const t0 = Date.now();
    const none = await attempts('node-1', 'tcp', node('node-2').ip, port, 2);
    const took = Date.now() - t0;
    // dropped at node-2's device (no local backend): the connect times out, nothing answers
    expect(none).toEqual([{ error: 'TIMEOUT' }, { error: 'TIMEOUT' }]);
    expect(took).toBeLessThan(2 * CLIENT_TIMEOUT_MS + 5000);
    // node-2's agent reports the drop to Hubble with upstream's reason
    const drops = await testing.waitFor(
      async () => {
        const flows = await observeNode(dir, 'node-2', ['--verdict', 'DROPPED', '--last', '1000']);
        const ours = flows.filter((f) => JSON.stringify(f).includes('SERVICE_BACKEND_NOT_FOUND'));
        return ours.length ? ours : undefined;
      },
      { what: 'the NodePort drop in Hubble on node-2', timeoutMs: 15_000, intervalMs: 500 },
    );
    expect(JSON.stringify(drops[0])).toContain(node('node-1').ip);
  }, 60_000);

  it("the backend's ingress policy applies to the translated packet: remote-node denied, then allowed", async () => {
    const port = nodePorts.get('np-local')!;
    const policy = (entities: string[]) =>
      JSON.stringify({
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name: 'local-ingress', namespace: 'np' },
        spec: {
          endpointSelector: { matchLabels: { app: 'local' } },
          ingress: [
            { fromEndpoints: [{ matchLabels: { app: 'nobody' } }] },
            ...(entities.length ? [{ fromEntities: entities }] : []),
          ],
        },
      });
    await kubectl.ok(['apply', '-f', '-'], policy([]));
    // node-2's address is remote-node at node-1's backends: dropped by their ingress policy
    const denied = await testing.waitFor(
      async () => {
        const got = await attempts('node-2', 'tcp', node('node-1').ip, port, 3);
        return got.every((a) => a.error === 'TIMEOUT') ? got : undefined;
      },
      { what: "NodePort connects from node-2 dropped by the backends' policy", timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(denied).toHaveLength(3);
    // the backends still serve: node-1's own host (allow-localhost) reaches them through socket-LB
    const local = await attempts('node-1', 'tcp', node('node-1').ip, port, 5);
    expect(local.filter((a) => a.error)).toEqual([]);

    await kubectl.ok(['apply', '-f', '-'], policy(['remote-node']));
    await testing.waitFor(
      async () => {
        const got = await attempts('node-2', 'tcp', node('node-1').ip, port, 5);
        return got.every((a) => !a.error && answer(a)[1] === node('node-2').ip);
      },
      { what: 'NodePort connects from node-2 allowed once remote-node is', timeoutMs: 30_000, intervalMs: 500 },
    );
    await kubectl.ok(['-n', 'np', 'delete', 'ciliumnetworkpolicy', 'local-ingress']);
  }, 120_000);
});
