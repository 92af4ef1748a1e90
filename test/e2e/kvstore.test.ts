// kvstore mode end to end (#18) on a two-node devcluster started as `up --nodes 2 --kvstore` does:
// a TLS etcd as the kvstore, the install with identityAllocationMode kvstore + etcd.enabled, real
// agents, operator, cilium-cni, eBPF and TCP between pods. The policy matrix holds; identities,
// ipcache and nodes are in etcd under upstream's keys and no CiliumIdentity is written; etcd away
// for 30 s under a TCP stream changes nothing in the datapath and the agents catch up after; the
// operator's heartbeat going stale makes the agents not ready; a dead agent's keys go with its lease.
// Timings are shortened through cilium-config (lease TTL, heartbeat limit and interval).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { binaryEntry } from '../../cdk8s/process-launch.js';
import { KubeClient, testing, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';
import { downDetached, upDetached, type Devcluster } from '../../devcluster/cluster.js';
import { downKvstoreEtcd, etcdSecretObject, upKvstoreEtcd, type KvstoreEtcd } from '../../devcluster/kvstore-etcd.js';
import { NodesLayout, type NodesState } from '../../devcluster/nodes/layout.js';
import { downNodes, podNetns, upNodes } from '../../devcluster/nodes/nodes.js';
import { tcpFromPod, waitForPodCIDRs, waitForPods } from '../../devcluster/nodes/cluster-checks.js';
import { policyMatrixCases, policyMatrixPods, serverPod, type MatrixPlacement } from './fixtures/policy-matrix.js';
import { startEchoStream } from './fixtures/echo-stream.js';
import { Kubectl } from './harness.js';

const IDENTITIES: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumidentities',
  kind: 'CiliumIdentity',
  namespaced: false,
};
const CEPS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumendpoints',
  kind: 'CiliumEndpoint',
  namespaced: true,
};
const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };

/** Short timings for the test: a dead agent's keys go in ≤ 5 s; a heartbeat older than 15 s is stale. */
const LEASE_TTL_S = 5;
const KVSTORE_CONFIG = {
  'kvstore-lease-ttl': `${LEASE_TTL_S}s`,
  'kvstore-heartbeat-timeout': '15s',
  'kvstore-heartbeat-interval': '3s',
};

const dir = mkdtempSync(join(tmpdir(), 'kts-e2e-kvstore-'));
let state: NodesState;
let client: KubeClient;
let kubectl: Kubectl;
let kv: KvstoreEtcd;
let etcd: Etcd3;
let ips = new Map<string, string>();
const procs: ChildProcess[] = [];

const tcp = (from: string, to: string, port = 8080): Promise<boolean> => tcpFromPod(dir, from, ips.get(to)!, port, 1.0);

/** A build binary against a node's agent socket; stdout and stderr, and the exit code. */
function dbg(node: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(
      process.execPath,
      [binaryEntry('cilium-dbg'), '--socket', new NodesLayout(dir).node(node).socket, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (out += d));
    p.on('close', (code) => resolve({ code, out }));
  });
}

/** A node's datapath ipcache: prefix → identity (`cilium-dbg bpf ipcache list`). */
async function ipcacheOf(node: string): Promise<Map<string, number>> {
  const r = await dbg(node, ['bpf', 'ipcache', 'list', '-o', 'json']);
  if (r.code !== 0) return new Map();
  return new Map((JSON.parse(r.out) as { prefix: string; identity: number }[]).map((e) => [e.prefix, e.identity]));
}

/** The KVStore line of `cilium-dbg status` on a node. */
async function kvstoreLine(node: string): Promise<string> {
  return /^KVStore:\s+(.*)$/m.exec((await dbg(node, ['status'])).out)?.[1] ?? '';
}

