// Identities in etcd with upstream's layout: two agents allocating the same new label set at the
// same moment get one id (100 rounds), different label sets never share an id, references live
// under the session lease and come back after a new lease, release drops only our reference.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KvIdentityAllocator } from '../../controllers/kvstore/allocator.js';
import { Kvstore } from '../../controllers/kvstore/client.js';
import { decodeLabels, encodeLabels, identityIdKey, identityValueKey } from '../../controllers/kvstore/keys.js';
import { startEtcdFixture, testOptions, until, type EtcdFixture } from './etcd-fixture.js';

let fx: EtcdFixture;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  fx = await startEtcdFixture();
});
afterAll(async () => {
  for (const s of stops.reverse()) await s();
  await fx?.stop();
});

async function agent(nodeIp: string, over = {}): Promise<{ kv: Kvstore; alloc: KvIdentityAllocator }> {
  const kv = new Kvstore(testOptions(fx.etcd.endpoint, over));
  const alloc = new KvIdentityAllocator(kv, { nodeIp });
  await alloc.start();
  stops.push(async () => {
    await alloc.stop();
    await kv.close();
  });
  return { kv, alloc };
}

describe('label strings', () => {
  it('are upstream`s sorted source:key=value; list and decode back', () => {
    const labels = { 'k8s:io.kubernetes.pod.namespace': 'default', 'k8s:app': 'foo' };
    expect(encodeLabels(labels)).toBe('k8s:app=foo;k8s:io.kubernetes.pod.namespace=default;');
    expect(decodeLabels(encodeLabels(labels))).toEqual(labels);
  });
});

describe('KvIdentityAllocator', () => {
  it('two agents racing on the same new label set get one id, 100 rounds in a row', async () => {
    const a = await agent('10.0.0.1');
    const b = await agent('10.0.0.2');
    const ids = new Map<number, string>();
    for (let round = 0; round < 100; round++) {
      const labels = { 'k8s:app': `race-${round}`, 'k8s:io.kubernetes.pod.namespace': 'default' };
      const [x, y] = await Promise.all([a.alloc.allocate(labels), b.alloc.allocate(labels)]);
      expect([round, x]).toEqual([round, y]);
      // one id never carries two label sets
      expect(ids.has(x)).toBe(false);
      ids.set(x, encodeLabels(labels));
    }
    // etcd agrees: one master key per label set, each with both references
    const masters = (await a.kv.list('cilium/state/identities/v1/id/')).entries;
    expect(masters).toHaveLength(100);
    for (const m of masters) expect(ids.get(Number(m.key.split('/').pop()))).toBe(m.value);
    const refs = (await a.kv.list('cilium/state/identities/v1/value/')).entries;
    expect(refs).toHaveLength(200);
    // no lock left behind
    expect((await a.kv.list('cilium/state/identities/v1/locks/')).entries).toEqual([]);
  });

  it('writes the master key without a lease and our reference under the session lease', async () => {
    const { kv, alloc } = await agent('10.0.0.3');
    const labels = { 'k8s:app': 'layout' };
    const id = await alloc.allocate(labels);
    expect(id).toBeGreaterThanOrEqual(256);
    const master = await kv.get(identityIdKey(id));
    expect(master).toMatchObject({ value: 'k8s:app=layout;', lease: '0' });
    const ref = await kv.get(identityValueKey('k8s:app=layout;', '10.0.0.3'));
    expect(ref).toMatchObject({ value: String(id), lease: await kv.sessionId() });
    // the other agents learn the id's labels from the master keys
    const other = await agent('10.0.0.4');
    await until(() => other.alloc.labelsOf(id) !== undefined, 5000, 'master key seen');
    expect(other.alloc.labelsOf(id)).toEqual(labels);
  });

  it('a label set that is a prefix of another gets its own id', async () => {
    const { alloc } = await agent('10.0.0.5');
    const short = await alloc.allocate({ 'k8s:a': '1' });
    const long = await alloc.allocate({ 'k8s:a': '1', 'k8s:b': '2' });
    expect(short).not.toBe(long);
  });

  it('release drops our reference only; the id stays for the others', async () => {
    const a = await agent('10.0.1.1');
    const b = await agent('10.0.1.2');
    const labels = { 'k8s:app': 'shared' };
    const id = await a.alloc.allocate(labels);
    expect(await b.alloc.allocate(labels)).toBe(id);
    await a.alloc.release(labels);
    expect(await a.kv.get(identityValueKey('k8s:app=shared;', '10.0.1.1'))).toBeUndefined();
    expect(await a.kv.get(identityValueKey('k8s:app=shared;', '10.0.1.2'))).toBeDefined();
    expect((await a.kv.get(identityIdKey(id)))?.value).toBe('k8s:app=shared;');
    expect(await a.alloc.allocate(labels)).toBe(id);
  });

  it('an id whose users all died is reused for its labels, not doubled', async () => {
    const a = await agent('10.0.2.1');
    const labels = { 'k8s:app': 'orphan' };
    const id = await a.alloc.allocate(labels);
    await a.kv.close(); // the agent dies: its reference goes with the lease, the master key stays
    const b = await agent('10.0.2.2');
    expect(await b.kv.get(identityValueKey('k8s:app=orphan;', '10.0.2.1'))).toBeUndefined();
    expect(await b.alloc.allocate(labels)).toBe(id);
  });

  it('after a new session lease our references are put back under it', async () => {
    const { kv, alloc } = await agent('10.0.3.1', { leaseTtlSeconds: 2 });
    const id = await alloc.allocate({ 'k8s:app': 'renew' });
    const first = await kv.sessionId();
    await fx.direct.leaseClient.leaseRevoke({ ID: BigInt(`0x${first}`).toString() });
    const key = identityValueKey('k8s:app=renew;', '10.0.3.1');
    await until(
      async () => {
        const e = await kv.get(key);
        return e !== undefined && e.lease !== first;
      },
      10_000,
      'reference under the new lease',
    );
    expect((await kv.get(key))?.value).toBe(String(id));
  });
});
