// A node's life with the install, on a two-node devcluster where cilium-ts runs as the pods of its
// own install: another CNI's configuration is on each node before the install → pods run under a
// policy (one connection allowed, one denied) → `cilium uninstall` (its cleanup DaemonSet runs
// `cilium-dbg post-uninstall-cleanup` on every node) → each node has no conflist, plugin, tc
// filter, pin, link or route of ours, and the other configuration is back → install again → each
// node keeps its pod CIDR (the CiliumNodes stay with the CRDs, and the operator reuses their
// allocation) and the pods that survived get their connectivity and policy back.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaryEntry, PINNED_NODE } from '../../cdk8s/process-launch.js';
import { KubeClient, testing, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';
import { downDetached, upDetached, type Devcluster } from '../../devcluster/cluster.js';
import { tcpFromPod, waitForPods } from '../../devcluster/nodes/cluster-checks.js';
import { applyObjects, waitForWorkloads } from '../../devcluster/nodes/install-apply.js';
import { NodesLayout, type NodesState } from '../../devcluster/nodes/layout.js';
import { downNodes, upNodes } from '../../devcluster/nodes/nodes.js';
import { devclusterInstall } from '../../devcluster/nodes/processes.js';
import { Kubectl } from './harness.js';

const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
const CILIUM_NODES: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnodes',
  kind: 'CiliumNode',
  namespaced: false,
};
type CiliumNode = KubeObject & { spec?: { ipam?: { podCIDRs?: string[] } } };

const dir = mkdtempSync(join(tmpdir(), 'kts-e2e-lifecycle-'));
const layout = new NodesLayout(dir);
const NODES = ['node-1', 'node-2'];
/** Another CNI's configuration, on each node before the install. */
const OTHER_CNI = '10-othernet.conflist';
let state: NodesState;
let kubectl: Kubectl;
let ips = new Map<string, string>();
const podCidrsAtInstall = new Map<string, string[]>();

const APPS_YAML = `
apiVersion: v1
kind: Namespace
metadata: {name: app}
${[
  ['server', 'node-2'],
  ['client', 'node-1'],
  ['other', 'node-1'],
]
  .map(
    ([name, node]) => `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: app, labels: {app: ${name}}}
spec:
  nodeName: ${node}
  containers: [{name: srv, image: none, command: [python3, -m, http.server, "8080"]}]`,
  )
  .join('\n')}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: server-from-client, namespace: app}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress: [{fromEndpoints: [{matchLabels: {app: client}}]}]
`;

const tcp = (from: string): Promise<boolean> => tcpFromPod(dir, from, ips.get('app/server')!, 8080, 1.0);

function cilium(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(PINNED_NODE, [binaryEntry('cilium'), ...args, '--kubeconfig', join(dir, 'kubeconfig')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (out += d));
    p.on('close', (code) => resolve({ code, out }));
  });
}