/** The cilium-agent container of a node's cilium pod: its main process and restart count. */
async function agentContainer(node: string): Promise<{ pid: number; restartCount: number }> {
  const pods = await client.list<KubeObject & { status?: { containerStatuses?: Record<string, unknown>[] } }>(PODS, {
    namespace: 'kube-system',
    labelSelector: 'k8s-app=cilium',
    fieldSelector: `spec.nodeName=${node}`,
  });
  const c = pods.items[0]?.status?.containerStatuses?.find((s) => s.name === 'cilium-agent');
  return {
    pid: Number(/^devcluster:\/\/(\d+)$/.exec(String(c?.containerID ?? ''))?.[1] ?? 0),
    restartCount: Number(c?.restartCount ?? -1),
  };
}

const keys = (prefix: string): Promise<Record<string, string>> => etcd.getAll().prefix(prefix).strings();

const PLACEMENT: MatrixPlacement = { frontend: 'node-1', other: 'node-1', backend: 'node-2', db: 'node-1' };
const PODS_YAML = [
  policyMatrixPods(PLACEMENT),
  serverPod('shop', 'web-1', 'node-1', 'web'),
  serverPod('shop', 'web-2', 'node-2', 'web'),
].join('\n');

beforeAll(async () => {
  await upDetached({ dir });
  kv = await upKvstoreEtcd(dir);
  state = await upNodes(dir, {
    nodes: 2,
    config: KVSTORE_CONFIG,
    kvstore: { port: kv.port, secret: etcdSecretObject(kv.tls) },
  });
  etcd = new Etcd3({
    hosts: kv.endpoint,
    credentials: {
      rootCertificate: Buffer.from(kv.tls.caCert),
      certChain: Buffer.from(kv.tls.clientCert),
      privateKey: Buffer.from(kv.tls.clientKey),
    },
  });
  client = KubeClient.fromFile(join(dir, 'kubeconfig'));
  kubectl = new Kubectl({ kubeconfig: join(dir, 'kubeconfig'), dir } as Devcluster);
  await waitForPodCIDRs(client, 2, 60_000);
  await kubectl.ok(['apply', '-f', '-'], PODS_YAML);
  ips = await waitForPods(client, { count: 6, what: 'six running pods', timeoutMs: 90_000 });
  await testing.waitFor(() => tcp('shop/frontend', 'shop/backend'), { what: 'the first server', timeoutMs: 30_000 });
}, 240_000);

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  kubectl?.stopAll();
  client?.close();
  etcd?.close();
  await downNodes(dir).catch(() => undefined);
  await downKvstoreEtcd(dir).catch(() => undefined);
  await downDetached(dir).catch(() => undefined);
}, 120_000);

describe('kvstore mode: identities, ipcache and nodes in etcd', () => {
  it('identities, ipcache and nodes under upstream keys; one id per label set across nodes; no CiliumIdentity', async () => {
    const id = async (name: string) =>
      (await client.get<KubeObject & { status?: { identity?: { id?: number } } }>(CEPS, name, 'shop')).status?.identity
        ?.id;
    const [w1, w2, be] = await testing.waitFor(
      async () => {
        const r = await Promise.all([id('web-1'), id('web-2'), id('backend')]);
        return r.every((x) => x !== undefined) ? (r as number[]) : undefined;
      },
      { what: 'the CEPs to carry identities' },
    );
    expect(w1).toBe(w2);
    const ids = await keys('cilium/state/identities/v1/id/');
    expect(ids[`cilium/state/identities/v1/id/${w1}`]).toContain('k8s:app=web;');
    const refs = Object.keys(await keys('cilium/state/identities/v1/value/')).filter((k) => k.includes('k8s:app=web;'));
    expect(refs.map((k) => k.split('/').pop()).sort()).toEqual(state.nodes.map((n) => n.ip).sort());
    const pair = await testing.waitFor(
      async () => (await keys('cilium/state/ip/v1/default/'))[`cilium/state/ip/v1/default/${ips.get('shop/backend')}`],
      { what: "backend's ipcache key" },
    );
    expect(JSON.parse(pair)).toMatchObject({ ID: be, HostIP: state.nodes[1]!.ip, K8sPodName: 'backend' });
    const nodes = await keys('cilium/state/nodes/v1/devcluster/');
    expect(Object.keys(nodes).sort()).toEqual([
      'cilium/state/nodes/v1/devcluster/node-1',
      'cilium/state/nodes/v1/devcluster/node-2',
    ]);
    expect(await keys('cilium/.heartbeat')).toHaveProperty(['cilium/.heartbeat']);
    // node-1 learned backend (node-2) from etcd, with its identity
    await testing.waitFor(async () => (await ipcacheOf('node-1')).get(`${ips.get('shop/backend')}/32`) === be, {
      what: "node-1's ipcache has backend",
    });
    expect((await client.list(IDENTITIES)).items).toEqual([]);
    expect(await kvstoreLine('node-1')).toMatch(/^Ok\s+etcd: 1\/1 connected/);
  });
});

