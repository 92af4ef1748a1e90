// The operator's garbage collectors against the devcluster, with short intervals: identities
// are marked, then deleted only if still unused; CEPs of pods that are gone are deleted;
// CiliumNodes of Kubernetes nodes that are gone are deleted an interval after they were marked.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { pino } from 'pino';
import { parse } from 'yaml';
import {
  KubeClient,
  testing,
  type KubeObject,
  type Manager,
  type ResourceRef,
} from '../../../controllers/framework/index.js';
import { HEARTBEAT_ANNOTATION } from '../../../controllers/operator/identity-gc.js';
import { operatorOptions } from '../../../controllers/operator/config.js';
import { createOperator } from '../../../controllers/operator/operator.js';
import type { Devcluster } from '../../../devcluster/cluster.js';
import { startDevcluster } from '../../e2e/harness.js';

const r = (group: string, plural: string, kind: string, namespaced: boolean, version = 'v2'): ResourceRef => ({
  group,
  version,
  plural,
  kind,
  namespaced,
});
const CRD = r('apiextensions.k8s.io', 'customresourcedefinitions', 'CustomResourceDefinition', false, 'v1');
const NSR = r('', 'namespaces', 'Namespace', false, 'v1');
const PODS = r('', 'pods', 'Pod', true, 'v1');
const CID = r('cilium.io', 'ciliumidentities', 'CiliumIdentity', false);
const CEP = r('cilium.io', 'ciliumendpoints', 'CiliumEndpoint', true);
const CN = r('cilium.io', 'ciliumnodes', 'CiliumNode', false);
const NODES = r('', 'nodes', 'Node', false, 'v1');

let cluster: Devcluster;
let client: KubeClient;
let operator: Manager;

beforeAll(async () => {
  cluster = await startDevcluster('operator-gc');
  client = KubeClient.fromFile(cluster.kubeconfig);
  const crdDir = new URL('../../../crds/v2/', import.meta.url);
  for (const f of readdirSync(crdDir))
    await client.create(CRD, parse(readFileSync(new URL(f, crdDir), 'utf8')) as KubeObject);
  await client
    .create(NSR, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } })
    .catch(() => undefined);
  await client.create(NSR, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app' } });
  await testing.waitFor(() => Promise.all([client.list(CID), client.list(CEP), client.list(CN)]).then(() => true), {
    what: 'CRDs served',
  });
  const o = operatorOptions({
    kubeconfig: cluster.kubeconfig,
    'operator-api-serve-addr': '127.0.0.1:0',
    'identity-gc-interval': '300ms',
    'identity-heartbeat-timeout': '1s',
    'cilium-endpoint-gc-interval': '300ms',
    'nodes-gc-interval': '500ms',
    // low, so that pacing shows within a test (upstream's default is 100/200)
    'operator-k8s-client-qps': '20',
    'operator-k8s-client-burst': '5',
  });
  operator = createOperator(
    { ...o, leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 200 },
    { log: pino({ level: 'silent' }) },
  );
  await operator.start();
}, 60_000);

afterAll(async () => {
  await operator?.stop().catch(() => undefined);
  client?.close();
  await cluster?.stop();
});

const identity = (id: number): KubeObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumIdentity',
  metadata: { name: String(id) },
  'security-labels': { 'k8s:app': `a${id}` },
});
const cep = (name: string, id: number, owner?: KubeObject): KubeObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumEndpoint',
  metadata: {
    name,
    namespace: 'app',
    ...(owner
      ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: owner.metadata!.name!, uid: owner.metadata!.uid! }] }
      : {}),
  },
});
const setCepIdentity = (name: string, id: number) =>
  client.patch(CEP, name, 'app', { status: { identity: { id } } }, 'merge', { subresource: 'status' });
const gone = (res: ResourceRef, name: string, ns?: string) =>
  client.get(res, name, ns).then(
    () => false,
    () => true,
  );

