// Tunnel routing mode end to end: three nodes on three subnets behind a router namespace (no L2
// adjacency, no route for pod CIDRs anywhere), cilium-ts installed as pods with routing-mode tunnel;
// real kubectl, real agents and operator, real TCP between pods. VXLAN through the kernel's
// cilium_vxlan; Geneve framed by the datapath itself (no kernel Geneve device, so on every kernel).
// The policy matrix runs across nodes in both. The router namespace watches the underlay with an
// AF_PACKET socket.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeClient, testing } from '../../controllers/framework/index.js';
import { loadAddon } from '../../datapath/addon.js';
import { ipcacheEntries } from '../../datapath/map-entries.js';
import { downDetached, upDetached, type Devcluster } from '../../devcluster/cluster.js';
import { tcpFromPod, waitForPodCIDRs, waitForPods } from '../../devcluster/nodes/cluster-checks.js';
import { NodesLayout, type NodesState } from '../../devcluster/nodes/layout.js';
import { binaryEntry } from '../../cdk8s/process-launch.js';
import { downNodes, upNodes } from '../../devcluster/nodes/nodes.js';
import { routingConfig } from '../../devcluster/nodes/topology-config.js';
import type { TunnelProtocol } from '../../datapath/overlay-codecs.js';
import { tunnelPort } from '../datapath/overlay-netns.js';
import { policyMatrixCases, policyMatrixPods, serverPod, type MatrixPlacement } from './fixtures/policy-matrix.js';
import { Kubectl } from './harness.js';

const CAPTURE = fileURLToPath(new URL('./fixtures/underlay-capture.py', import.meta.url));

/** The policy matrix's pods, each on another node where it can be: every case crosses the tunnel. */
const PLACEMENT: MatrixPlacement = { frontend: 'node-1', other: 'node-2', backend: 'node-3', db: 'node-3' };
/** The matrix's pods and one server per node. */
const PODS_YAML = [
  policyMatrixPods(PLACEMENT),
  ...[1, 2, 3].map((i) => serverPod('shop', `srv-${i}`, `node-${i}`, 'srv')),
].join('\n');

const BACKEND_CNP = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: backend-ingress, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: backend}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: frontend}}]
      toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
