// kopf-ts against the real devcluster API server (etcd underneath): watches across restarts and
// compaction, bookmarks, queue behaviour under bursts, backoff, permanent errors, finalizers,
// leader election between processes, and status writes that are not sent when nothing changed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import {
  Action,
  FakeClock,
  KubeClient,
  LEASES,
  PermanentError,
  Store,
  testing,
  watcher,
  type KubeObject,
  type ResourceRef,
  type WatcherEvent,
  CRDS_RESOURCE as CRD,
} from '../../../controllers/framework/index.js';
import type { Devcluster } from '../../../devcluster/cluster.js';
import { startDevcluster } from '../../e2e/harness.js';
import { CNPS as CNP } from '../../../controllers/agent/resources.js';

const CM: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
const EVENTS: ResourceRef = { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true };
const NS = 'default';

let cluster: Devcluster;
let client: KubeClient;
const requestLog: string[] = [];
const managers: { stop(): Promise<void> }[] = [];
const children: ChildProcess[] = [];
let seq = 0;

const cnp = (name: string, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name, namespace: NS, ...((extra.metadata as object) ?? {}) },
  spec: { endpointSelector: { matchLabels: { app: name } }, ingress: [{}] },
});

beforeAll(async () => {
  cluster = await startDevcluster('framework', {
    server: { bookmarkIntervalMs: 300, watchHistory: 40, log: (l) => requestLog.push(l) },
  });
  client = KubeClient.fromFile(cluster.kubeconfig);
  const crd = parse(
    readFileSync(new URL('../../../crds/v2/ciliumnetworkpolicies.yaml', import.meta.url), 'utf8'),
  ) as KubeObject;
  await client.create(CRD, crd);
  await testing.waitFor(() => client.list(CNP, { namespace: NS }).then(() => true), {
    what: 'the CNP CRD to be served',
  });
}, 60_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const m of managers) await m.stop().catch(() => undefined);
  client?.close();
  await cluster?.stop();
});

const applyConfigMap = (name: string, data: Record<string, string>) =>
  client.patch(
    CM,
    name,
    NS,
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS }, data },
    'apply',
    { fieldManager: 'test', force: true },
  );

/** A client whose watch streams can be cut and held off, like a flaky network in front of the real server. */
function flakyClient(real: KubeClient) {
  let cut = new AbortController();
  let held: Promise<void> | undefined;
  let release = () => undefined as void;
  const proxy = Object.create(real) as KubeClient;
  proxy.watch = async function* (res, o, signal) {
    if (held) await held;
    yield* real.watch(res, o, AbortSignal.any([signal, cut.signal]));
  } as KubeClient['watch'];
  return {
    client: proxy,
    cutAndHold() {
      held = new Promise<void>((r) => (release = r));
      cut.abort();
      cut = new AbortController();
    },
    release() {
      held = undefined;
      release();
    },
  };
}

function collect(events: WatcherEvent<KubeObject>[], store: Store<KubeObject>) {
  return (ev: WatcherEvent<KubeObject>) => {
    events.push(ev);
    store.apply(ev);
  };
}

async function runWatcher(
  c: KubeClient,
  signal: AbortSignal,
  sink: (ev: WatcherEvent<KubeObject>) => void,
  labelSelector: string,
) {
  for await (const ev of watcher<KubeObject>(
    c,
    CNP,
    { namespace: NS, labelSelector, backoffInitialMs: 50, backoffMaxMs: 200 },
    signal,
  ))
    sink(ev);
}

