// Two cilium-agents (sim datapath, host namespace) and the operator in kvstore mode against the
// devcluster's API server and a separate real etcd as the kvstore: identities allocated in etcd
// under upstream's keys and no CiliumIdentity written; each node's ipcache learns the other's pods
// from `cilium/state/ip/v1/default/` and the other nodes from `cilium/state/nodes/v1/`; a stopped
// agent's keys go with its lease and the other node forgets its pods; the operator's heartbeat
// going stale makes the agents not ready, and back.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parse } from 'yaml';
import { binaryEntry } from '../../cdk8s/process-launch.js';
import { Agent } from '../../controllers/agent/agent.js';
import { AgentClient } from '../../controllers/agent/api/client.js';
import { cniAttachmentId } from '../../controllers/agent/api/types.js';
import { agentOptions } from '../../controllers/agent/config.js';
import {
  KubeClient,
  testing,
  type KubeObject,
  type Manager,
  type ResourceRef,
} from '../../controllers/framework/index.js';
import { maskBits } from '../../controllers/agent/kvstore-nodes.js';
import { ipNet, type KvNode } from '../../controllers/kvstore/keys.js';
import { operatorOptions } from '../../controllers/operator/config.js';
import { OperatorKvstore } from '../../controllers/operator/kvstore-duties.js';
import { createOperator } from '../../controllers/operator/operator.js';
import type { Devcluster } from '../../devcluster/cluster.js';
import { startDevcluster } from '../e2e/harness.js';
import { startEtcdFixture, type EtcdFixture } from './etcd-fixture.js';

const res = (group: string, version: string, plural: string, kind: string, namespaced: boolean): ResourceRef => ({
  group,
  version,
  plural,
  kind,
  namespaced,
});
const CRD = res('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', false);
const NSR = res('', 'v1', 'namespaces', 'Namespace', false);
const NODES = res('', 'v1', 'nodes', 'Node', false);
const PODS = res('', 'v1', 'pods', 'Pod', true);
const IDENTITIES = res('cilium.io', 'v2', 'ciliumidentities', 'CiliumIdentity', false);
const CILIUM_NODES = res('cilium.io', 'v2', 'ciliumnodes', 'CiliumNode', false);
/** The reserved identity of another node's addresses. */
const REMOTE_NODE = 6;

let cluster: Devcluster;
let client: KubeClient;
let operator: Manager;
let kvOperator: OperatorKvstore;
let fx: EtcdFixture;
const dir = mkdtempSync(join(tmpdir(), 'kts-kvstore-agent-'));
const agents = new Map<string, Agent>();
const silent = pino({ level: 'silent' });

/** The kvstore settings both processes get: short lease and heartbeat for the test. */
const kvstoreConfig = (): Record<string, string> => ({
  'identity-allocation-mode': 'kvstore',
  kvstore: 'etcd',
  'kvstore-opt': JSON.stringify({ 'etcd.address': fx.etcd.endpoint }),
  'kvstore-lease-ttl': '3s',
  'kvstore-heartbeat-timeout': '1500ms',
  'kvstore-heartbeat-interval': '300ms',
});

function startAgent(node: string): Promise<Agent> {
  const o = agentOptions({
    'node-name': node,
    kubeconfig: cluster.kubeconfig,
    datapath: 'sim',
    'manage-node-network': 'false',
    'socket-path': join(dir, node, 'cilium.sock'),
    'state-dir': join(dir, node, 'state'),
    'agent-health-port': '0',
    ...kvstoreConfig(),
  });
  const a = new Agent(o, { log: silent });
  agents.set(node, a);
  return a.start().then(() => a);
}

