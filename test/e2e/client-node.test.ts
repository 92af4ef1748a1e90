// @kubernetes/client-node 2.x against the devcluster: list, watch (resume, bookmarks, 410 after
// compaction), informers, create, replace (409), merge-patch, server-side apply, status patch,
// finalizers, ownerReference cascade, limit/continue and fieldValidation.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import type { Devcluster } from '../../devcluster/cluster.js';
import { CRD_DIR, eventually, startDevcluster } from './harness.js';

let cluster: Devcluster;
let kc: KubeConfig;
let custom: CustomObjectsApi;
let core: CoreV1Api;
let objects: KubernetesObjectApi;

const G = { group: 'cilium.io', version: 'v2', plural: 'ciliumnetworkpolicies' };
const CNP_PATH = '/apis/cilium.io/v2/namespaces/default/ciliumnetworkpolicies';
const cnp = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name, ...extra },
  spec: {
    endpointSelector: { matchLabels: { app: name } },
    ingress: [{ fromEndpoints: [{ matchLabels: { role: 'client' } }] }],
  },
});
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

interface Ev {
  type: string;
  name: string;
  rv: string;
  obj: Record<string, unknown>;
}

/** Watches path from rv and collects events until stop() (client-node's Watch, as informers use it). */
async function collect(
  path: string,
  params: Record<string, string | boolean>,
): Promise<{ events: Ev[]; done: Promise<unknown>; stop: () => void }> {
  const events: Ev[] = [];
  let finish: (e: unknown) => void = () => {};
  const done = new Promise((r) => (finish = r));
  const ctl = await new Watch(kc).watch(
    path,
    params,
    (type, obj: { metadata?: { name?: string; resourceVersion?: string } }) =>
      events.push({
        type,
        name: obj.metadata?.name ?? '',
        rv: obj.metadata?.resourceVersion ?? '',
        obj: obj as Record<string, unknown>,
      }),
    (err) => finish(err),
  );
  return { events, done, stop: () => ctl.abort() };
}

/** A raw HTTPS request with the cluster's CA (to see headers client-node hides). */
/** The admin's bearer token, from the kubeconfig the devcluster wrote (the API server enforces authentication). */
const adminToken = (): string => (readFileSync(cluster.kubeconfig, 'utf8').match(/token: (\S+)/) ?? [])[1] ?? '';