`;

const protocols: TunnelProtocol[] = ['vxlan', 'geneve'];

describe.each(protocols)('routing-mode tunnel (%s) on three routed nodes', (protocol) => {
  const dir = mkdtempSync(join(tmpdir(), `kts-e2e-tunnel-${protocol}-`));
  let state: NodesState;
  let client: KubeClient;
  let kubectl: Kubectl;
  let ips = new Map<string, string>();
  const tcp = (from: string, to: string): Promise<boolean> => tcpFromPod(dir, from, ips.get(to)!, 8080, 1.5);

  beforeAll(async () => {
    await upDetached({ dir, port: 0 });
    state = await upNodes(dir, {
      nodes: 3,
      routed: true,
      config: routingConfig({ 'routing-mode': 'tunnel', 'tunnel-protocol': protocol }),
      waitForInstall: true,
    });
    client = KubeClient.fromFile(join(dir, 'kubeconfig'));
    kubectl = new Kubectl({ kubeconfig: join(dir, 'kubeconfig'), dir } as Devcluster);
    await waitForPodCIDRs(client, 3, 60_000);
    await kubectl.ok(['apply', '-f', '-'], PODS_YAML);
    ips = await waitForPods(client, {
      count: 7,
      namespaces: ['shop', 'data'],
      what: 'seven running pods',
      timeoutMs: 90_000,
    });
    await testing.waitFor(() => tcp('shop/srv-1', 'shop/srv-2'), { what: 'the first server', timeoutMs: 30_000 });
  }, 400_000);

  afterAll(async () => {
    kubectl?.stopAll();
    client?.close();
    await downNodes(dir).catch(() => undefined);
    await downDetached(dir).catch(() => undefined);
  }, 120_000);

  it('the nodes are on three subnets with no route to pod CIDRs but the tunnel device', () => {
    const subnets = new Set(state.nodes.map((n) => n.ip.split('.').slice(0, 3).join('.')));
    expect(subnets.size).toBe(3);
  });

  it('every pair of pods on different nodes connects', async () => {
    const servers = ['shop/srv-1', 'shop/srv-2', 'shop/srv-3'];
    const results: string[] = [];
    for (const from of servers)
      for (const to of servers)
        if (from !== to) results.push(`${from} → ${to}: ${(await tcp(from, to)) ? 'ok' : 'FAILED'}`);
    expect(results.filter((r) => r.endsWith('FAILED'))).toEqual([]);
    expect(results).toHaveLength(6);
  });

  it('cilium-dbg status says how the tunnel is done', async () => {
    const out = await dbg(state, 'node-1', ['status']);
    expect(out).toMatch(
      protocol === 'geneve'
        ? /Routing:\s+Network: Tunnel \[geneve\] \(UDP 6081, framed by BPF on \S+, no kernel device\)/
        : /Routing:\s+Network: Tunnel \[vxlan\] \(UDP 8472, kernel device cilium_vxlan\)/,
    );
  });

  it('cilium-dbg bpf tunnel list shows the two other nodes with their pod CIDRs', async () => {
    const out = await dbg(state, 'node-1', ['bpf', 'tunnel', 'list']);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^TUNNEL\s+VALUE$/);
    const others = state.nodes.filter((n) => n.name !== 'node-1').map((n) => n.ip);
    expect(
      lines
        .slice(1)
        .map((l) => l.split(/\s+/)[1])
        .sort(),
    ).toEqual(others.map((ip) => `${ip}:0`).sort());
  });

  describe('the policy matrix across the tunnel', () => {
    policyMatrixCases(PLACEMENT, () => ({
      dir,
      kubectl,
      client,
      ips,
      nodes: 3,
      netnsOf: (node) => state.nodes.find((n) => n.name === node)!.netns,
      connectTimeoutS: 1.5,
    }));
  });

  it('a CNP by labels holds across nodes with no ipcache entry for the source on the destination node', async () => {
    await kubectl.ok(['apply', '-f', '-'], BACKEND_CNP);
    await testing.waitFor(async () => !(await tcp('shop/other', 'shop/backend')), {
      what: 'other → backend closed',
      timeoutMs: 20_000,
    });
    // backend's node forgets frontend's and other's addresses: only the VNI can name them now
    const pin = join(state.bpfRoot, 'node-3', 'tc', 'globals', 'cilium_ipcache_v2');
    expect(existsSync(pin)).toBe(true);
    const addon = loadAddon();
    const fd = addon.objGet(pin);
    try {
      for (const pod of ['shop/frontend', 'shop/other']) {
        const [e] = ipcacheEntries([{ prefix: `${ips.get(pod)}/32`, identity: 0 }]);
        addon.mapDelete(fd, e!.key);
      }
      expect(await tcp('shop/frontend', 'shop/backend')).toBe(true);
      expect(await tcp('shop/other', 'shop/backend')).toBe(false);
      // the entries were still gone while the connections were decided
      for (const pod of ['shop/frontend', 'shop/other']) {
        const [e] = ipcacheEntries([{ prefix: `${ips.get(pod)}/32`, identity: 0 }]);
        expect(isExact(addon, fd, e!.key)).toBe(false);
      }
    } finally {
      addon.close(fd);
    }
    await kubectl.ok(['delete', 'cnp', '-n', 'shop', 'backend-ingress']);
  });

  it(`the underlay carries pod traffic only as UDP ${tunnelPort(protocol)}`, async () => {
    const cap = spawn(
      'ip',
      [
        'netns',
        'exec',
        state.fabricNetns,
        'python3',
        CAPTURE,
        '20',
        state.ranges.clusterPool,
        String(tunnelPort(protocol)),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    cap.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const closed = new Promise((r) => cap.on('close', r));
    await testing.waitFor(() => out.includes('ready'), { what: 'the capture', timeoutMs: 30_000 });
    const servers = ['shop/srv-1', 'shop/srv-2', 'shop/srv-3'];
    for (const from of servers) for (const to of servers) if (from !== to) expect(await tcp(from, to)).toBe(true);
    await closed;
    const seen = JSON.parse(out.split('\n').filter(Boolean).at(-1)!) as {
      tunnel: number;
      podAddressOnWire: number;
      podSamples: string[];
      other: Record<string, number>;
    };
    expect(seen.podSamples).toEqual([]);
    expect(seen.podAddressOnWire).toBe(0);
    // six connections: at least SYN, SYN-ACK, ACK, FIN each way per connection, seen on two links
    expect(seen.tunnel).toBeGreaterThanOrEqual(6 * 3);
    // nothing else over UDP between the nodes
    expect(Object.keys(seen.other).filter((k) => k.startsWith('udp:'))).toEqual([]);
  }, 120_000);
});

/** cilium-dbg against one node's agent: its stdout. */
function dbg(state: NodesState, node: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn(
      process.execPath,
      [binaryEntry('cilium-dbg'), '--socket', new NodesLayout(state.dir).node(node).socket, ...args],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', () => resolve(out));
  });
}

/** Whether the ipcache holds exactly this key (not a shorter prefix covering it). */
function isExact(addon: ReturnType<typeof loadAddon>, fd: number, key: Uint8Array): boolean {
  const keys = addon.mapDump(fd, key.length, 12);
  const want = Buffer.from(key).toString('hex');
  for (let i = 0; i < keys.count; i++)
    if (Buffer.from(keys.keys.subarray(i * key.length, (i + 1) * key.length)).toString('hex') === want) return true;
  return false;
}
