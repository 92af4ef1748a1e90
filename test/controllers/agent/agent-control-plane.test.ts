// Two cilium-agents (sim datapath, host namespace, no node plumbing) and the operator against the
// devcluster: the control plane of the agent issue — IPAM from the node's podCIDR, identities
// shared across nodes, CiliumEndpoints as `kubectl get cep` shows them, policies resolved into
// endpoint map entries, Valid conditions, toFQDNs from what the DNS proxy learned, endpoint
// deletion and restore after a restart.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parse } from 'yaml';
import { Agent } from '../../../controllers/agent/agent.js';
import { AgentClient } from '../../../controllers/agent/api/client.js';
import { cniAttachmentId } from '../../../controllers/agent/api/types.js';
import { agentOptions } from '../../../controllers/agent/config.js';
import {
  KubeClient,
  testing,
  type KubeObject,
  type Manager,
  type ResourceRef,
} from '../../../controllers/framework/index.js';
import { operatorOptions } from '../../../controllers/operator/config.js';
import { createOperator } from '../../../controllers/operator/operator.js';
import type { Devcluster } from '../../../devcluster/cluster.js';
import { Kubectl, startDevcluster } from '../../e2e/harness.js';

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
const CEPS = res('cilium.io', 'v2', 'ciliumendpoints', 'CiliumEndpoint', true);
const CNPS = res('cilium.io', 'v2', 'ciliumnetworkpolicies', 'CiliumNetworkPolicy', true);

let cluster: Devcluster;
let client: KubeClient;
let kubectl: Kubectl;
let operator: Manager;
const dir = mkdtempSync(join(tmpdir(), 'kts-agent-cp-'));
const agents = new Map<string, Agent>();

function startAgent(node: string): Promise<Agent> {
  const o = agentOptions({
    'node-name': node,
    kubeconfig: cluster.kubeconfig,
    datapath: 'sim',
    'manage-node-network': 'false',
    'socket-path': join(dir, node, 'cilium.sock'),
    'state-dir': join(dir, node, 'state'),
    'agent-health-port': '0',
  });
  const a = new Agent(o, { log: pino({ level: 'silent' }) });
  agents.set(node, a);
  return a.start().then(() => a);
}

beforeAll(async () => {
  cluster = await startDevcluster('agent-cp');
  client = KubeClient.fromFile(cluster.kubeconfig);
  kubectl = new Kubectl(cluster);
  const crdDir = new URL('../../../crds/v2/', import.meta.url);
  for (const f of readdirSync(crdDir))
    await client.create(CRD, parse(readFileSync(new URL(f, crdDir), 'utf8')) as KubeObject);
  await client
    .create(NSR, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } })
    .catch(() => undefined);
  await client.create(NSR, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo', labels: { team: 'a' } } });
  for (const [n, ip] of [
    ['node-a', '192.0.2.10'],
    ['node-b', '192.0.2.11'],
  ] as const) {
    await client.create(NODES, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: n },
      status: { addresses: [{ type: 'InternalIP', address: ip }] },
    });
  }
  for (const plural of [
    'ciliumendpoints',
    'ciliumnodes',
    'ciliumidentities',
    'ciliumnetworkpolicies',
    'ciliumclusterwidenetworkpolicies',
  ]) {
    await testing.waitFor(
      () =>
        client
          .list(
            res(
              'cilium.io',
              'v2',
              plural,
              '',
              plural !== 'ciliumnodes' &&
                plural !== 'ciliumidentities' &&
                plural !== 'ciliumclusterwidenetworkpolicies',
            ),
          )
          .then(() => true),
      { what: `${plural} served` },
    );
  }
  operator = createOperator(
    {
      ...operatorOptions({
        kubeconfig: cluster.kubeconfig,
        'cluster-pool-ipv4-cidr': '10.250.0.0/16',
        'cluster-pool-ipv4-mask-size': '24',
        'operator-api-serve-addr': '127.0.0.1:0',
      }),
      leaseDurationMs: 2000,
      renewDeadlineMs: 1500,
      retryPeriodMs: 200,
    },
    { log: (await import('pino')).pino({ level: 'silent' }) },
  );
  await operator.start();
  await Promise.all([startAgent('node-a'), startAgent('node-b')]);
}, 90_000);

