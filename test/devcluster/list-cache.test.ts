// Lists from the watch cache's current state (devcluster/apiserver/cache-state.ts), as
// kube-apiserver's cacher serves them: resourceVersion=0 as the cache is, N once the cache has seen
// N (504 past the wait), none (a consistent read) once it has seen etcd's revision. A list from the
// cache must equal etcd's list at the same revision — same objects, same bytes, same order, the
// same selectors — after creates, updates, deletes, writes behind the server's back and a restart
// of the API server (the state is loaded from etcd, then moved by the watch).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApiError, KubeClient } from '../../controllers/framework/index.js';
import type { Devcluster } from '../../devcluster/cluster.js';
import { Store } from '../../devcluster/apiserver/store.js';
import { startDevcluster } from '../e2e/harness.js';

let cluster: Devcluster;
let client: KubeClient;
let other: Store;
const TOKEN = 'sekret';
const NS = [`lc-a-${process.pid}`, `lc-b-${process.pid}`];

interface Res {
  status: number;
  json: Record<string, unknown>;
}

/** A request through the framework's client: its answer, or the Status of an error answer. */
async function call(method: string, path: string, body?: unknown): Promise<Res> {
  const type = method === 'PATCH' ? 'application/merge-patch+json' : undefined;
  try {
    const json = await client.request<Record<string, unknown>>(method, path, body, type);
    return { status: method === 'POST' ? 201 : 200, json };
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    return { status: e.status, json: e.body as Record<string, unknown> };
  }
}