describe('watcher against the devcluster', () => {
  it('an API server restart in the middle of a watch loses no change and repeats none', async () => {
    const label = `suite=restart${seq++}`;
    const meta = { metadata: { labels: { suite: label.split('=')[1]! } } };
    const events: WatcherEvent<KubeObject>[] = [];
    const store = new Store<KubeObject>();
    const ac = new AbortController();
    const done = runWatcher(client, ac.signal, collect(events, store), label);
    await store.waitUntilReady();
    for (let i = 0; i < 5; i++) await client.create(CNP, cnp(`r-before-${i}`, meta));
    await testing.waitFor(() => store.size === 5, { what: '5 objects' });
    await cluster.restartApiServer();
    const after = KubeClient.fromFile(cluster.kubeconfig);
    for (let i = 0; i < 5; i++) await after.create(CNP, cnp(`r-after-${i}`, meta));
    await after.patch(CNP, 'r-before-0', NS, { metadata: { labels: { touched: 'yes' } } }, 'merge');
    await after.delete(CNP, 'r-before-1', NS);
    after.close();
    await testing.waitFor(
      () => store.size === 9 && store.get(`${NS}/r-before-0`)?.metadata?.labels?.touched === 'yes',
      {
        what: 'the changes made after the restart',
        timeoutMs: 20_000,
      },
    );
    ac.abort();
    await done;
    const applied = events
      .filter((e) => e.type === 'Apply' || e.type === 'Delete')
      .map(
        (e) =>
          `${e.type}:${(e as { object: KubeObject }).object.metadata?.name}@${(e as { object: KubeObject }).object.metadata?.resourceVersion}`,
      );
    expect(new Set(applied).size).toBe(applied.length);
    expect(events.filter((e) => e.type === 'Init')).toHaveLength(1); // resumed from its resourceVersion, no relist
    expect(store.keys().sort()).toEqual(
      [
        'r-after-0',
        'r-after-1',
        'r-after-2',
        'r-after-3',
        'r-after-4',
        'r-before-0',
        'r-before-2',
        'r-before-3',
        'r-before-4',
      ].map((n) => `${NS}/${n}`),
    );
  }, 60_000);

  it('a resourceVersion compacted away forces a relist that is swapped in atomically', async () => {
    const label = `suite=compact${seq++}`;
    const meta = { metadata: { labels: { suite: label.split('=')[1]! } } };
    for (let i = 0; i < 3; i++) await client.create(CNP, cnp(`c-${i}`, meta));
    const flaky = flakyClient(client);
    const events: WatcherEvent<KubeObject>[] = [];
    const store = new Store<KubeObject>();
    const ac = new AbortController();
    const done = runWatcher(flaky.client, ac.signal, collect(events, store), label);
    await testing.waitFor(() => store.size === 3, { what: 'initial list' });
    flaky.cutAndHold();
    await client.delete(CNP, 'c-0', NS);
    await client.create(CNP, cnp('c-new', meta));
    // More writes than the watch history keeps (40): the watcher's resourceVersion expires.
    for (let i = 0; i < 60; i++) await applyConfigMap('filler', { i: String(i) });
    const before = events.length;
    flaky.release();
    await testing.waitFor(() => store.get(`${NS}/c-new`), { what: 'the relist', timeoutMs: 20_000 });
    ac.abort();
    await done;
    const later = events.slice(before).map((e) => e.type);
    expect(later.slice(0, 1)).toEqual(['Init']);
    expect(later).toContain('InitDone');
    expect(store.keys().sort()).toEqual([`${NS}/c-1`, `${NS}/c-2`, `${NS}/c-new`]);
  }, 60_000);

  it('bookmarks move the resourceVersion forward while nothing of ours changes', async () => {
    const events: WatcherEvent<KubeObject>[] = [];
    const store = new Store<KubeObject>();
    const ac = new AbortController();
    const done = runWatcher(client, ac.signal, collect(events, store), `suite=bookmarks${seq++}`);
    await store.waitUntilReady();
    const start = Number(store.resourceVersion);
    await applyConfigMap('bookmark-mover', { x: '1' });
    await testing.waitFor(() => Number(store.resourceVersion) > start, {
      what: 'a bookmark past the ConfigMap write',
      timeoutMs: 5_000,
    });
    ac.abort();
    await done;
    expect(events.some((e) => e.type === 'Bookmark')).toBe(true);
  }, 30_000);
});