function raw(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; headers: Record<string, unknown>; body: Record<string, unknown> }> {
  const ca = readFileSync(join(cluster.dir, 'pki', 'ca.crt'), 'utf8');
  return new Promise((resolve, reject) => {
    const req = request(
      `${cluster.url}${path}`,
      {
        method,
        agent: new Agent({ ca }),
        headers: { 'Content-Type': contentType, Accept: 'application/json', Authorization: `Bearer ${adminToken()}` },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

beforeAll(async () => {
  cluster = await startDevcluster('client-node', { server: { bookmarkIntervalMs: 300 } });
  kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  custom = kc.makeApiClient(CustomObjectsApi);
  core = kc.makeApiClient(CoreV1Api);
  objects = KubernetesObjectApi.makeApiClient(kc);
  const crd = loadAllYaml(readFileSync(join(CRD_DIR, 'ciliumnetworkpolicies.yaml'), 'utf8'))[0] as KubernetesObject;
  await objects.create(crd);
  await eventually(
    async () => {
      const got = (await objects.read({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: 'ciliumnetworkpolicies.cilium.io' },
      })) as { status?: { conditions?: { type: string; status: string }[] } };
      return (got.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True');
    },
    20_000,
    'CRD Established',
  );
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('@kubernetes/client-node 2.x against the devcluster', () => {
  it('creates and lists; resourceVersion is the etcd revision and grows', async () => {
    const a = (await custom.createNamespacedCustomObject({
      ...G,
      namespace: 'default',
      body: cnp('list-a', { labels: { suite: 'list' } }),
    })) as KubernetesObject;
    const b = (await custom.createNamespacedCustomObject({
      ...G,
      namespace: 'default',
      body: cnp('list-b', { labels: { suite: 'list' } }),
    })) as KubernetesObject;
    expect(Number(b.metadata?.resourceVersion)).toBeGreaterThan(Number(a.metadata?.resourceVersion));
    expect(a.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    const list = (await custom.listNamespacedCustomObject({
      ...G,
      namespace: 'default',
      labelSelector: 'suite=list',
    })) as { kind: string; metadata: { resourceVersion: string }; items: KubernetesObject[] };
    expect(list.kind).toBe('CiliumNetworkPolicyList');
    expect(list.items.map((i) => i.metadata?.name)).toEqual(['list-a', 'list-b']);
    expect(Number(list.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(b.metadata?.resourceVersion));
    const dup = await custom
      .createNamespacedCustomObject({ ...G, namespace: 'default', body: cnp('list-a') })
      .catch((e: unknown) => e);
    expect((dup as ApiException<string>).code).toBe(409);
    expect(JSON.parse((dup as ApiException<string>).body)).toMatchObject({
      kind: 'Status',
      reason: 'AlreadyExists',
      message: 'ciliumnetworkpolicies.cilium.io "list-a" already exists',
      code: 409,
    });
  });

  it('replace with a stale resourceVersion gets 409 Conflict; a no-op write keeps the resourceVersion', async () => {
    const o = (await custom.createNamespacedCustomObject({
      ...G,
      namespace: 'default',
      body: cnp('conflict'),
    })) as KubernetesObject & { spec: Record<string, unknown> };
    const updated = (await custom.replaceNamespacedCustomObject({
      ...G,
      namespace: 'default',
      name: 'conflict',
      body: { ...o, spec: { ...o.spec, description: 'v2' } },
    })) as KubernetesObject;
    expect(updated.metadata?.generation).toBe(2);
    const stale = await custom
      .replaceNamespacedCustomObject({
        ...G,
        namespace: 'default',
        name: 'conflict',
        body: { ...o, spec: { ...o.spec, description: 'v3' } },
      })
      .catch((e: unknown) => e);
    expect((stale as ApiException<string>).code).toBe(409);
    expect(JSON.parse((stale as ApiException<string>).body).message).toBe(
      'Operation cannot be fulfilled on ciliumnetworkpolicies.cilium.io "conflict": the object has been modified; please apply your changes to the latest version and try again',
    );
    const same = (await custom.replaceNamespacedCustomObject({
      ...G,
      namespace: 'default',
      name: 'conflict',
      body: updated,
    })) as KubernetesObject;
    expect(same.metadata?.resourceVersion).toBe(updated.metadata?.resourceVersion);
    const labelled = (await custom.patchNamespacedCustomObject(
      { ...G, namespace: 'default', name: 'conflict', body: { metadata: { labels: { x: 'y' } } } },
      merge,
    )) as KubernetesObject;
    expect(labelled.metadata?.generation).toBe(2);
    expect(Number(labelled.metadata?.resourceVersion)).toBeGreaterThan(Number(updated.metadata?.resourceVersion));
  });

  it('merge-patches, and patches status through the status subresource only', async () => {
    await custom.createNamespacedCustomObject({ ...G, namespace: 'default', body: cnp('status-a') });
    const p = (await custom.patchNamespacedCustomObject(
      {
        ...G,
        namespace: 'default',
        name: 'status-a',
        body: { spec: { description: 'patched' }, status: { conditions: [{ type: 'Valid', status: 'True' }] } },
      },
      merge,
    )) as { spec: { description: string }; status?: unknown; metadata: { generation: number } };
    expect(p.spec.description).toBe('patched');
    expect(p.status).toBeUndefined();
    expect(p.metadata.generation).toBe(2);
    const s = (await custom.patchNamespacedCustomObjectStatus(
      {
        ...G,
        namespace: 'default',
        name: 'status-a',
        body: {
          status: {
            conditions: [
              {
                type: 'Valid',
                status: 'True',
                lastTransitionTime: '2026-01-01T00:00:00Z',
                message: 'Policy validation succeeded',
              },
            ],
          },
          spec: { description: 'ignored' },
        },
      },
      merge,
    )) as {
      spec: { description: string };
      status: { conditions: { type: string }[] };
      metadata: { generation: number };
    };
    expect(s.status.conditions[0]?.type).toBe('Valid');
    expect(s.spec.description).toBe('patched');
    expect(s.metadata.generation).toBe(2);
  });

  it('server-side apply creates a missing object and removes fields the manager dropped', async () => {
    const spec = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'ssa', namespace: 'default', labels: { a: '1', b: '2' } },
      spec: { description: 'first', endpointSelector: {} },
    };
    const created: KubernetesObject = await objects.patch(
      spec,
      undefined,
      undefined,
      'cilium-operator',
      true,
      PatchStrategy.ServerSideApply,
    );
    expect(created.metadata?.uid).toBeDefined();
    const second = (await objects.patch(
      { ...spec, metadata: { ...spec.metadata, labels: { a: '1' } }, spec: { endpointSelector: {} } },
      undefined,
      undefined,
      'cilium-operator',
      true,
      PatchStrategy.ServerSideApply,
    )) as KubernetesObject & { spec: Record<string, unknown> };
    expect(second.metadata?.labels).toEqual({ a: '1' });
    expect(second.spec.description).toBeUndefined();
    expect(second.metadata?.managedFields?.find((m) => m.manager === 'cilium-operator')?.operation).toBe('Apply');
    expect(second.metadata?.uid).toBe(created.metadata?.uid);
  });

  it('watches: initial ADDEDs, then resume from a resourceVersion without missing or repeating', async () => {
    const start = (await custom.listNamespacedCustomObject({ ...G, namespace: 'default' })) as {
      metadata: { resourceVersion: string };
      items: unknown[];
    };
    const all = await collect(CNP_PATH, {});
    await eventually(() => all.events.length >= start.items.length, 20_000, 'initial ADDEDs');
    expect(all.events.every((e) => e.type === 'ADDED')).toBe(true);
    const w = await collect(CNP_PATH, { resourceVersion: start.metadata.resourceVersion });
    await custom.createNamespacedCustomObject({ ...G, namespace: 'default', body: cnp('w1') });
    await custom.patchNamespacedCustomObject(
      { ...G, namespace: 'default', name: 'w1', body: { spec: { description: 'm' } } },
      merge,
    );
    await custom.deleteNamespacedCustomObject({ ...G, namespace: 'default', name: 'w1' });
    await eventually(() => w.events.length >= 3, 20_000, 'three events');
    expect(w.events.map((e) => `${e.type} ${e.name}`)).toEqual(['ADDED w1', 'MODIFIED w1', 'DELETED w1']);
    const rvs = w.events.map((e) => Number(e.rv));
    expect(rvs).toEqual([...rvs].sort((a, b) => a - b));
    // Resuming from the ADDED's resourceVersion replays exactly what came after it.
    const resumed = await collect(CNP_PATH, { resourceVersion: w.events[0]?.rv ?? '' });
    await eventually(() => resumed.events.length >= 2, 20_000, 'replayed events');
    await new Promise((r) => setTimeout(r, 200));
    expect(resumed.events.map((e) => `${e.type} ${e.rv}`)).toEqual(w.events.slice(1).map((e) => `${e.type} ${e.rv}`));
    all.stop();
    w.stop();
    resumed.stop();
  });

  it('sends BOOKMARKs when asked, so quiet watches stay alive', async () => {
    const w = await collect(CNP_PATH, { allowWatchBookmarks: true, resourceVersion: '0', timeoutSeconds: '2' });
    await eventually(() => w.events.some((e) => e.type === 'BOOKMARK'), 20_000, 'a bookmark');
    const bm = w.events.find((e) => e.type === 'BOOKMARK');
    expect(Number(bm?.rv)).toBeGreaterThan(0);
    expect(bm?.obj).toMatchObject({ kind: 'CiliumNetworkPolicy', apiVersion: 'cilium.io/v2' });
    // timeoutSeconds ends the stream cleanly.
    await expect(w.done).resolves.toBeNull();
  });

  it('gives 410 Expired for a resourceVersion older than the last compaction; an informer sees add, update, delete', async () => {
    const old = (await custom.createNamespacedCustomObject({
      ...G,
      namespace: 'default',
      body: cnp('pre-compact'),
    })) as KubernetesObject;
    await custom.patchNamespacedCustomObject(
      { ...G, namespace: 'default', name: 'pre-compact', body: { spec: { description: 'x' } } },
      merge,
    );
    await cluster.apiserver.compact();
    const w = await collect(CNP_PATH, { resourceVersion: old.metadata?.resourceVersion ?? '' });
    await eventually(() => w.events.length > 0, 20_000, 'an ERROR event');
    expect(w.events[0]?.type).toBe('ERROR');
    expect(w.events[0]?.obj).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
    w.stop();

    const informer = makeInformer(
      kc,
      CNP_PATH,
      () => custom.listNamespacedCustomObject({ ...G, namespace: 'default' }) as never,
    );
    const seen: string[] = [];
    informer.on('add', (o: KubernetesObject) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o: KubernetesObject) => seen.push(`update ${o.metadata?.name}`));
    informer.on('delete', (o: KubernetesObject) => seen.push(`delete ${o.metadata?.name}`));
    await informer.start();
    await custom.createNamespacedCustomObject({ ...G, namespace: 'default', body: cnp('informed') });
    await custom.patchNamespacedCustomObject(
      { ...G, namespace: 'default', name: 'informed', body: { spec: { description: 'u' } } },
      merge,
    );
    await custom.deleteNamespacedCustomObject({ ...G, namespace: 'default', name: 'informed' });
    await eventually(() => seen.includes('delete informed'), 20_000, 'informer delete');
    expect(seen.filter((s) => s.endsWith(' informed'))).toEqual(['add informed', 'update informed', 'delete informed']);
    await informer.stop();
  });

  it('keeps objects with finalizers until they are released, then deletes them', async () => {
    await custom.createNamespacedCustomObject({
      ...G,
      namespace: 'default',
      body: cnp('fin', { finalizers: ['cilium.io/test'] }),
    });
    const w = await collect(CNP_PATH, { fieldSelector: 'metadata.name=fin', resourceVersion: '0' });
    const deleting = (await custom.deleteNamespacedCustomObject({
      ...G,
      namespace: 'default',
      name: 'fin',
    })) as KubernetesObject;
    expect(deleting.metadata?.deletionTimestamp).toBeDefined();
    const again = (await custom.getNamespacedCustomObject({
      ...G,
      namespace: 'default',
      name: 'fin',
    })) as KubernetesObject;
    expect(again.metadata?.finalizers).toEqual(['cilium.io/test']);
    const add = await custom
      .patchNamespacedCustomObject(
        { ...G, namespace: 'default', name: 'fin', body: { metadata: { finalizers: ['cilium.io/test', 'other'] } } },
        merge,
      )
      .catch((e: unknown) => e);
    expect((add as ApiException<string>).code).toBe(422);
    await custom.patchNamespacedCustomObject(
      { ...G, namespace: 'default', name: 'fin', body: { metadata: { finalizers: null } } },
      merge,
    );
    await eventually(() => w.events.some((e) => e.type === 'DELETED'), 20_000, 'DELETED');
    expect(w.events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    w.stop();
    const gone = await custom
      .getNamespacedCustomObject({ ...G, namespace: 'default', name: 'fin' })
      .catch((e: unknown) => e);
    expect((gone as ApiException<string>).code).toBe(404);
  });

  it('cascades deletion to dependents through ownerReferences', async () => {
    const owner = (await custom.createNamespacedCustomObject({
      ...G,
      namespace: 'default',
      body: cnp('owner'),
    })) as KubernetesObject;
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: {
        metadata: {
          name: 'owned',
          ownerReferences: [
            { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', name: 'owner', uid: owner.metadata?.uid ?? '' },
          ],
        },
        data: { a: 'b' },
      },
    });
    await custom.deleteNamespacedCustomObject({ ...G, namespace: 'default', name: 'owner' });
    await eventually(
      async () =>
        (await core
          .readNamespacedConfigMap({ namespace: 'default', name: 'owned' })
          .catch((e: unknown) => e)) instanceof ApiException,
      20_000,
      'dependent deleted',
    );
  });

  it('pages lists with limit and continue', async () => {
    for (let i = 0; i < 12; i++)
      await custom.createNamespacedCustomObject({
        ...G,
        namespace: 'default',
        body: cnp(`page-${String(i).padStart(2, '0')}`, { labels: { paged: 'yes' } }),
      });
    const names: string[] = [];
    let cont: string | undefined;
    let pages = 0;
    do {
      const page = (await custom.listNamespacedCustomObject({
        ...G,
        namespace: 'default',
        labelSelector: 'paged=yes',
        limit: 5,
        ...(cont ? { _continue: cont } : {}),
      })) as { metadata: { continue?: string }; items: KubernetesObject[] };
      names.push(...page.items.map((i) => i.metadata?.name ?? ''));
      cont = page.metadata.continue;
      pages++;
    } while (cont);
    expect(pages).toBe(3);
    expect(names).toEqual(Array.from({ length: 12 }, (_, i) => `page-${String(i).padStart(2, '0')}`));
  });

  it('honours fieldValidation Strict, Warn and Ignore', async () => {
    const body = { ...cnp('fv'), spec: { endpointSelector: {}, bogus: 1 } };
    const strict = await raw('POST', `${CNP_PATH}?fieldValidation=Strict`, body);
    expect(strict.status).toBe(400);
    expect(strict.body.message).toBe(
      'CiliumNetworkPolicy in version "v2" cannot be handled as a CiliumNetworkPolicy: strict decoding error: unknown field "spec.bogus"',
    );
    const warn = await raw('POST', `${CNP_PATH}?fieldValidation=Warn`, body);
    expect(warn.status).toBe(201);
    expect(warn.headers.warning).toContain('299 - "unknown field \\"spec.bogus\\""');
    expect((warn.body.spec as Record<string, unknown>).bogus).toBeUndefined();
    const ignore = await raw('POST', `${CNP_PATH}?fieldValidation=Ignore`, { ...body, metadata: { name: 'fv2' } });
    expect(ignore.status).toBe(201);
    expect(ignore.headers.warning).toBeUndefined();
  });
});