describe('operator garbage collection', () => {
  it('deletes a CiliumNode whose Node is gone (nodes-gc-interval after marking it), keeps one whose Node exists', async () => {
    await client.create(NODES, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n-alive' }, spec: {} });
    await client.create(CN, {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNode',
      metadata: { name: 'n-alive' },
      spec: {},
    });
    const t0 = Date.now();
    await client.create(CN, { apiVersion: 'cilium.io/v2', kind: 'CiliumNode', metadata: { name: 'n-gone' }, spec: {} });
    await testing.waitFor(() => gone(CN, 'n-gone'), {
      what: 'the CiliumNode without a Node to be collected',
      timeoutMs: 10_000,
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    await new Promise((res) => setTimeout(res, 1200));
    expect(await gone(CN, 'n-alive')).toBe(false);
  }, 30_000);

  it('marks an unused identity, deletes it after the heartbeat timeout, and keeps a used one', async () => {
    await client.create(CID, identity(1001));
    await client.create(CID, identity(1002));
    const pod = await client.create(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p1', namespace: 'app' },
      spec: { containers: [{ name: 'c', image: 'x' }] },
    });
    await client.create(CEP, cep('p1', 1002, pod));
    await setCepIdentity('p1', 1002);
    const marked = await testing.waitFor(
      async () => (await client.get(CID, '1001')).metadata?.annotations?.[HEARTBEAT_ANNOTATION],
      { what: 'the heartbeat mark' },
    );
    expect(Number.isNaN(Date.parse(marked))).toBe(false);
    await testing.waitFor(() => gone(CID, '1001'), { what: 'the unused identity to be deleted', timeoutMs: 10_000 });
    expect((await client.get(CID, '1002')).metadata?.annotations?.[HEARTBEAT_ANNOTATION]).toBeUndefined();
  }, 30_000);

  it('an identity reclaimed after its mark loses the mark and survives', async () => {
    await client.create(CID, identity(1003));
    await testing.waitFor(async () => (await client.get(CID, '1003')).metadata?.annotations?.[HEARTBEAT_ANNOTATION], {
      what: 'the mark',
    });
    const pod = await client.create(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p3', namespace: 'app' },
      spec: { containers: [{ name: 'c', image: 'x' }] },
    });
    await client.create(CEP, cep('p3', 1003, pod));
    await setCepIdentity('p3', 1003);
    await testing.waitFor(async () => !(await client.get(CID, '1003')).metadata?.annotations?.[HEARTBEAT_ANNOTATION], {
      what: 'the mark to be removed',
    });
    await new Promise((res) => setTimeout(res, 1500));
    expect(await gone(CID, '1003')).toBe(false);
  }, 30_000);

  it('deletes the CiliumEndpoint of a pod that is gone, keeps one whose pod runs', async () => {
    const keep = await client.create(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'alive', namespace: 'app' },
      spec: { containers: [{ name: 'c', image: 'x' }] },
    });
    await client.create(CEP, cep('alive', 1002, keep));
    await client.create(CEP, {
      ...cep('orphan', 1002),
      metadata: {
        name: 'orphan',
        namespace: 'app',
        ownerReferences: [
          { apiVersion: 'v1', kind: 'Pod', name: 'orphan', uid: '00000000-0000-0000-0000-000000000000' },
        ],
      },
    });
    await testing.waitFor(() => gone(CEP, 'orphan', 'app'), { what: 'the orphan CEP to be collected' });
    await new Promise((res) => setTimeout(res, 700));
    expect(await gone(CEP, 'alive', 'app')).toBe(false);
  }, 30_000);

  it('collects the CiliumEndpoints of a gone CiliumNode within an interval, paced by the client rate limit', async () => {
    // a Node too, or the CiliumNode GC would take the CiliumNode away early
    await client.create(NODES, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n-many' }, spec: {} });
    const node = await client.create(CN, {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNode',
      metadata: { name: 'n-many' },
      spec: {},
    });
    // the collector must know the node before it judges its endpoints
    await testing.waitFor(
      () => operator.controllers.some((c) => c.o.name === 'cilium-operator-ipam' && c.store.get('n-many')),
      { what: "the operator's CiliumNode cache to hold n-many" },
    );
    const names = Array.from({ length: 80 }, (_, i) => `many-${i}`);
    // owned by name (another uid: the API server's ownerReference collector leaves them to the operator)
    for (const name of names)
      await client.create(CEP, {
        ...cep(name, 1002),
        metadata: {
          name,
          namespace: 'app',
          labels: { set: 'many' },
          ownerReferences: [
            {
              apiVersion: 'cilium.io/v2',
              kind: 'CiliumNode',
              name: 'n-many',
              uid: '11111111-1111-1111-1111-111111111111',
            },
          ],
        },
      });
    await new Promise((res) => setTimeout(res, 700)); // a resync: all kept while their node exists
    const left = async () => (await client.list(CEP, { namespace: 'app', labelSelector: 'set=many' })).items.length;
    expect(await left()).toBe(80);
    const deletes0 = operator.client.sent.get('DELETE') ?? 0;
    const t0 = Date.now();
    await client.delete(CN, node.metadata!.name!);
    await testing.waitFor(async () => (await left()) === 0, {
      what: 'the 80 CiliumEndpoints to be collected',
      timeoutMs: 90_000,
      intervalMs: 50,
    });
    const took = Date.now() - t0;
    // 80 deletes at 20 a second after a burst of 5 need ≥ 3.75 s; unpaced they take well under one
    expect(took).toBeGreaterThanOrEqual(3_500);
    expect((operator.client.sent.get('DELETE') ?? 0) - deletes0).toBeGreaterThanOrEqual(80);
  }, 150_000);
});