type List = { metadata: { resourceVersion: string }; items: { metadata: { name: string; resourceVersion: string } }[] };
const list = async (path: string): Promise<List> => {
  const r = await call('GET', path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
  return r.json as unknown as List;
};

/** The same list from the cache (resourceVersion=0) and from etcd at the cache's revision (Exact). */
async function bothWays(base: string, query = ''): Promise<[List, List]> {
  const sep = query ? `&${query}` : '';
  const cached = await list(`${base}?resourceVersion=0${sep}`);
  const rv = cached.metadata.resourceVersion;
  const etcd = await list(`${base}?resourceVersion=${rv}&resourceVersionMatch=Exact${sep}`);
  return [cached, etcd];
}

const QUERIES = [
  '',
  'labelSelector=tier%3Dweb',
  'labelSelector=tier%20notin%20(web)',
  'labelSelector=odd',
  'fieldSelector=metadata.name%3Dcm-3',
  'fieldSelector=metadata.namespace!%3D' + NS[0],
];

async function expectCacheEqualsEtcd(): Promise<void> {
  for (const base of ['/api/v1/configmaps', `/api/v1/namespaces/${NS[0]}/configmaps`, '/api/v1/secrets']) {
    for (const q of QUERIES) {
      const [cached, etcd] = await bothWays(base, q);
      expect(cached).toEqual(etcd);
    }
  }
  const [cached, etcd] = await bothWays('/api/v1/secrets', 'fieldSelector=type%3Dkts.io%2Fodd');
  expect(cached.items.length).toBeGreaterThan(0);
  expect(cached).toEqual(etcd);
}

beforeAll(async () => {
  cluster = await startDevcluster('list-cache', { token: TOKEN, server: { futureRvWaitMs: 500, watchHistory: 50 } });
  client = KubeClient.fromFile(cluster.kubeconfig);
  const t = cluster.etcdTls;
  other = new Store(cluster.etcd.endpoint, { ca: t.caCert, cert: t.clientCert, key: t.clientKey });
  for (const ns of NS) expect((await call('POST', '/api/v1/namespaces', { metadata: { name: ns } })).status).toBe(201);
  for (let i = 0; i < 30; i++) {
    const ns = NS[i % 2] as string;
    const labels: Record<string, string> = { tier: i % 3 ? 'db' : 'web' };
    if (i % 2) labels.odd = 'yes';
    const cm = await call('POST', `/api/v1/namespaces/${ns}/configmaps`, {
      metadata: { name: `cm-${i}`, labels },
      data: { i: String(i) },
    });
    expect(cm.status).toBe(201);
    const secret = await call('POST', `/api/v1/namespaces/${ns}/secrets`, {
      metadata: { name: `s-${i}` },
      type: i % 2 ? 'kts.io/odd' : 'Opaque',
      stringData: { i: String(i) },
    });
    expect(secret.status).toBe(201);
  }
}, 120_000);

afterAll(async () => {
  other?.close();
  client?.close();
  await cluster?.stop();
});

describe('lists from the watch cache', () => {
  it('equal etcd’s list at the same revision: objects, bytes, order, label and field selectors', async () => {
    await expectCacheEqualsEtcd();
    const [cached] = await bothWays('/api/v1/configmaps', 'labelSelector=tier%3Dweb');
    expect(cached.items.map((i) => i.metadata.name).sort()).toEqual(
      ['cm-0', 'cm-3', 'cm-6', 'cm-9', 'cm-12', 'cm-15', 'cm-18', 'cm-21', 'cm-24', 'cm-27'].sort(),
    );
  });

  it('follow updates, deletes and writes behind the server’s back', async () => {
    const ns = NS[0] as string;
    expect(
      (await call('PATCH', `/api/v1/namespaces/${ns}/configmaps/cm-2`, { metadata: { labels: { tier: 'web' } } }))
        .status,
    ).toBe(200);
    expect((await call('DELETE', `/api/v1/namespaces/${ns}/configmaps/cm-4`)).status).toBe(200);
    const key = `/registry/configmaps/${ns}/cm-6`;
    const kv = await other.get(key);
    expect(await other.update(key, { ...kv!.obj, data: { i: 'behind' } }, kv!.modRev)).toBeDefined();
    expect(
      await other.create(`/registry/configmaps/${ns}/cm-behind`, {
        metadata: { name: 'cm-behind', namespace: ns, labels: { tier: 'web' } },
      }),
    ).toBeDefined();
    // a consistent list (no resourceVersion) sees every write that came before it, its own included
    const after = await list(`/api/v1/namespaces/${ns}/configmaps`);
    const byName = new Map(after.items.map((i) => [i.metadata.name, i as unknown as { data?: { i: string } }]));
    expect(byName.has('cm-4')).toBe(false);
    expect(byName.get('cm-6')?.data?.i).toBe('behind');
    expect(byName.has('cm-behind')).toBe(true);
    await expectCacheEqualsEtcd();
  });

  it('answer a resourceVersion the cache has not seen with 504 after the wait, one it has at its own revision', async () => {
    const now = await list('/api/v1/configmaps?resourceVersion=0');
    const rv = Number(now.metadata.resourceVersion);
    const older = await list(`/api/v1/configmaps?resourceVersion=${rv - 5}`);
    expect(Number(older.metadata.resourceVersion)).toBeGreaterThanOrEqual(rv);
    const future = await call('GET', `/api/v1/configmaps?resourceVersion=${rv + 1000}`);
    expect(future.status).toBe(504);
    expect(future.json).toMatchObject({ reason: 'Timeout', details: { retryAfterSeconds: 1 } });
    expect((await call('GET', '/api/v1/configmaps?resourceVersion=abc')).status).toBe(400);
    // a one-object read with resourceVersion=0 comes from the cache too, and 404s as etcd would
    const one = await call('GET', `/api/v1/namespaces/${NS[1]}/configmaps/cm-1?resourceVersion=0`);
    expect(one.json).toEqual((await call('GET', `/api/v1/namespaces/${NS[1]}/configmaps/cm-1`)).json);
    expect((await call('GET', `/api/v1/namespaces/${NS[0]}/configmaps/cm-4?resourceVersion=0`)).status).toBe(404);
  });

  it('are rebuilt from etcd when the API server restarts', async () => {
    await cluster.restartApiServer();
    await call('DELETE', `/api/v1/namespaces/${NS[1]}/secrets/s-1`);
    await expectCacheEqualsEtcd();
  }, 60_000);
});
