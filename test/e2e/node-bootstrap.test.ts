// A node's bootstrap by the install, as on a real cluster (the devcluster runs cilium-ts as the
// pods of its own install): the node's bpffs is a plain directory until the agent pod's
// mount-bpf-fs init container mounts one (Bidirectional), the init containers run in order before
// the agent, the agent is not Ready while the node's network cannot be programmed (a sysctl it
// cannot write: the error is reported, not swallowed), and the CNI configuration appears only once
// it is Ready — until then pods on the pod network wait, then they start.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '../../controllers/agent/api/client.js';
import { KubeClient, testing, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';
import { downDetached, upDetached } from '../../devcluster/cluster.js';
import { NodesLayout, type NodesState } from '../../devcluster/nodes/layout.js';
import { downNodes, upNodes } from '../../devcluster/nodes/nodes.js';

const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
type ContainerStatus = {
  name: string;
  ready: boolean;
  state: { running?: { startedAt: string }; terminated?: { exitCode: number; finishedAt: string } };
};
type Pod = KubeObject & {
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string; lastTransitionTime: string }[];
    initContainerStatuses?: ContainerStatus[];
    containerStatuses?: ContainerStatus[];
  };
};

const dir = mkdtempSync(join(tmpdir(), 'kts-e2e-bootstrap-'));
const layout = new NodesLayout(dir);
const node = layout.node('node-1');
const conflist = join(node.confDir, '05-cilium.conflist');
let state: NodesState;
let client: KubeClient;

async function agentPod(): Promise<Pod | undefined> {
  const pods = await client.list<Pod>(PODS, { namespace: 'kube-system', labelSelector: 'k8s-app=cilium' });
  return pods.items.find((p) => !p.metadata?.deletionTimestamp);
}
const ready = (p: Pod | undefined) => p?.status?.conditions?.find((c) => c.type === 'Ready');
const fsType = (path: string) => execFileSync('stat', ['-f', '-c', '%T', path], { encoding: 'utf8' }).trim();
/** The agent pod's directory on the node (its containers' logs). */
const podDir = (p: Pod) => join(node.pods, `kube-system_${p.metadata!.name}`);

beforeAll(async () => {
  await upDetached({ dir });
  // The agent gets a procfs without the host's /proc/sys/net: it cannot enable forwarding.
  state = await upNodes(dir, { nodes: 1, config: { procfs: '/host/proc-missing' } });
  client = KubeClient.fromFile(join(dir, 'kubeconfig'));
}, 300_000);

afterAll(async () => {
  client?.close();
  await downNodes(dir).catch(() => undefined);
  await downDetached(dir).catch(() => undefined);
}, 120_000);