afterAll(async () => {
  for (const a of agents.values()) await a.stop().catch(() => undefined);
  await operator?.stop().catch(() => undefined);
  kubectl?.stopAll();
  client?.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const pod = (name: string, node: string, app: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'demo', labels: { app } },
  spec: { nodeName: node, containers: [{ name: 'c', image: 'none', ports: [{ name: 'http', containerPort: 8080 }] }] },
});

let ifindex = 1000;
/** What cilium-cni does for a pod: allocate an IP, then hand the endpoint to the agent. */
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
  return { api, ipam, ep };
}

describe('cilium-agent control plane', () => {
  it('pods get IPs from their node podCIDR, ready CEPs, and one identity per label set across nodes', async () => {
    await client.create(PODS, pod('web-1', 'node-a', 'web'));
    await client.create(PODS, pod('web-2', 'node-b', 'web'));
    await client.create(PODS, pod('db', 'node-a', 'db'));
    const w1 = await cniAdd('node-a', 'web-1');
    const w2 = await cniAdd('node-b', 'web-2');
    const db = await cniAdd('node-a', 'db');
    const cidrA = agents.get('node-a')!.ipam.cidr;
    const cidrB = agents.get('node-b')!.ipam.cidr;
    expect(cidrA).toMatch(/^10\.250\.\d+\.0\/24$/);
    expect(cidrB).not.toBe(cidrA);
    expect(w1.ipam.ipv4!.gateway).toBe(cidrA.replace(/0\/24$/, '1'));
    expect(w1.ipam.address.ipv4!.startsWith(cidrA.slice(0, cidrA.lastIndexOf('.')))).toBe(true);
    expect(w2.ipam.address.ipv4!.startsWith(cidrB.slice(0, cidrB.lastIndexOf('.')))).toBe(true);
    expect(w1.ep.state).toBe('ready');
    expect(w1.ep.identity!.id).toBe(w2.ep.identity!.id);
    expect(db.ep.identity!.id).not.toBe(w1.ep.identity!.id);
    expect(w1.ep.identity!.labels).toEqual(
      expect.arrayContaining([
        'k8s:app=web',
        'k8s:io.kubernetes.pod.namespace=demo',
        'k8s:io.cilium.k8s.policy.cluster=default',
        'k8s:io.cilium.k8s.namespace.labels.team=a',
      ]),
    );

    const out = await testing.waitFor(
      async () => {
        const o = await kubectl.ok(['get', 'cep', '-A']);
        return o.includes('web-2') && o.includes('db') ? o : undefined;
      },
      { what: 'kubectl get cep -A' },
    );
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE\s+NAME\s+SECURITY IDENTITY\s+ENDPOINT STATE\s+IPV4\s+IPV6/);
    expect(lines.find((l) => l.includes('web-1'))).toMatch(
      new RegExp(`demo\\s+web-1\\s+${w1.ep.identity!.id}\\s+ready\\s+${w1.ipam.address.ipv4!.replace(/\./g, '\\.')}`),
    );
  }, 60_000);

  it('a CNP becomes endpoint map entries on the selected endpoints, with Valid=True; an invalid one gets Valid=False', async () => {
    const a = agents.get('node-a')!;
    const web = a.endpoints.list().find((e) => e.podName === 'web-1')!;
    const dbId = a.endpoints.list().find((e) => e.podName === 'db')!.identity!;
    await client.create(CNPS, {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'db-to-web', namespace: 'demo' },
      spec: {
        endpointSelector: { matchLabels: { app: 'web' } },
        ingress: [
          { fromEndpoints: [{ matchLabels: { app: 'db' } }], toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] },
        ],
      },
    });
    await testing.waitFor(
      () =>
        a.hub
          .entries(web.id)
          .some(
            (e) =>
              e.direction === 'ingress' &&
              e.identity === dbId &&
              e.protocol === 6 &&
              e.portPrefix.port === 80 &&
              e.verdict === 'allow',
          ),
      {
        what: 'the allow entry for db → web:80',
      },
    );
    expect(a.hub.enforcing(web.id, 'ingress')).toBe(true);
    expect(a.hub.enforcing(web.id, 'egress')).toBe(false);
    await testing.waitFor(
      async () => (await kubectl.ok(['get', 'cnp', '-n', 'demo', 'db-to-web'])).match(/db-to-web\s+\S+\s+True/),
      { what: 'Valid=True' },
    );
    await testing.waitFor(
      async () =>
        (
          await client.get<KubeObject & { status?: { policy?: { ingress?: { state?: string } } } }>(
            CEPS,
            'web-1',
            'demo',
          )
        ).status?.policy?.ingress?.state === 'enforcing',
      {
        what: 'the CEP to show ingress enforcing',
      },
    );

    await kubectl.ok(
      ['apply', '-f', '-'],
      `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bad-except, namespace: demo}
spec:
  endpointSelector: {matchLabels: {app: db}}
  egress:
    - toCIDRSet: [{cidr: 10.0.0.0/8, except: [11.0.0.0/16]}]
`,
    );
    const cond = await testing.waitFor(
      async () =>
        (
          await client.get<
            KubeObject & { status?: { conditions?: { type: string; status: string; message?: string }[] } }
          >(CNPS, 'bad-except', 'demo')
        ).status?.conditions?.find((c) => c.type === 'Valid'),
      { what: 'Valid on the invalid policy' },
    );
    expect(cond).toMatchObject({
      status: 'False',
      message: 'spec.egress[0].toCIDRSet[0].except[0]: except 11.0.0.0/16 is not contained in cidr 10.0.0.0/8',
    });
    // The operator's policy validator wrote it; the agents write no policy status
    // (disable-cnp-status-updates defaults to "true").
    const fields = (await client.get<KubeObject>(CNPS, 'bad-except', 'demo')).metadata?.managedFields as
      { manager: string; subresource?: string }[] | undefined;
    const writers = fields?.filter((f) => f.subresource === 'status').map((f) => f.manager);
    expect(writers).toEqual(['cilium-operator-policy-validator-ciliumnetworkpolicies']);
    const dbEp = a.endpoints.list().find((e) => e.podName === 'db')!;
    expect(a.hub.enforcing(dbEp.id, 'egress')).toBe(false); // the refused policy applies nothing

    await client.delete(CNPS, 'db-to-web', 'demo');
    await testing.waitFor(() => !a.hub.enforcing(web.id, 'ingress'), { what: 'enforcement lifted after delete' });
  }, 60_000);

  it("an egress named port resolves against a pod on another node (its CiliumEndpoint's named ports)", async () => {
    const a = agents.get('node-a')!;
    const db = a.endpoints.list().find((e) => e.podName === 'db')!;
    // "metrics" exists only on node-b: node-a learns it from the CEP, not from a local pod
    await client.create(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'mon', namespace: 'demo', labels: { app: 'mon' } },
      spec: {
        nodeName: 'node-b',
        containers: [{ name: 'c', image: 'none', ports: [{ name: 'metrics', containerPort: 9090, protocol: 'UDP' }] }],
      },
    });
    const mon = await cniAdd('node-b', 'mon');
    const monId = mon.ep.identity!.id;
    await client.create(CNPS, {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'db-to-metrics', namespace: 'demo' },
      spec: {
        endpointSelector: { matchLabels: { app: 'db' } },
        egress: [
          {
            toEndpoints: [{ matchLabels: { app: 'mon' } }],
            toPorts: [{ ports: [{ port: 'metrics', protocol: 'UDP' }] }],
          },
        ],
      },
    });
    await testing.waitFor(
      () =>
        a.hub
          .entries(db.id)
          .some(
            (e) =>
              e.direction === 'egress' &&
              e.identity === monId &&
              e.protocol === 17 &&
              e.portPrefix.port === 9090 &&
              e.portPrefix.prefixLen === 16 &&
              e.verdict === 'allow',
          ),
      {
        what: 'db → mon:9090/UDP from the remote named port',
      },
    );
    expect(a.hub.enforcing(db.id, 'egress')).toBe(true);
    await client.delete(CNPS, 'db-to-metrics', 'demo');
    await testing.waitFor(() => !a.hub.enforcing(db.id, 'egress'), { what: 'egress enforcement lifted after delete' });
  }, 60_000);

  it('toFQDNs: what the DNS proxy learns is in the ipcache and policy maps when learn resolves, and survives a restart', async () => {
    const a = agents.get('node-a')!;
    const web = a.endpoints.list().find((e) => e.podName === 'web-1')!;
    await client.create(CNPS, {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'web-to-api', namespace: 'demo' },
      spec: {
        endpointSelector: { matchLabels: { app: 'web' } },
        egress: [
          { toFQDNs: [{ matchName: 'api.example.test' }], toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }] },
        ],
      },
    });
    await testing.waitFor(() => a.hub.enforcing(web.id, 'egress'), { what: 'egress enforced on web-1' });
    /** The learned IP's identity in the ipcache map, when the endpoint's policy map allows it on 443. */
    const programmed = (agent: Agent): number | undefined => {
      const id = agent.datapath.dumpIpcache().find((e) => e.prefix === '203.0.113.7/32')?.identity;
      const allowed = agent.datapath
        .dumpPolicy(web.id)
        ?.some((e) => e.identity === id && e.direction === 'egress' && e.protocol === 6 && e.portPrefix.port === 443);
      return id !== undefined && allowed ? id : undefined;
    };
    expect(programmed(a)).toBeUndefined();
    await a.fqdnPolicy.learn({
      endpoint: { id: web.id },
      name: 'api.example.test.',
      ips: ['203.0.113.7'],
      ttl: 600,
      cnames: [],
    });
    expect(programmed(a)).toBeGreaterThanOrEqual((1 << 24) + 1);
    const api = new AgentClient({ socketPath: join(dir, 'node-a', 'cilium.sock') });
    expect(await api.request('GET', '/fqdn/cache')).toEqual([
      expect.objectContaining({ 'endpoint-id': web.id, fqdn: 'api.example.test.', ips: ['203.0.113.7'], ttl: 600 }),
    ]);

    await a.stop();
    const a2 = await startAgent('node-a');
    expect(programmed(a2)).toBeGreaterThanOrEqual((1 << 24) + 1);
    expect(await api.request('GET', '/fqdn/cache')).toEqual([expect.objectContaining({ source: 'restored' })]);
    await client.delete(CNPS, 'web-to-api', 'demo');
    await testing.waitFor(() => !a2.hub.enforcing(web.id, 'egress'), {
      what: 'egress enforcement lifted after delete',
    });
    expect(programmed(a2)).toBeUndefined();
  }, 90_000);

  it('after a restart the agent restores its endpoints from state files; a deleted endpoint leaves no CEP, IP or entries', async () => {
    const a = agents.get('node-a')!;
    const before = a.endpoints.list().map((e) => [e.id, e.podName, e.ipv4, e.identity]);
    await a.stop();
    const a2 = await startAgent('node-a');
    expect(
      a2.endpoints
        .list()
        .map((e) => [e.id, e.podName, e.ipv4, e.identity])
        .sort(),
    ).toEqual(before.sort());
    expect(a2.endpoints.list().every((e) => e.state === 'ready')).toBe(true);

    const web1 = a2.endpoints.list().find((e) => e.podName === 'web-1')!;
    const api = new AgentClient({ socketPath: join(dir, 'node-a', 'cilium.sock') });
    await api.endpointDelete(cniAttachmentId('ctr-web-1', 'eth0'));
    await expect(api.endpointDelete(cniAttachmentId('ctr-web-1', 'eth0'))).rejects.toMatchObject({ status: 404 });
    expect(a2.ipam.owner(web1.ipv4)).toBeUndefined();
    expect(a2.hub.entries(web1.id)).toEqual([]);
    await testing.waitFor(
      () =>
        client.get(CEPS, 'web-1', 'demo').then(
          () => false,
          () => true,
        ),
      { what: 'the CEP to be deleted' },
    );
  }, 60_000);
});