describe('controllers against the devcluster', () => {
  function manager(name: string) {
    const m = testing.testManager({ name, client });
    managers.push(m);
    return m;
  }

  it('100 updates of one object coalesce into fewer reconciles, never two at once', async () => {
    const label = `burst${seq++}`;
    let inFlight = 0;
    let maxInFlight = 0;
    const seenGenerations: number[] = [];
    // The first reconcile is held until the first 50 updates are in the cache, so those must
    // coalesce into one follow-up reconcile however fast or slow the machine is; the other 50 run
    // against 40 ms reconciles, as a burst does.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let firstStore: { get(key: string): KubeObject | undefined } | undefined;
    let firstKey = '';
    const m = manager('burst');
    m.add<KubeObject>({
      name: 'burst',
      resource: CNP,
      concurrency: 4,
      watcher: { namespace: NS, labelSelector: `suite=${label}` },
      async reconcile(key, ctx) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        if (!firstStore) {
          firstStore = ctx.store;
          firstKey = key;
          await held;
        } else await new Promise((r) => setTimeout(r, 40));
        seenGenerations.push(ctx.store.get(ctx.key)?.metadata?.generation ?? -1);
        inFlight--;
        return Action.awaitChange();
      },
    });
    await client.create(CNP, cnp('burst', { metadata: { labels: { suite: label } } }));
    await m.start();
    await testing.waitFor(() => firstStore, { what: 'the first reconcile' });
    const started = Date.now();
    try {
      for (let i = 0; i < 100; i++) {
        await client.patch(
          CNP,
          'burst',
          NS,
          { spec: { endpointSelector: { matchLabels: { app: `v${i}` } }, ingress: [{}] } },
          'merge',
        );
        if (i === 49) {
          await testing.waitFor(() => firstStore!.get(firstKey)?.metadata?.generation === 51, {
            what: 'the first 50 updates in the cache',
          });
          release();
        }
      }
    } finally {
      release(); // never leave the manager's stop waiting on a held reconcile
    }
    const elapsed = Date.now() - started;
    await testing.waitFor(() => seenGenerations.at(-1) === 101, { what: 'a reconcile of the last generation' });
    await new Promise((r) => setTimeout(r, 200));
    console.log(`100 PATCHes of one CiliumNetworkPolicy: ${elapsed} ms, ${seenGenerations.length} reconciles`);
    expect(maxInFlight).toBe(1);
    expect(seenGenerations.length).toBeGreaterThanOrEqual(2);
    // the held reconcile, one for the 50 updates it held back, at most one per later update
    expect(seenGenerations.length).toBeLessThanOrEqual(1 + 1 + 50);
  }, 60_000);

  it('a failing reconcile backs off exponentially (fake clock) and recovers', async () => {
    const label = `backoff${seq++}`;
    const clock = new FakeClock();
    let calls = 0;
    let succeeded = false;
    const m = manager('backoff');
    const c = m.add<KubeObject>({
      name: 'backoff',
      resource: CNP,
      clock,
      watcher: { namespace: NS, labelSelector: `suite=${label}` },
      async reconcile() {
        calls++;
        if (calls <= 4) throw new Error(`transient failure ${calls}`);
        succeeded = true;
        return Action.awaitChange();
      },
    });
    await client.create(CNP, cnp('flaky', { metadata: { labels: { suite: label } } }));
    await m.start();
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      await testing.waitFor(() => calls === attempt && c.queue.numRequeues(`${NS}/flaky`) === attempt, {
        what: `failure ${attempt}`,
      });
      const retry = clock.pending().find((d) => d <= 1000)!;
      delays.push(retry);
      await clock.advance(retry);
    }
    await testing.waitFor(() => succeeded, { what: 'the recovery' });
    expect(delays).toEqual([5, 10, 20, 40]);
    expect(c.queue.numRequeues(`${NS}/flaky`)).toBe(0); // forgotten after success
    expect(clock.pending().filter((d) => d <= 1000)).toEqual([]);
  }, 30_000);

  it('a permanent error stops retrying and is recorded as an Event and a condition', async () => {
    const label = `perm${seq++}`;
    let calls = 0;
    const m = manager('perm');
    m.add<KubeObject>({
      name: 'perm',
      resource: CNP,
      permanentErrorCondition: 'Valid',
      watcher: { namespace: NS, labelSelector: `suite=${label}` },
      async reconcile() {
        calls++;
        throw new PermanentError('selector matches nothing that can ever exist');
      },
    });
    await client.create(CNP, cnp('perm', { metadata: { labels: { suite: label } } }));
    await m.start();
    const cond = await testing.waitFor(
      async () => {
        const o = await client.get<
          KubeObject & { status?: { conditions?: { type: string; status: string; message?: string }[] } }
        >(CNP, 'perm', NS);
        return o.status?.conditions?.find((x) => x.type === 'Valid');
      },
      { what: 'the Valid condition' },
    );
    expect(cond).toMatchObject({
      status: 'False',
      reason: 'ReconcileFailed',
      message: 'selector matches nothing that can ever exist',
    });
    const events = await client.list<
      KubeObject & { reason?: string; type?: string; involvedObject?: { name?: string } }
    >(EVENTS, { namespace: NS });
    expect(
      events.items.some(
        (e) => e.reason === 'ReconcileFailed' && e.type === 'Warning' && e.involvedObject?.name === 'perm',
      ),
    ).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(calls).toBe(1);
  }, 30_000);

  it('deleting an object runs its cleanup, retried when it throws, then the object disappears', async () => {
    const label = `fin${seq++}`;
    let cleanups = 0;
    const m = manager('fin');
    const c = m.add<KubeObject>({
      name: 'fin',
      resource: CNP,
      watcher: { namespace: NS, labelSelector: `suite=${label}` },
      queue: { baseDelayMs: 20 },
      reconcile: async () => Action.awaitChange(),
      async cleanup() {
        cleanups++;
        if (cleanups < 3) throw new Error('the datapath is busy');
      },
    });
    await client.create(CNP, cnp('fin', { metadata: { labels: { suite: label } } }));
    await m.start();
    await testing.waitFor(async () => (await client.get(CNP, 'fin', NS)).metadata?.finalizers?.includes(c.finalizer), {
      what: 'the finalizer',
    });
    await client.delete(CNP, 'fin', NS);
    const marked = await client.get(CNP, 'fin', NS);
    expect(marked.metadata?.deletionTimestamp).toBeTruthy();
    await testing.waitFor(
      () =>
        client.get(CNP, 'fin', NS).then(
          () => false,
          () => true,
        ),
      { what: 'the object to disappear' },
    );
    expect(cleanups).toBe(3);
  }, 30_000);

  it('a status write that changes nothing is not sent (counted at the API server)', async () => {
    const label = `status${seq++}`;
    let reconciles = 0;
    const m = manager('status');
    m.add<KubeObject>({
      name: 'status',
      resource: CNP,
      watcher: { namespace: NS, labelSelector: `suite=${label}` },
      async reconcile(_k, ctx) {
        reconciles++;
        await ctx.setCondition({
          type: 'Valid',
          status: 'True',
          reason: 'Valid',
          message: 'Policy validation succeeded',
        });
        return Action.awaitChange();
      },
    });
    await client.create(CNP, cnp('status', { metadata: { labels: { suite: label } } }));
    await m.start();
    const statusWrites = () =>
      requestLog.filter((l) => l.startsWith('PATCH') && l.includes('/ciliumnetworkpolicies/status/status')).length;
    await testing.waitFor(() => statusWrites() === 1, { what: 'the first status write' });
    for (let i = 0; i < 5; i++) {
      await client.patch(CNP, 'status', NS, { metadata: { labels: { round: String(i) } } }, 'merge');
      await testing.waitFor(() => reconciles >= i + 2, { what: `reconcile ${i + 2}` });
    }
    expect(statusWrites()).toBe(1);
  }, 30_000);
});

