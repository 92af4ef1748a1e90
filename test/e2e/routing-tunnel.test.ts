// Tunnel routing mode end to end: three nodes on three subnets behind a router namespace (no L2
// adjacency, no route for pod CIDRs anywhere), cilium-ts installed as pods with routing-mode tunnel;
// real kubectl, real agents and operator, real VXLAN (and Geneve where the kernel has it), real TCP
// between pods. The router namespace watches the underlay with an AF_PACKET socket.
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
import { type NodesState } from '../../devcluster/nodes/layout.js';
import { downNodes, upNodes } from '../../devcluster/nodes/nodes.js';
import { routingConfig } from '../../devcluster/nodes/topology-config.js';
import type { TunnelProtocol } from '../../datapath/overlay-codecs.js';
import { tunnelPort, tunnelSupported } from '../datapath/overlay-netns.js';
import { Kubectl } from './harness.js';

const CAPTURE = fileURLToPath(new URL('./fixtures/underlay-capture.py', import.meta.url));

/** One server pod per node, and the policy test's pods: frontend and other on node-1, backend on node-3. */
const PODS_YAML = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
${[
  ['srv-1', 'node-1', 'srv'],
  ['srv-2', 'node-2', 'srv'],
  ['srv-3', 'node-3', 'srv'],
  ['frontend', 'node-1', 'frontend'],
  ['other', 'node-1', 'other'],
  ['backend', 'node-3', 'backend'],
]
  .map(
    ([name, node, app]) => `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: shop, labels: {app: ${app}}}
spec:
  nodeName: ${node}
  containers: [{name: srv, image: none, command: [python3, -m, http.server, "8080"]}]`,
  )
  .join('\n')}
`;

const BACKEND_CNP = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: backend-ingress, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: backend}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: frontend}}]
      toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
`;

/*
 * Geneve needs CONFIG_GENEVE; on a kernel without it the Geneve cluster cannot exist, and this says
 * so instead of silently testing less.
 */
const geneve = tunnelSupported('geneve');
const protocols: TunnelProtocol[] = geneve ? ['vxlan', 'geneve'] : ['vxlan'];

it(`this kernel ${geneve ? 'has' : 'lacks'} Geneve (CONFIG_GENEVE): ${protocols.join(' then ')} tested`, () => {
  expect(tunnelSupported('vxlan')).toBe(true);
});

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
    ips = await waitForPods(client, { count: 6, namespaces: ['shop'], what: 'six running pods', timeoutMs: 90_000 });
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
    await testing.waitFor(() => out.includes('ready'), { what: 'the capture', timeoutMs: 10_000 });
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

/** Whether the ipcache holds exactly this key (not a shorter prefix covering it). */
function isExact(addon: ReturnType<typeof loadAddon>, fd: number, key: Uint8Array): boolean {
  const keys = addon.mapDump(fd, key.length, 12);
  const want = Buffer.from(key).toString('hex');
  for (let i = 0; i < keys.count; i++)
    if (Buffer.from(keys.keys.subarray(i * key.length, (i + 1) * key.length)).toString('hex') === want) return true;
  return false;
}
