// The API server's collectors on several workers: its WorkQueue runs up to `workers` keys at once
// and never one key twice at once; the ownerReference collector, on those workers, orphans or
// deletes the dependents of many owners deleted together, and leaves a dependent's other owners.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeClient, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';
import { WorkQueue } from '../../devcluster/apiserver/workqueue.js';
import type { Devcluster } from '../../devcluster/cluster.js';
import { eventually, startDevcluster } from '../e2e/harness.js';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue workers', () => {
  it('runs up to `workers` keys at once, one key never twice at once, and a key added meanwhile again after', async () => {
    let inFlight = 0;
    let most = 0;
    const running = new Set<string>();
    const runs = new Map<string, number>();
    let overlapped = false;
    const q = new WorkQueue(
      async (k) => {
        if (running.has(k)) overlapped = true;
        running.add(k);
        most = Math.max(most, ++inFlight);
        await tick(20);
        runs.set(k, (runs.get(k) ?? 0) + 1);
        inFlight--;
        running.delete(k);
        return 'done';
      },
      10,
      undefined,
      3,
    );
    for (let i = 0; i < 10; i++) q.add(`k${i}`);
    await tick(5);
    q.add('k0'); // k0 is being processed: it runs again afterwards, not beside itself
    await q.idle();
    expect(most).toBe(3);
    expect(overlapped).toBe(false);
    expect(runs.get('k0')).toBe(2);
    expect([...runs.values()].reduce((a, b) => a + b, 0)).toBe(11);
  });

  it('retries a key that failed, on one worker as before by default', async () => {
    let inFlight = 0;
    let most = 0;
    let failures = 0;
    const q = new WorkQueue(async (k) => {
      most = Math.max(most, ++inFlight);
      await tick(2);
      inFlight--;
      if (k === 'flaky' && failures++ < 2) throw new Error('boom');
      return 'done';
    }, 5);
    for (const k of ['a', 'flaky', 'b']) q.add(k);
    await q.idle();
    expect(most).toBe(1);
    expect(failures).toBe(3);
  });
});

const CM: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };

describe('ownerReference collector with many owners', () => {
  let cluster: Devcluster;
  let client: KubeClient;
  beforeAll(async () => {
    cluster = await startDevcluster('gc-workers');
    client = KubeClient.fromFile(cluster.kubeconfig);
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await cluster?.stop();
  });

  const mk = async (name: string, owners: KubeObject[] = []) =>
    client.create(CM, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace: 'default',
        ...(owners.length
          ? {
              ownerReferences: owners.map((o) => ({
                apiVersion: 'v1',
                kind: 'ConfigMap',
                name: o.metadata!.name!,
                uid: o.metadata!.uid!,
              })),
            }
          : {}),
      },
    });
  const list = async (prefix: string) =>
    (await client.list(CM, { namespace: 'default' })).items.filter((c) => c.metadata?.name?.startsWith(prefix));

  it('orphans every dependent of owners deleted together (Orphan), deletes them (Background) unless another owner is left', async () => {
    const owners = await Promise.all(Array.from({ length: 6 }, (_, i) => mk(`own-${i}`)));
    const keeper = await mk('keeper');
    for (let i = 0; i < owners.length; i++)
      await Promise.all(
        Array.from({ length: 25 }, (_, j) =>
          // every fifth dependent also names the keeper, which stays
          mk(`dep-${i}-${j}`, j % 5 === 0 ? [owners[i]!, keeper] : [owners[i]!]),
        ),
      );
    // three owners orphan their dependents, three take them along
    await Promise.all(
      owners.map((o, i) =>
        client.delete(CM, o.metadata!.name!, 'default', { propagationPolicy: i < 3 ? 'Orphan' : 'Background' }),
      ),
    );
    await eventually(async () => (await list('own-')).length === 0, 30_000, 'owners gone');
    await eventually(
      async () => (await list('dep-')).every((d) => !d.metadata?.ownerReferences?.some((r) => r.name !== 'keeper')),
      30_000,
      'dependents released',
    );
    const deps = await list('dep-');
    const names = new Set(deps.map((d) => d.metadata!.name!));
    for (let i = 0; i < owners.length; i++)
      for (let j = 0; j < 25; j++) {
        // orphaned: all kept; taken along: only those the keeper still owns
        expect([`dep-${i}-${j}`, names.has(`dep-${i}-${j}`)]).toEqual([`dep-${i}-${j}`, i < 3 || j % 5 === 0]);
      }
    for (const d of deps) {
      const refs = (d.metadata?.ownerReferences ?? []).map((r) => r.name);
      expect(refs).toEqual(
        d.metadata!.name!.endsWith('-0') || /-(5|10|15|20)$/.test(d.metadata!.name!) ? ['keeper'] : [],
      );
    }
  }, 90_000);
});