beforeAll(async () => {
  fx = await startEtcdFixture();
  cluster = await startDevcluster('kvstore-agent');
  client = KubeClient.fromFile(cluster.kubeconfig);
  const crdDir = new URL('../../crds/v2/', import.meta.url);
  for (const f of readdirSync(crdDir))
    await client.create(CRD, parse(readFileSync(new URL(f, crdDir), 'utf8')) as KubeObject);
  await client
    .create(NSR, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } })
    .catch(() => undefined);
  await client.create(NSR, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } });
  for (const [n, ip] of [
    ['node-a', '192.0.2.10'],
    ['node-b', '192.0.2.11'],
  ] as const)
    await client.create(NODES, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: n },
      status: { addresses: [{ type: 'InternalIP', address: ip }] },
    });
  for (const plural of ['ciliumendpoints', 'ciliumnodes', 'ciliumidentities'])
    await testing.waitFor(
      () => client.list(res('cilium.io', 'v2', plural, '', plural === 'ciliumendpoints')).then(() => true),
      { what: `${plural} served` },
    );
  const oo = operatorOptions({
    kubeconfig: cluster.kubeconfig,
    'cluster-pool-ipv4-cidr': '10.251.0.0/16',
    'cluster-pool-ipv4-mask-size': '24',
    'operator-api-serve-addr': '127.0.0.1:0',
    ...kvstoreConfig(),
  });
  operator = createOperator(
    { ...oo, leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 200 },
    { log: silent },
  );
  await operator.start();
  kvOperator = new OperatorKvstore({ kvstore: oo.kvstore!, identityGcIntervalMs: 60_000, log: silent });
  kvOperator.start();
  await Promise.all([startAgent('node-a'), startAgent('node-b')]);
}, 120_000);

afterAll(async () => {
  for (const a of agents.values()) await a.stop().catch(() => undefined);
  await kvOperator?.stop().catch(() => undefined);
  await operator?.stop().catch(() => undefined);
  client?.close();
  await cluster?.stop();
  await fx?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const pod = (name: string, node: string, app: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'demo', labels: { app } },
  spec: { nodeName: node, containers: [{ name: 'c', image: 'none' }] },
});

let ifindex = 2000;
/** What cilium-cni does for a pod: an IP, then the endpoint handed to the agent. */
async function cniAdd(node: string, name: string) {
  const api = new AgentClient({ socketPath: join(dir, node, 'cilium.sock') });
  const ipam = await api.ipamAllocate(`demo/${name}`);
  const ep = await api.endpointCreate(cniAttachmentId(`ctr-${name}`, 'eth0'), {
    'container-id': `ctr-${name}`,
    'container-interface-name': 'eth0',
    'interface-name': `lxc${name}`,
    'interface-index': ++ifindex,
    mac: '02:00:00:00:00:01',
    'host-mac': '02:00:00:00:00:02',
    addressing: { ipv4: ipam.address.ipv4 },
    'k8s-pod-name': name,
    'k8s-namespace': 'demo',
    'sync-build': true,
  });
  return { ip: ipam.address.ipv4!, id: ep.identity!.id };
}

const keys = async (prefix: string): Promise<Record<string, string>> => fx.direct.getAll().prefix(prefix).strings();
const ipcacheOf = (node: string) =>
  new Map(
    agents
      .get(node)!
      .datapath.dumpIpcache()
      .map((e) => [e.prefix, e.identity]),
  );