const netnsOf = (node: string) => state.nodes.find((n) => n.name === node)!.netns;
const inNode = (node: string, tool: 'ip' | 'tc', ...args: string[]) =>
  execFileSync(tool, ['-n', netnsOf(node), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

interface Ours {
  links: string[];
  filters: string[];
  routes: string[];
  pins: string[];
  conf: string[];
  plugin: string[];
}

/** Everything of ours the node holds, by kind (empty lists: a clean node). */
function oursOnNode(node: string): Ours {
  const links = (JSON.parse(inNode(node, 'ip', '-j', 'link', 'show')) as { ifname: string }[]).map((l) => l.ifname);
  const filters: string[] = [];
  for (const l of links)
    for (const d of ['ingress', 'egress']) {
      let out = '';
      try {
        out = inNode(node, 'tc', 'filter', 'show', 'dev', l, d);
      } catch {
        continue; // no clsact on this link
      }
      if (/ cil_/.test(out)) filters.push(`${l} ${d}`);
    }
  const pool = state.ranges.clusterPool;
  const prefix = pool.split('.').slice(0, 2).join('.') + '.';
  const routes = (JSON.parse(inNode(node, 'ip', '-j', 'route', 'show')) as { dst: string; gateway?: string }[])
    .filter((r) => r.gateway && r.dst.startsWith(prefix))
    .map((r) => `${r.dst} via ${r.gateway}`);
  const p = layout.node(node);
  const tc = join(state.bpfRoot, node, 'tc', 'globals');
  return {
    links: links.filter((l) => l.startsWith('cilium_')),
    filters,
    routes,
    pins: existsSync(tc) ? readdirSync(tc) : [],
    conf: readdirSync(p.confDir).filter((f) => f.includes('cilium')),
    plugin: readdirSync(p.cniBinDir).filter((f) => f.startsWith('cilium-cni')),
  };
}

/**
 * One request sequence on a client of its own: the steps here sit idle for minutes (uninstall,
 * rollouts), and a pooled keep-alive socket the API server closed meanwhile fails as "socket hang up".
 */
async function api<T>(f: (c: KubeClient) => Promise<T>): Promise<T> {
  const c = KubeClient.fromFile(join(dir, 'kubeconfig'));
  try {
    return await f(c);
  } finally {
    c.close();
  }
}

async function podCidrs(): Promise<Map<string, string[]>> {
  const list = await api((c) => c.list<CiliumNode>(CILIUM_NODES));
  return new Map(list.items.map((n) => [n.metadata!.name!, n.spec?.ipam?.podCIDRs ?? []]));
}

beforeAll(async () => {
  await upDetached({ dir });
  // another CNI's configuration, as a node image (or an earlier CNI) leaves it
  for (const n of NODES) {
    const confDir = layout.node(n).confDir;
    mkdirSync(confDir, { recursive: true });
    writeFileSync(join(confDir, OTHER_CNI), '{"cniVersion":"1.0.0","name":"othernet","plugins":[{"type":"bridge"}]}\n');
  }
  state = await upNodes(dir, { nodes: 2, waitForInstall: true });
  kubectl = new Kubectl({ kubeconfig: join(dir, 'kubeconfig'), dir } as Devcluster);
}, 240_000);

afterAll(async () => {
  kubectl?.stopAll();
  await downNodes(dir).catch(() => undefined);
  await downDetached(dir).catch(() => undefined);
}, 120_000);

describe('node lifecycle: install, uninstall, install again', () => {
  it('installed: the other CNI config moved aside, pods run under the policy', async () => {
    for (const n of NODES) {
      expect(readdirSync(layout.node(n).confDir).sort()).toEqual(['05-cilium.conflist', `${OTHER_CNI}.cilium_bak`]);
      const ours = oursOnNode(n);
      expect(ours.links).toEqual(expect.arrayContaining(['cilium_host', 'cilium_net']));
      expect(ours.pins.length).toBeGreaterThan(0);
      expect(ours.plugin).toContain('cilium-cni');
    }
    await kubectl.ok(['apply', '-f', '-'], APPS_YAML);
    ips = await api((c) => waitForPods(c, { count: 3, namespaces: ['app'], what: 'the app pods', timeoutMs: 60_000 }));
    await testing.waitFor(() => tcp('app/client'), { what: 'the server to listen', timeoutMs: 20_000 });
    expect(await tcp('app/other')).toBe(false);
    for (const n of NODES) {
      const ours = oursOnNode(n);
      expect(ours.filters.some((f) => f.startsWith('lxc'))).toBe(true);
      expect(ours.routes).toHaveLength(1); // to the other node's pod CIDR
    }
    for (const [node, cidrs] of await podCidrs()) podCidrsAtInstall.set(node, cidrs);
    expect([...podCidrsAtInstall.keys()].sort()).toEqual(NODES);
  }, 120_000);

  it('cilium uninstall cleans every node: nothing of ours left, the other CNI config back', async () => {
    const r = await cilium(['uninstall']);
    expect({ code: r.code, out: r.out }).toEqual({ code: 0, out: expect.stringContaining('2 nodes cleaned') });
    expect(r.out).toMatch(/^node node-1 cleaned$/m);
    expect(r.out).toMatch(/^node node-2 cleaned$/m);
    expect(r.out).toMatch(/^daemonset\.apps\/cilium-post-uninstall-cleanup deleted$/m);
    for (const n of NODES) {
      expect([n, oursOnNode(n)]).toEqual([n, { links: [], filters: [], routes: [], pins: [], conf: [], plugin: [] }]);
      expect(readdirSync(layout.node(n).confDir)).toEqual([OTHER_CNI]);
    }
    // no agent, no cleanup pod left; the app pods survive (their network is gone, as upstream's)
    await testing.waitFor(
      async () =>
        (
          await api((c) =>
            c.list(PODS, { namespace: 'kube-system', labelSelector: 'k8s-app=cilium-post-uninstall-cleanup' }),
          )
        ).items.length === 0,
      { what: 'the cleanup pods gone', timeoutMs: 60_000 },
    );
    expect(
      (await api((c) => c.list(PODS, { namespace: 'kube-system', labelSelector: 'k8s-app=cilium' }))).items,
    ).toEqual([]);
    expect((await api((c) => c.list(PODS, { namespace: 'app' }))).items).toHaveLength(3);
    expect(await tcp('app/client')).toBe(false);
  }, 300_000);

  it('install again: each node keeps its pod CIDR, the surviving pods get connectivity and policy back', async () => {
    await api((c) => applyObjects(c, devclusterInstall(state)));
    await api((c) =>
      waitForWorkloads(
        c,
        'kube-system',
        { daemonSets: ['cilium'], deployments: ['cilium-operator'] },
        Date.now() + 180_000,
        () => undefined,
      ),
    );
    expect(await podCidrs()).toEqual(podCidrsAtInstall);
    for (const n of NODES)
      expect(readdirSync(layout.node(n).confDir).sort()).toEqual(['05-cilium.conflist', `${OTHER_CNI}.cilium_bak`]);
    // the same pods (no restart), their addresses inside their node's pod CIDR again
    const pods = await api((c) => c.list<KubeObject & { status?: { podIP?: string } }>(PODS, { namespace: 'app' }));
    expect(new Map(pods.items.map((p) => [`app/${p.metadata!.name}`, p.status?.podIP]))).toEqual(ips);
    await testing.waitFor(() => tcp('app/client'), { what: 'client → server allowed again', timeoutMs: 60_000 });
    expect(await tcp('app/other')).toBe(false);
  }, 300_000);
});
