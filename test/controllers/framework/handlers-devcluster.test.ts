// kopf-style handlers, the health endpoints and the metrics names, against the devcluster.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import {
  Action,
  KubeClient,
  handlerController,
  on,
  testing,
  type DiffEntry,
  type KubeObject,
  type Manager,
  CRDS_RESOURCE as CRD,
} from '../../../controllers/framework/index.js';
import type { Devcluster } from '../../../devcluster/cluster.js';
import { startDevcluster } from '../../e2e/harness.js';
import { CNPS as CNP } from '../../../controllers/agent/resources.js';

const NS = 'default';

let cluster: Devcluster;
let client: KubeClient;
const managers: Manager[] = [];

beforeAll(async () => {
  cluster = await startDevcluster('handlers');
  client = KubeClient.fromFile(cluster.kubeconfig);
  await client.create(
    CRD,
    parse(readFileSync(new URL('../../../crds/v2/ciliumnetworkpolicies.yaml', import.meta.url), 'utf8')) as KubeObject,
  );
  await testing.waitFor(() => client.list(CNP, { namespace: NS }).then(() => true), { what: 'the CNP CRD' });
}, 60_000);

afterAll(async () => {
  for (const m of managers) await m.stop().catch(() => undefined);
  client?.close();
  await cluster?.stop();
});

const policy = (name: string, app: string): KubeObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name, namespace: NS, labels: { suite: 'handlers' } },
  spec: { endpointSelector: { matchLabels: { app } }, ingress: [{}] },
});

describe('kopf-style handlers', () => {
  it('on.create, on.update with the diff, on.field, on.timer, on.daemon, on.delete; on.resume after a restart', async () => {
    const calls: string[] = [];
    const diffs: DiffEntry[][] = [];
    let daemonStops = 0;
    const build = () =>
      handlerController<KubeObject>(
        'kopf',
        CNP,
        [
          on.create(({ object }) => void calls.push(`create ${object.metadata?.name}`)),
          on.update(({ diff }) => void (calls.push('update'), diffs.push(diff))),
          on.field(
            'spec.endpointSelector',
            ({ diff }) => void calls.push(`field ${diff.map((d) => d.path.join('.')).join(',')}`),
          ),
          on.resume(({ object }) => void calls.push(`resume ${object.metadata?.name}`)),
          on.timer(150, () => void calls.push('timer')),
          on.daemon(async (_obj, signal) => {
            calls.push('daemon');
            await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
            daemonStops++;
          }),
          on.delete((object) => void calls.push(`delete ${object.metadata?.name}`)),
        ],
        { watcher: { namespace: NS, labelSelector: 'suite=handlers' } },
      );

    const m1 = testing.testManager({ name: 'kopf1', client });
    managers.push(m1);
    m1.add(build());
    await m1.start();
    await client.create(CNP, policy('h1', 'web'));
    await testing.waitFor(() => calls.includes('create h1') && calls.includes('daemon') && calls.includes('timer'), {
      what: 'create, daemon, timer',
    });
    expect(calls).not.toContain('resume h1');

    await client.patch(CNP, 'h1', NS, { spec: { endpointSelector: { matchLabels: { app: 'api' } } } }, 'merge');
    await testing.waitFor(() => calls.includes('field spec.endpointSelector.matchLabels.app'), {
      what: 'the field handler',
    });
    expect(diffs[0]).toEqual([
      { op: 'change', path: ['spec', 'endpointSelector', 'matchLabels', 'app'], old: 'web', new: 'api' },
    ]);
    expect(calls.filter((c) => c === 'daemon')).toHaveLength(1); // one daemon per object

    // A new process sees the object it already handled: resume, not create.
    await m1.stop();
    managers.pop();
    calls.length = 0;
    const m2 = testing.testManager({ name: 'kopf2', client });
    managers.push(m2);
    m2.add(build());
    await m2.start();
    await testing.waitFor(() => calls.includes('resume h1'), { what: 'resume' });
    expect(calls).not.toContain('create h1');
    expect(calls).not.toContain('update');

    await client.delete(CNP, 'h1', NS);
    await testing.waitFor(
      () =>
        client.get(CNP, 'h1', NS).then(
          () => false,
          () => true,
        ),
      { what: 'deletion' },
    );
    expect(calls).toContain('delete h1');
    expect(daemonStops).toBeGreaterThanOrEqual(2); // stopped by m1's shutdown and by the deletion
  }, 30_000);
});

describe('manager endpoints', () => {
  it('serves /healthz, /readyz once synced, and metrics under controller-runtime names', async () => {
    const m = testing.testManager({ name: 'endpoints', client });
    managers.push(m);
    m.add<KubeObject>({
      name: 'ep',
      resource: CNP,
      watcher: { namespace: NS },
      reconcile: async () => Action.awaitChange(),
    });
    await m.start();
    const base = `http://127.0.0.1:${m.healthAddress!.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await testing.waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, { what: 'readyz' });
    await client.create(CNP, policy('m1', 'x'));
    await testing.waitFor(
      async () =>
        (await (await fetch(`${base}/metrics`)).text()).includes(
          'controller_runtime_reconcile_total{controller="ep",result="success"}',
        ),
      {
        what: 'a reconcile metric',
      },
    );
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const name of [
      'controller_runtime_reconcile_total',
      'controller_runtime_reconcile_errors_total',
      'controller_runtime_reconcile_time_seconds',
      'controller_runtime_active_workers',
      'workqueue_depth',
      'workqueue_adds_total',
      'workqueue_queue_duration_seconds',
      'workqueue_work_duration_seconds',
    ]) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, 'm'));
    }
  }, 30_000);

  it('/readyz says why the process is not ready; /healthz fails while a reconcile is stuck', async () => {
    let notReady: string | undefined = 'datapath not programmed';
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    const m = testing.testManager({ name: 'probes', client, readiness: () => notReady, stuckAfterMs: 300 });
    managers.push(m);
    m.add<KubeObject>({
      name: 'hangs',
      resource: CNP,
      watcher: { namespace: NS },
      reconcile: async (key) => (key.endsWith('/stuck') ? await stuck : undefined, Action.awaitChange()),
    });
    await m.start();
    const base = `http://127.0.0.1:${m.healthAddress!.port}`;
    const get = async (path: string) => {
      const r = await fetch(`${base}${path}`);
      return [r.status, await r.text()];
    };
    await testing.waitFor(async () => m.ready, { what: 'caches synced' });
    expect(await get('/readyz')).toEqual([503, 'datapath not programmed']);
    notReady = undefined;
    expect(await get('/readyz')).toEqual([200, 'ok']);
    expect(await get('/healthz')).toEqual([200, 'ok']);
    await client.create(CNP, policy('stuck', 'x'));
    await testing.waitFor(async () => (await get('/healthz'))[0] === 503, { what: 'healthz 503' });
    expect(await get('/livez')).toEqual([503, `stuck: hangs/${NS}/stuck`]);
    release();
    await testing.waitFor(async () => (await get('/healthz'))[0] === 200, { what: 'healthz 200 again' });
  }, 30_000);
});