describe('agents in kvstore mode', () => {
  let w1: { ip: string; id: number };
  let w2: { ip: string; id: number };
  let w3: { ip: string; id: number };

  it('allocate identities in etcd under upstream keys, one id per label set across nodes, no CiliumIdentity', async () => {
    await client.create(PODS, pod('web-1', 'node-a', 'web'));
    await client.create(PODS, pod('web-2', 'node-b', 'web'));
    w1 = await cniAdd('node-a', 'web-1');
    w2 = await cniAdd('node-b', 'web-2');
    expect(w1.id).toBeGreaterThanOrEqual(256);
    expect(w2.id).toBe(w1.id);
    const ids = await keys('cilium/state/identities/v1/id/');
    expect(ids[`cilium/state/identities/v1/id/${w1.id}`]).toContain('k8s:app=web;');
    const refs = Object.keys(await keys('cilium/state/identities/v1/value/')).filter((k) => k.includes('k8s:app=web;'));
    expect(refs.map((k) => k.split('/').pop()).sort()).toEqual(['192.0.2.10', '192.0.2.11']);
    expect((await client.list(IDENTITIES)).items).toEqual([]);
    const nodes = await keys('cilium/state/nodes/v1/default/');
    expect(JSON.parse(nodes['cilium/state/nodes/v1/default/node-a']!)).toMatchObject({
      Name: 'node-a',
      IPAddresses: expect.arrayContaining([{ Type: 'InternalIP', IP: '192.0.2.10' }]),
    });
  });

  it("publish their pods' IPIdentityPairs and learn the other node's from etcd", async () => {
    const pair = await testing.waitFor(
      async () => (await keys('cilium/state/ip/v1/default/'))[`cilium/state/ip/v1/default/${w1.ip}`],
      { what: "web-1's ipcache key" },
    );
    expect(JSON.parse(pair)).toMatchObject({ IP: w1.ip, ID: w1.id, HostIP: '192.0.2.10', K8sPodName: 'web-1' });
    await testing.waitFor(() => ipcacheOf('node-b').get(`${w1.ip}/32`) === w1.id, {
      what: "node-b's ipcache has web-1",
    });
    await testing.waitFor(() => ipcacheOf('node-a').get(`${w2.ip}/32`) === w2.id, {
      what: "node-a's ipcache has web-2",
    });
  });

  it('learn the other nodes from cilium/state/nodes/v1 (not from CiliumNodes), into the node → ipcache path', async () => {
    // node-a's entry is written again once the operator gave it a pod CIDR (router as CiliumInternalIP)
    const a = await testing.waitFor(
      async () => {
        const v = (await keys('cilium/state/nodes/v1/default/'))['cilium/state/nodes/v1/default/node-a'];
        const n = v ? (JSON.parse(v) as KvNode) : undefined;
        return n?.IPv4AllocCIDR ? n : undefined;
      },
      { what: "node-a's entry with its pod CIDR" },
    );
    expect(a.IPv4AllocCIDR!.IP).toMatch(/^10\.251\.\d+\.0$/);
    expect(maskBits(a.IPv4AllocCIDR!.Mask)).toBe(24);
    expect(a.IPAddresses.map((x) => x.Type)).toEqual(['InternalIP', 'CiliumInternalIP']);
    // a node only in etcd (as a remote agent writes it) becomes a remote-node entry at node-b …
    const c: KvNode = {
      Name: 'node-c',
      Cluster: 'default',
      IPAddresses: [{ Type: 'InternalIP', IP: '192.0.2.50' }],
      IPv4AllocCIDR: ipNet('10.251.99.0/24'),
      IPv6AllocCIDR: null,
      IPv4HealthIP: '',
      IPv6HealthIP: '',
      ClusterID: 0,
    };
    await fx.direct.put('cilium/state/nodes/v1/default/node-c').value(JSON.stringify(c));
    await testing.waitFor(() => ipcacheOf('node-b').get('192.0.2.50/32') === REMOTE_NODE, {
      what: "node-c's InternalIP at node-b as remote-node",
    });
    // … a CiliumNode that has no etcd entry does not (kvstore mode reads other nodes from etcd)
    await client.create(CILIUM_NODES, {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNode',
      metadata: { name: 'node-d' },
      spec: { addresses: [{ type: 'InternalIP', ip: '192.0.2.60' }] },
    });
    await fx.direct.delete().key('cilium/state/nodes/v1/default/node-c');
    await testing.waitFor(() => !ipcacheOf('node-b').has('192.0.2.50/32'), { what: 'node-c forgotten' });
    expect(ipcacheOf('node-b').has('192.0.2.60/32')).toBe(false);
    await client.delete(CILIUM_NODES, 'node-d');
  });

  it('cilium-dbg status data: endpoints, leader, heartbeat age', async () => {
    const s = (await agents.get('node-a')!.kvstore!.status()) as {
      endpoints: string[];
      connected?: { leader: boolean };
      heartbeat: { ageMs: number };
      problem?: string;
    };
    expect(s.endpoints).toEqual([fx.etcd.endpoint]);
    expect(s.connected?.leader).toBe(true);
    expect(s.heartbeat.ageMs).toBeLessThan(1500);
    expect(s.problem).toBeUndefined();
    // what `cilium-dbg status` prints of it (asynchronously: the agent answers from this process)
    const { stdout: out } = await promisify(execFile)(
      process.execPath,
      [binaryEntry('cilium-dbg'), '--socket', join(dir, 'node-a', 'cilium.sock'), 'status'],
      { encoding: 'utf8' },
    );
    expect(out).toMatch(
      new RegExp(
        `^KVStore:\\s+Ok\\s+etcd: 1/1 connected, lease [0-9a-f]+, heartbeat \\d+s ago: ${fx.etcd.endpoint} - 3\\.[0-9.]+ \\(Leader\\)$`,
        'm',
      ),
    );
  });

  it('operator heartbeat stopped → agents not ready (stale heartbeat); started again → ready', async () => {
    const b = agents.get('node-b')!;
    expect(b.notReadyReason()).toBeUndefined();
    kvOperator.heartbeat.stop();
    const reason = await testing.waitFor(() => b.notReadyReason(), { what: 'stale heartbeat', timeoutMs: 15_000 });
    expect(reason).toMatch(/^kvstore: quorum check failed \d+ times in a row: \d+s since last heartbeat update/);
    kvOperator.heartbeat.start();
    await testing.waitFor(() => b.notReadyReason() === undefined, { what: 'ready again', timeoutMs: 10_000 });
  }, 30_000);

  it('etcd away: datapath untouched, kvstore reported down; a pod added and one removed meanwhile are both reflected after', async () => {
    const a = agents.get('node-a')!;
    const b = agents.get('node-b')!;
    await fx.stopEtcd();
    try {
      const status = await testing.waitFor(
        async () => {
          const s = (await b.kvstore!.status()) as { error?: string; problem?: string };
          return s.problem ? s : undefined;
        },
        { what: 'kvstore reported down', timeoutMs: 30_000 },
      );
      expect(status.error).toBeDefined();
      // nothing taken out of the datapath
      expect(ipcacheOf('node-b').get(`${w1.ip}/32`)).toBe(w1.id);
      expect(ipcacheOf('node-a').get(`${w2.ip}/32`)).toBe(w2.id);
      // a pod comes on node-a (its identity is known there), web-2 goes from node-b
      await client.create(PODS, pod('web-3', 'node-a', 'web'));
      w3 = await cniAdd('node-a', 'web-3');
      await new AgentClient({ socketPath: join(dir, 'node-b', 'cilium.sock') }).endpointDelete(
        cniAttachmentId('ctr-web-2', 'eth0'),
      );
      await new Promise((r) => setTimeout(r, 3000));
      expect(ipcacheOf('node-b').has(`${w3.ip}/32`)).toBe(false);
    } finally {
      await fx.restartEtcd();
    }
    await testing.waitFor(() => ipcacheOf('node-b').get(`${w3.ip}/32`) === w3.id, {
      what: "node-b's ipcache has web-3",
      timeoutMs: 30_000,
    });
    await testing.waitFor(() => !ipcacheOf('node-a').has(`${w2.ip}/32`), {
      what: 'node-a forgot web-2',
      timeoutMs: 30_000,
    });
    expect(a.notReadyReason()).toBeUndefined();
    const s = (await b.kvstore!.status()) as { error?: string };
    expect(s.error).toBeUndefined();
  }, 90_000);

  it("a stopped agent's keys go with its lease; the other node forgets its pods", async () => {
    await agents.get('node-a')!.stop();
    agents.delete('node-a');
    await testing.waitFor(
      async () => (await keys('cilium/state/ip/v1/default/'))[`cilium/state/ip/v1/default/${w1.ip}`] === undefined,
      { what: "web-1's key gone", timeoutMs: 10_000 },
    );
    expect((await keys('cilium/state/nodes/v1/default/'))['cilium/state/nodes/v1/default/node-a']).toBeUndefined();
    await testing.waitFor(() => !ipcacheOf('node-b').has(`${w1.ip}/32`), { what: 'node-b forgot web-1' });
    // the master key stays for the operator's GC; node-b still references it
    expect((await keys('cilium/state/identities/v1/id/'))[`cilium/state/identities/v1/id/${w1.id}`]).toBeDefined();
  });
});