describe('leader election between processes', () => {
  function candidate(identity: string, lease: string) {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        new URL('./fixtures/leader-candidate.ts', import.meta.url).pathname,
        cluster.kubeconfig,
        identity,
        lease,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    return { child, out: () => out };
  }

  it('killing the leader hands the lease over to the other candidate, and only the leader reconciles', async () => {
    const lease = `lease${seq++}`;
    const a = candidate('a', lease);
    await testing.waitFor(() => a.out().includes('LEADING a'), { what: 'a to lead', timeoutMs: 20_000 });
    const b = candidate('b', lease);
    await new Promise((r) => setTimeout(r, 1_500)); // b is up and campaigning
    await applyConfigMap(`${lease}-1`, { x: '1' }).then(() =>
      client.patch(CM, `${lease}-1`, NS, { metadata: { labels: { lease } } }, 'merge'),
    );
    await testing.waitFor(() => a.out().includes(`RECONCILE a ${NS}/${lease}-1`), { what: 'a to reconcile' });
    expect(b.out()).not.toMatch(/RECONCILE b|LEADING b/);
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await testing.waitFor(() => b.out().includes('LEADING b'), {
      what: 'b to take over',
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    console.log(`leader handover after SIGKILL: ${Date.now() - killedAt} ms (lease 3 s, retry period 0.5 s)`);
    // b took the lease over from a (it was not released: a got no chance to)
    expect((await client.get<KubeObject>(LEASES, lease, NS)).spec).toMatchObject({
      holderIdentity: 'b',
      leaseTransitions: 1,
    });
    await testing.waitFor(() => b.out().includes(`RECONCILE b ${NS}/${lease}-1`), {
      what: 'b to reconcile after taking over',
    });
    b.child.kill('SIGTERM');
  }, 60_000);
});
