// Two cilium-operator processes against the devcluster: the leader allocates pod CIDRs to
// CiliumNodes; killed with SIGKILL, the standby takes over, and no CIDR is ever handed out twice.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { binaryEntry } from '../../../cdk8s/process-launch.js';
import { KubeClient, testing, type KubeObject, type ResourceRef } from '../../../controllers/framework/index.js';
import type { Devcluster } from '../../../devcluster/cluster.js';
import { startDevcluster } from '../../e2e/harness.js';

const CN: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnodes',
  kind: 'CiliumNode',
  namespaced: false,
};
const CRD: ResourceRef = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  plural: 'customresourcedefinitions',
  kind: 'CustomResourceDefinition',
  namespaced: false,
};
const NSR: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false };
const OPERATOR = binaryEntry('cilium-operator'); // compiled, as the devcluster and the image run it

let cluster: Devcluster;
let client: KubeClient;
const children: ChildProcess[] = [];

beforeAll(async () => {
  cluster = await startDevcluster('operator');
  client = KubeClient.fromFile(cluster.kubeconfig);
  await client.create(
    CRD,
    parse(readFileSync(new URL('../../../crds/v2/ciliumnodes.yaml', import.meta.url), 'utf8')) as KubeObject,
  );
  await client
    .create(NSR, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } })
    .catch(() => undefined);
  await testing.waitFor(() => client.list(CN).then(() => true), { what: 'the CiliumNode CRD' });
}, 60_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  client?.close();
  await cluster?.stop();
});

function operator(identity: string) {
  const args = [
    OPERATOR,
    `--kubeconfig=${cluster.kubeconfig}`,
    '--cluster-pool-ipv4-cidr=10.244.0.0/20',
    '--cluster-pool-ipv4-mask-size=24',
    '--operator-api-serve-addr=127.0.0.1:0',
    `--identity=${identity}`,
    '--leader-election-lease-duration-ms=3000',
    '--leader-election-renew-deadline-ms=2000',
    '--leader-election-retry-period-ms=500',
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'info' },
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, out: () => out };
}

const node = (name: string): KubeObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNode',
  metadata: { name },
  spec: { addresses: [{ type: 'InternalIP', ip: '192.0.2.1' }] },
});
const cidrs = async () =>
  (await client.list<KubeObject & { spec?: { ipam?: { podCIDRs?: string[] } } }>(CN)).items.map(
    (n) => [n.metadata!.name!, n.spec?.ipam?.podCIDRs?.[0]] as const,
  );

describe('cilium-operator cluster-pool IPAM', () => {
  it('allocates unique pod CIDRs; after the leader is killed the standby continues without reuse', async () => {
    const a = operator('op-a');
    await testing.waitFor(() => a.out().includes('became leader'), { what: 'op-a to lead', timeoutMs: 20_000 });
    const b = operator('op-b');
    for (let i = 0; i < 4; i++) await client.create(CN, node(`n${i}`));
    await testing.waitFor(async () => (await cidrs()).every(([, c]) => c), { what: 'CIDRs for n0..n3' });
    expect(b.out()).not.toContain('allocated pod CIDR');

    a.child.kill('SIGKILL');
    for (let i = 4; i < 8; i++) await client.create(CN, node(`n${i}`));
    await testing.waitFor(() => b.out().includes('became leader'), { what: 'op-b to take over', timeoutMs: 15_000 });
    await testing.waitFor(async () => (await cidrs()).length === 8 && (await cidrs()).every(([, c]) => c), {
      what: 'CIDRs for n4..n7',
      timeoutMs: 15_000,
    });
    const all = (await cidrs()).map(([, c]) => c);
    expect(new Set(all).size).toBe(8);
    for (const c of all) expect(c).toMatch(/^10\.244\.([0-9]|1[0-5])\.0\/24$/);

    // A deleted node's CIDR returns to the pool.
    const freed = (await cidrs()).find(([n]) => n === 'n2')![1];
    await client.delete(CN, 'n2');
    await client.create(CN, node('n8'));
    await testing.waitFor(async () => (await cidrs()).find(([n]) => n === 'n8')?.[1], { what: 'a CIDR for n8' });
    const now = await cidrs();
    expect(new Set(now.map(([, c]) => c)).size).toBe(now.length);
    expect(now.find(([n]) => n === 'n8')![1]).toBe(freed);
  }, 90_000);
});