describe('kvstore mode: policies change real TCP reachability', () => {
  policyMatrixCases(PLACEMENT, () => ({
    dir,
    kubectl,
    client,
    ips,
    nodes: 2,
    netnsOf: (node) => state.nodes.find((n) => n.name === node)!.netns,
  }));
});

describe('kvstore mode: failures', () => {
  it('etcd stopped 30 s under a TCP stream: stream and policy hold, kvstore reported down; a pod added and one removed meanwhile are reflected after', async () => {
    await kubectl.ok(
      ['apply', '-f', '-'],
      `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: backend-stream, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: backend}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: frontend}}]
      toPorts: [{ports: [{port: "9000", protocol: TCP}, {port: "8080", protocol: TCP}]}]
`,
    );
    await testing.waitFor(async () => !(await tcp('shop/other', 'shop/backend')), { what: 'other → backend closed' });
    // backend echoes on 9000; frontend (the other node) sends a line every 50 ms and counts echoes
    const stream = await startEchoStream({
      serverNetns: await podNetns(dir, 'shop/backend'),
      clientNetns: await podNetns(dir, 'shop/frontend'),
      serverIp: ips.get('shop/backend')!,
      port: 9000,
      cleanup: procs,
    });

    const web1 = `${ips.get('shop/web-1')}/32`;
    let web3 = '';
    const t0 = Date.now();
    await downKvstoreEtcd(dir);
    try {
      const line = await testing.waitFor(
        async () => {
          const l = await kvstoreLine('node-1');
          return l.startsWith('Failure') ? l : undefined;
        },
        { what: 'node-1 to report the kvstore down', timeoutMs: 25_000, intervalMs: 500 },
      );
      expect(line).toMatch(/^Failure/);
      // during the outage: web-3 comes on node-2 (its label set has an id already), web-1 goes from node-1
      await kubectl.ok(['apply', '-f', '-'], serverPod('shop', 'web-3', 'node-2', 'web'));
      await kubectl.ok(['delete', 'pod', '-n', 'shop', 'web-1', '--wait=false']);
      web3 = await testing.waitFor(
        async () =>
          (await client.get<KubeObject & { status?: { podIP?: string } }>(PODS, 'web-3', 'shop')).status?.podIP,
        { what: "web-3's IP", timeoutMs: 45_000 },
      );
      const atOutage = stream.echoes;
      await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - t0))));
      // the datapath is untouched: the stream flowed, the policy holds, node-1 still knows web-2
      expect(stream.echoes).toBeGreaterThan(atOutage + 100);
      expect(await tcp('shop/other', 'shop/backend')).toBe(false);
      expect(await tcp('shop/frontend', 'shop/backend')).toBe(true);
      expect((await ipcacheOf('node-1')).has(`${ips.get('shop/web-2')}/32`)).toBe(true);
    } finally {
      kv = await upKvstoreEtcd(dir, kv.port);
    }
    // after: node-1 learns web-3, node-2 forgets web-1, both report the kvstore healthy again
    await testing.waitFor(async () => (await ipcacheOf('node-1')).has(`${web3}/32`), {
      what: "node-1's ipcache has web-3",
      timeoutMs: 60_000,
    });
    await testing.waitFor(async () => !(await ipcacheOf('node-2')).has(web1), {
      what: 'node-2 forgot web-1',
      timeoutMs: 60_000,
    });
    for (const n of ['node-1', 'node-2'])
      await testing.waitFor(async () => (await kvstoreLine(n)).startsWith('Ok'), {
        what: `${n} reports the kvstore healthy`,
        timeoutMs: 60_000,
      });
    expect(stream.clientErr).toBe('');
    const before = stream.echoes;
    await new Promise((r) => setTimeout(r, 1000));
    expect(stream.echoes).toBeGreaterThan(before + 5);
    stream.kill();
  }, 240_000);

  it('operator stopped → agents report a stale heartbeat and go not ready; operator back → healthy', async () => {
    await kubectl.ok(['scale', '-n', 'kube-system', 'deployment/cilium-operator', '--replicas=0']);
    const reason = await testing.waitFor(
      async () => {
        const h = (await dbg('node-2', ['status'])).out;
        return /Agent health:\s+\S+ \((kvstore: [^)]*)\)/.exec(h)?.[1];
      },
      { what: 'a stale heartbeat on node-2', timeoutMs: 90_000, intervalMs: 1000 },
    );
    expect(reason).toMatch(/quorum check failed \d+ times in a row: \d+s since last heartbeat update/);
    expect(await kvstoreLine('node-2')).toMatch(/^Failure/);
    await kubectl.ok(['scale', '-n', 'kube-system', 'deployment/cilium-operator', '--replicas=2']);
    await testing.waitFor(async () => (await kvstoreLine('node-2')).startsWith('Ok'), {
      what: 'node-2 healthy again',
      timeoutMs: 90_000,
      intervalMs: 1000,
    });
    await testing.waitFor(async () => /Agent health:\s+ok/.test((await dbg('node-2', ['status'])).out), {
      what: 'node-2 ready again',
      timeoutMs: 30_000,
    });
  }, 200_000);

  it('SIGKILLed agent: its ipcache keys vanish within the lease TTL and the other node forgets its pods; back after the restart', async () => {
    const backendKey = `cilium/state/ip/v1/default/${ips.get('shop/backend')}`;
    const backend = `${ips.get('shop/backend')}/32`;
    expect((await keys(backendKey))[backendKey]).toBeDefined();
    // The kubelet restarts a killed agent at once the first time, then after 10 s: the second kill
    // leaves node-2 without its agent for longer than the lease TTL.
    const first = await agentContainer('node-2');
    process.kill(first.pid, 'SIGKILL');
    await testing.waitFor(
      async () =>
        (await agentContainer('node-2')).restartCount === first.restartCount + 1 &&
        (await dbg('node-2', ['status'])).code === 0,
      { what: 'the kubelet to restart the agent', timeoutMs: 60_000 },
    );
    await testing.waitFor(async () => (await keys(backendKey))[backendKey] !== undefined, {
      what: 'the restarted agent to publish backend again',
      timeoutMs: 30_000,
    });
    const { pid } = await agentContainer('node-2');
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    await testing.waitFor(async () => (await keys(backendKey))[backendKey] === undefined, {
      what: "backend's ipcache key gone",
      timeoutMs: (LEASE_TTL_S + 5) * 1000,
      intervalMs: 200,
    });
    const gone = Date.now() - killedAt;
    expect(gone).toBeLessThanOrEqual((LEASE_TTL_S + 2) * 1000);
    expect(
      (await keys('cilium/state/nodes/v1/devcluster/'))['cilium/state/nodes/v1/devcluster/node-2'],
    ).toBeUndefined();
    await testing.waitFor(async () => !(await ipcacheOf('node-1')).has(backend), {
      what: 'node-1 forgot backend',
      timeoutMs: 5000,
      intervalMs: 200,
    });
    // the restarted agent publishes its pods again and node-1 learns them back
    await testing.waitFor(async () => (await ipcacheOf('node-1')).has(backend), {
      what: 'node-1 knows backend again',
      timeoutMs: 90_000,
    });
  }, 200_000);
});