describe('node bootstrap by the install', () => {
  it('the node’s bpffs, a plain directory before, is mounted by the mount-bpf-fs init container', async () => {
    const pod = (await agentPod())!;
    const log = readFileSync(join(podDir(pod), 'mount-bpf-fs.log'), 'utf8');
    expect(log).toMatch(/^mount-fs: mounted bpf at \/sys\/fs\/bpf \(was (?!bpf_fs)\S+\)$/m);
    // on the node, where the agent pinned its maps: the mount outlives the init container
    const bpf = join(state.bpfRoot, 'node-1');
    expect(fsType(bpf)).toBe('bpf_fs');
    expect(existsSync(join(bpf, 'tc', 'globals', 'cilium_ipcache_v2'))).toBe(true);
    expect(readFileSync(join(podDir(pod), 'mount-cgroup.log'), 'utf8')).toMatch(/^mount-fs: cgroup2 /m);
  });

  it('the init containers ran in order, each to completion, before the agent started', async () => {
    const pod = (await agentPod())!;
    const init = pod.status!.initContainerStatuses!;
    expect(init.map((c) => [c.name, c.state.terminated?.exitCode])).toEqual([
      ['mount-bpf-fs', 0],
      ['mount-cgroup', 0],
      ['install-cni', 0],
    ]);
    const finished = init.map((c) => Date.parse(c.state.terminated!.finishedAt));
    expect([...finished].sort((a, b) => a - b)).toEqual(finished);
    const agentStarted = Date.parse(
      pod.status!.containerStatuses!.find((c) => c.name === 'cilium-agent')!.state.running!.startedAt,
    );
    expect(agentStarted).toBeGreaterThanOrEqual(finished.at(-1)! - 1000); // status times have whole seconds
  });

  it('while the node’s network cannot be programmed: not Ready, the reason reported, no conflist, pods wait', async () => {
    const api = new AgentClient({ socketPath: node.socket });
    await testing.waitFor(
      async () => /sysctl net\./.test(((await api.healthz()) as { reason?: string }).reason ?? ''),
      {
        what: 'the agent reporting the failed sysctl',
        timeoutMs: 120_000,
      },
    );
    const health = (await api.healthz()) as { status: string; reason?: string };
    expect(health.status).toBe('degraded');
    expect(health.reason).toMatch(/sysctl net\.ipv4\.ip_forward=1 failed at \/host\/proc-missing\/sys\/net/);
    await client.create(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'waiting', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: 'none', command: ['sleep', '3600'] }] },
    });
    // several readiness periods (2 s) later: still not Ready, still no conflist, the pod has no IP
    await new Promise((r) => setTimeout(r, 8000));
    expect(ready(await agentPod())?.status).toBe('False');
    expect(existsSync(conflist)).toBe(false);
    const waiting = await client.get<Pod>(PODS, 'waiting', 'default');
    expect([waiting.status?.phase, waiting.status?.podIP]).toEqual(['Pending', undefined]);
    const agentLog = readFileSync(join(podDir((await agentPod())!), 'cilium-agent.log'), 'utf8');
    expect(agentLog).toMatch(/"msg":"setting up cilium_host failed"/);
  }, 180_000);

  it('once the sysctls can be set: Ready, then the conflist with the node device’s MTU, then the pod runs', async () => {
    await client.patch(CONFIGMAPS, 'cilium-config', 'kube-system', { data: { procfs: '/host/proc' } }, 'merge');
    const old = (await agentPod())!;
    await client.delete(PODS, old.metadata!.name!, 'kube-system');
    let pod: Pod | undefined;
    // every observation: a Ready agent pod means the conflist is there already
    const readyWithoutConflist: string[] = [];
    await testing.waitFor(
      async () => {
        pod = await agentPod();
        const isReady = pod?.metadata?.uid !== old.metadata?.uid && ready(pod)?.status === 'True';
        if (isReady && !existsSync(conflist)) readyWithoutConflist.push(new Date().toISOString());
        return isReady;
      },
      { what: 'the new agent pod Ready', timeoutMs: 180_000, intervalMs: 100 },
    );
    expect(readyWithoutConflist).toEqual([]);
    expect(existsSync(conflist)).toBe(true);
    const mtu = (
      JSON.parse(
        execFileSync('ip', ['-n', state.nodes[0]!.netns, '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' }),
      ) as {
        mtu: number;
      }[]
    )[0]!.mtu;
    expect((JSON.parse(readFileSync(conflist, 'utf8')) as { plugins: { mtu: number }[] }).plugins[0]!.mtu).toBe(mtu);
    // the conflist came after the datapath was programmed, and Ready after the conflist
    const log = readFileSync(join(podDir(pod!), 'cilium-agent.log'), 'utf8');
    expect(log.indexOf('"msg":"cilium-agent ready"')).toBeGreaterThan(-1);
    expect(log.indexOf('"msg":"CNI configuration written"')).toBeGreaterThan(log.indexOf('"msg":"cilium-agent ready"'));
    await testing.waitFor(async () => (await client.get<Pod>(PODS, 'waiting', 'default')).status?.phase === 'Running', {
      what: 'the waiting pod running',
      timeoutMs: 120_000,
    });
    expect((await client.get<Pod>(PODS, 'waiting', 'default')).status?.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  }, 400_000);
});
