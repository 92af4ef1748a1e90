// API access without kube-proxy: the kubelets inject into the host-network pods a
// KUBERNETES_SERVICE_HOST/PORT that reaches nothing (as the `kubernetes` Service's ClusterIP does
// when nothing translates it yet), and the install's cilium-config names the API server's own
// address (k8sServiceHost / k8sServicePort → k8s-service-host / k8s-service-port). The agent and
// the operator must reach the API server through the latter: the agent gets Ready, the operator
// allocates the node's pod CIDR. Without k8s-service-host, the same agent never gets Ready.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, testing, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';
import { downDetached, upDetached } from '../../devcluster/cluster.js';
import { waitForWorkloads } from '../../devcluster/nodes/install-apply.js';
import type { NodesState } from '../../devcluster/nodes/layout.js';
import { downNodes, upNodes } from '../../devcluster/nodes/nodes.js';

const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
const CILIUM_NODES: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnodes',
  kind: 'CiliumNode',
  namespaced: false,
};
type Pod = KubeObject & {
  status?: {
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; containerID?: string; restartCount: number }[];
  };
};

/** TEST-NET-1 (RFC 5737): an address that reaches nothing, like an untranslated ClusterIP. */
const UNREACHABLE = { host: '192.0.2.1', port: 443 };
const dir = mkdtempSync(join(tmpdir(), 'kts-e2e-k8shost-'));
let state: NodesState;
let client: KubeClient;

const agentPods = async () =>
  (await client.list<Pod>(PODS, { namespace: 'kube-system', labelSelector: 'k8s-app=cilium' })).items.filter(
    (p) => !p.metadata?.deletionTimestamp,
  );
const isReady = (p: Pod | undefined) => p?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
const environ = (pid: number) =>
  Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
const pidOf = (p: Pod) =>
  Number(
    /^devcluster:\/\/(\d+)$/.exec(
      p.status?.containerStatuses?.find((c) => c.name === 'cilium-agent')?.containerID ?? '',
    )?.[1] ?? 0,
  );

beforeAll(async () => {
  const api = await upDetached({ dir });
  state = await upNodes(dir, {
    nodes: 1,
    kubeletApiServer: UNREACHABLE,
    // the API server as the node reaches it: the devcluster's forwarder in each node
    config: { 'k8s-service-host': '127.0.0.1', 'k8s-service-port': String(api.port) },
  });
  client = KubeClient.fromFile(join(dir, 'kubeconfig'));
}, 240_000);

afterAll(async () => {
  client?.close();
  await downNodes(dir).catch(() => undefined);
  await downDetached(dir).catch(() => undefined);
}, 120_000);

describe('the agent reaches the API server through k8sServiceHost, kube-proxy absent', () => {
  it('the injected KUBERNETES_SERVICE_HOST reaches nothing from the node', () => {
    let connected = true;
    try {
      execFileSync(
        'ip',
        [
          'netns',
          'exec',
          state.nodes[0]!.netns,
          'timeout',
          '3',
          'bash',
          '-c',
          `echo > /dev/tcp/${UNREACHABLE.host}/${UNREACHABLE.port}`,
        ],
        { stdio: 'ignore' },
      );
    } catch {
      connected = false;
    }
    expect(connected).toBe(false);
  });

  it('with k8s-service-host: the agent (given the unreachable env) gets Ready, the operator allocates', async () => {
    await waitForWorkloads(
      client,
      'kube-system',
      { daemonSets: ['cilium'], deployments: ['cilium-operator'] },
      Date.now() + 180_000,
      () => undefined,
    );
    const [pod] = await agentPods();
    expect(isReady(pod)).toBe(true);
    // the kubelet gave the agent the unreachable address; the agent used cilium-config's instead
    const env = environ(pidOf(pod!));
    expect([env.KUBERNETES_SERVICE_HOST, env.KUBERNETES_SERVICE_PORT]).toEqual([
      UNREACHABLE.host,
      String(UNREACHABLE.port),
    ]);
    expect(pod!.status!.containerStatuses!.find((c) => c.name === 'cilium-agent')!.restartCount).toBe(0);
    const node = await client.get<KubeObject & { spec?: { ipam?: { podCIDRs?: string[] } } }>(CILIUM_NODES, 'node-1');
    expect(node.spec?.ipam?.podCIDRs?.length).toBe(1);
  }, 240_000);

  it('without k8s-service-host the same agent never gets Ready', async () => {
    await client.patch(
      CONFIGMAPS,
      'cilium-config',
      'kube-system',
      { data: { 'k8s-service-host': '', 'k8s-service-port': '' } },
      'merge',
    );
    const [old] = await agentPods();
    await client.delete(PODS, old!.metadata!.name!, 'kube-system');
    const fresh = await testing.waitFor(
      async () => (await agentPods()).find((p) => p.metadata?.uid !== old!.metadata?.uid && pidOf(p) > 0),
      { what: 'a new agent container running', timeoutMs: 120_000 },
    );
    // several readiness periods: still not Ready
    await new Promise((r) => setTimeout(r, 20_000));
    const now = (await agentPods()).find((p) => p.metadata?.uid === fresh.metadata?.uid);
    expect(isReady(now)).toBe(false);
  }, 240_000);
});
