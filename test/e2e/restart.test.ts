// Restarting the API server, and then etcd, loses nothing, and a watcher that resumes from its
// last resourceVersion (as informers do) sees every change exactly once, in order.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Devcluster } from '../../devcluster/cluster.js';
import { CRD_DIR, eventually, startDevcluster } from './harness.js';

let cluster: Devcluster;
let kc: KubeConfig;
let custom: CustomObjectsApi;
const G = { group: 'cilium.io', version: 'v2', plural: 'ciliumnetworkpolicies', namespace: 'default' };
const PATH = '/apis/cilium.io/v2/namespaces/default/ciliumnetworkpolicies';
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Retries a request while a component restarts (connection refused, 500 from a reconnecting etcd client). */
async function retry<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      const code = (e as { code?: number }).code;
      if ((typeof code === 'number' && code < 500) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A watcher that reconnects from the last resourceVersion it saw, like a client-go reflector. */
function resilientWatch(fromRv: string): {
  events: { type: string; name: string; rv: number }[];
  errors: unknown[];
  lastRv: () => number;
  stop: () => void;
} {
  const events: { type: string; name: string; rv: number }[] = [];
  const errors: unknown[] = [];
  let rv = fromRv;
  let stopped = false;
  let ctl: AbortController | undefined;
  const connect = async (): Promise<void> => {
    while (!stopped) {
      try {
        const ended = new Promise<void>((resolve) => {
          void new Watch(kc)
            .watch(
              PATH,
              { resourceVersion: rv, allowWatchBookmarks: true },
              (type, obj: { metadata?: { name?: string; resourceVersion?: string }; code?: number }) => {
                if (type === 'ERROR') errors.push(obj);
                else {
                  rv = obj.metadata?.resourceVersion ?? rv;
                  if (type !== 'BOOKMARK') events.push({ type, name: obj.metadata?.name ?? '', rv: Number(rv) });
                }
              },
              () => resolve(),
            )
            .then(
              (c) => (ctl = c),
              () => resolve(),
            );
        });
        await ended;
      } catch {
        /* reconnect below */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  void connect();
  return {
    events,
    errors,
    lastRv: () => Number(rv),
    stop: () => {
      stopped = true;
      ctl?.abort();
    },
  };
}

beforeAll(async () => {
  cluster = await startDevcluster('restart', { server: { bookmarkIntervalMs: 500 } });
  kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  custom = kc.makeApiClient(CustomObjectsApi);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  await objects.create(
    loadAllYaml(readFileSync(join(CRD_DIR, 'ciliumnetworkpolicies.yaml'), 'utf8'))[0] as KubernetesObject,
  );
  await eventually(
    async () => {
      const l = await custom.listNamespacedCustomObject(G).catch(() => undefined);
      return l !== undefined;
    },
    20_000,
    'CNPs served',
  );
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('restarts', () => {
  it('lose nothing, and a resuming watcher misses and repeats no event', async () => {
    const start = (await custom.listNamespacedCustomObject(G)) as { metadata: { resourceVersion: string } };
    const w = resilientWatch(start.metadata.resourceVersion);
    const expected: string[] = [];
    let lastWriteRv = 0;
    const create = async (name: string): Promise<void> => {
      const o = (await retry(() =>
        custom.createNamespacedCustomObject({
          ...G,
          body: {
            apiVersion: 'cilium.io/v2',
            kind: 'CiliumNetworkPolicy',
            metadata: { name },
            spec: { endpointSelector: { matchLabels: { app: name } } },
          },
        }),
      )) as KubernetesObject;
      expected.push(`ADDED ${name}`);
      lastWriteRv = Number(o.metadata?.resourceVersion);
    };
    const patch = async (name: string): Promise<void> => {
      const o = (await retry(() =>
        custom.patchNamespacedCustomObject(
          { ...G, name, body: { spec: { description: `changed ${Date.now()}` } } },
          merge,
        ),
      )) as KubernetesObject;
      expected.push(`MODIFIED ${name}`);
      lastWriteRv = Number(o.metadata?.resourceVersion);
    };
    const del = async (name: string): Promise<void> => {
      await retry(() => custom.deleteNamespacedCustomObject({ ...G, name }));
      expected.push(`DELETED ${name}`);
    };

    for (let i = 0; i < 10; i++) await create(`a-${i}`);
    await cluster.restartApiServer();
    for (let i = 0; i < 10; i++) await create(`b-${i}`);
    for (let i = 0; i < 5; i++) await patch(`a-${i}`);
    await cluster.restartEtcd();
    for (let i = 0; i < 10; i++) await create(`c-${i}`);
    for (let i = 0; i < 5; i++) await del(`b-${i}`);
    await cluster.restartApiServer();
    await patch('c-0');

    await eventually(() => w.lastRv() >= lastWriteRv, 20_000, 'the watcher to catch up');
    w.stop();
    expect(w.errors).toEqual([]);
    expect(w.events.map((e) => `${e.type} ${e.name}`)).toEqual(expected);
    const rvs = w.events.map((e) => e.rv);
    expect(new Set(rvs).size).toBe(rvs.length);
    expect(rvs).toEqual([...rvs].sort((a, b) => a - b));

    const list = (await custom.listNamespacedCustomObject(G)) as {
      items: (KubernetesObject & { spec: { description?: string } })[];
    };
    const names = list.items.map((i) => i.metadata?.name).sort();
    expect(names).toEqual(
      [
        ...Array.from({ length: 10 }, (_, i) => `a-${i}`),
        ...Array.from({ length: 5 }, (_, i) => `b-${i + 5}`),
        ...Array.from({ length: 10 }, (_, i) => `c-${i}`),
      ].sort(),
    );
    expect(list.items.filter((i) => i.spec.description?.startsWith('changed')).length).toBe(6);
  }, 90_000);
});
