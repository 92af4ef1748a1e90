// A patch starts from the object as the API server last wrote it (no etcd read; devcluster/apiserver
// store.ts RecentWrites). That copy can be stale when something else wrote the key: here a second
// etcd client writes under the server's feet, and every patch must still act on etcd's object —
// a merge keeps the other writer's fields, a patch that is a no-op only against the stale copy still
// writes, and a resourceVersion precondition that matches etcd is not refused.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Devcluster } from '../../devcluster/cluster.js';
import { Store, type KubeObject } from '../../devcluster/apiserver/store.js';
import { KubeClient, type ResourceRef } from '../../controllers/framework/index.js';
import { startDevcluster } from '../e2e/harness.js';

const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

let cluster: Devcluster;
let client: KubeClient;
let other: Store;

beforeAll(async () => {
  cluster = await startDevcluster('patch-last-written');
  client = KubeClient.fromFile(cluster.kubeconfig);
  const t = cluster.etcdTls;
  other = new Store(cluster.etcd.endpoint, { ca: t.caCert, cert: t.clientCert, key: t.clientKey });
}, 60_000);

afterAll(async () => {
  other?.close();
  client?.close();
  await cluster?.stop();
});

/** Writes `data` into the ConfigMap straight to etcd, as another writer would. */
async function writeBehind(name: string, data: Record<string, string>): Promise<number> {
  const key = `/registry/configmaps/default/${name}`;
  const kv = await other.get(key);
  if (!kv) throw new Error(`${key} is not in etcd`);
  const next = { ...kv.obj, data: { ...(kv.obj.data as Record<string, string>), ...data } };
  const rev = await other.update(key, next, kv.modRev);
  if (rev === undefined) throw new Error(`${key} changed meanwhile`);
  return rev;
}

const create = (name: string, data: Record<string, string>) =>
  client.create<ConfigMap>(CONFIGMAPS, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'default' },
    data,
  });

describe('a patch from the last written copy', () => {
  it('merges into etcd’s object, not into the stale copy', async () => {
    await create('lw-merge', { a: 'server' });
    await writeBehind('lw-merge', { a: 'behind' });
    const out = await client.patch<ConfigMap>(CONFIGMAPS, 'lw-merge', 'default', { data: { b: 'patched' } }, 'merge');
    expect(out.data).toEqual({ a: 'behind', b: 'patched' });
    expect((await client.get<ConfigMap>(CONFIGMAPS, 'lw-merge', 'default')).data).toEqual({
      a: 'behind',
      b: 'patched',
    });
  });

  it('writes a patch that is a no-op only against the stale copy', async () => {
    await create('lw-noop', { c: '1' });
    const behind = await writeBehind('lw-noop', { c: '2' });
    const out = await client.patch<ConfigMap>(CONFIGMAPS, 'lw-noop', 'default', { data: { c: '1' } }, 'merge');
    expect(out.data).toEqual({ c: '1' });
    expect(Number(out.metadata?.resourceVersion)).toBeGreaterThan(behind);
    expect((await client.get<ConfigMap>(CONFIGMAPS, 'lw-noop', 'default')).data).toEqual({ c: '1' });
  });

  it('accepts a resourceVersion precondition that matches etcd, refuses the stale one', async () => {
    const created = await create('lw-rv', { d: '1' });
    const behind = await writeBehind('lw-rv', { d: '2' });
    await expect(
      client.patch(
        CONFIGMAPS,
        'lw-rv',
        'default',
        { metadata: { resourceVersion: created.metadata?.resourceVersion }, data: { d: '3' } } as KubeObject,
        'merge',
      ),
    ).rejects.toMatchObject({ status: 409 });
    const out = await client.patch<ConfigMap>(
      CONFIGMAPS,
      'lw-rv',
      'default',
      { metadata: { resourceVersion: String(behind) }, data: { d: '3' } } as KubeObject,
      'merge',
    );
    expect(out.data).toEqual({ d: '3' });
  });

  it('patches in a row after the server’s own writes land in etcd', async () => {
    await create('lw-own', { e: '1' });
    for (let i = 2; i <= 5; i++) {
      const out = await client.patch<ConfigMap>(CONFIGMAPS, 'lw-own', 'default', { data: { e: String(i) } }, 'merge');
      expect(out.data).toEqual({ e: String(i) });
    }
    const kv = await other.get('/registry/configmaps/default/lw-own');
    expect(kv?.obj.data).toEqual({ e: '5' });
  });
});
