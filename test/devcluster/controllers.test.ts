// The pure parts of the devcluster's controllers: pod-template hashes, maxSurge/maxUnavailable
// arithmetic, label selectors, and how the EndpointSlice controller groups and chunks endpoints.
import { describe, expect, it } from '@jest/globals';
import { applyBuiltinDefaults } from '../../devcluster/apiserver/defaults.js';
import { Registry, type ResourceInfo } from '../../devcluster/apiserver/resources.js';
import {
  desiredSlices,
  MAX_ENDPOINTS_PER_SLICE,
  resolvePorts,
  type Service,
} from '../../devcluster/controllers/endpointslice.js';
import { pastBackoffLimitOnFailure, type Job } from '../../devcluster/controllers/job.js';
import { ordinalOf, planStatefulSet, type StatefulSet } from '../../devcluster/controllers/statefulset.js';
import {
  matchesSelector,
  scaled,
  selectorString,
  templateHash,
  type Pod,
} from '../../devcluster/controllers/objects.js';

const pod = (name: string, o: { ready?: boolean; port?: number; deleting?: boolean; phase?: string } = {}): Pod => ({
  metadata: {
    name,
    namespace: 'default',
    uid: `uid-${name}`,
    labels: { app: 'web' },
    ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
  },
  spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: o.port ?? 8080 }] }] },
  status: {
    phase: o.phase ?? 'Running',
    podIP: `10.0.0.${name.length}`,
    conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
  },
});

const svc: Service = {
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    selector: { app: 'web' },
    ports: [
      { name: 'http', port: 80, targetPort: 'http' },
      { name: 'metrics', port: 9090, targetPort: 9091 },
      { name: 'absent', port: 81, targetPort: 'nope' },
    ],
  },
};

describe('pod-template hash', () => {
  it('is stable across key order, changes with the template and the collision count, uses the safe alphabet', () => {
    const a = templateHash({ metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'i' }] } });
    const b = templateHash({ spec: { containers: [{ image: 'i', name: 'c' }] }, metadata: { labels: { app: 'x' } } });
    expect(a).toBe(b);
    expect(a).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    expect(templateHash({ spec: { containers: [{ name: 'c', image: 'j' }] } })).not.toBe(a);
    expect(templateHash({ metadata: { labels: { app: 'x' } } }, 1)).not.toBe(
      templateHash({ metadata: { labels: { app: 'x' } } }),
    );
  });
});

describe('maxSurge / maxUnavailable', () => {
  it('scales percentages (surge rounds up, unavailable down) and passes numbers through', () => {
    expect(scaled(undefined, 3, true, '25%')).toBe(1);
    expect(scaled(undefined, 3, false, '25%')).toBe(0);
    expect(scaled('50%', 5, true, '25%')).toBe(3);
    expect(scaled('50%', 5, false, '25%')).toBe(2);
    expect(scaled(2, 10, true, '25%')).toBe(2);
  });
});

describe('label selectors', () => {
  it('match labels and expressions, and print as a labelSelector query', () => {
    const sel = {
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In' as const, values: ['a', 'b'] },
        { key: 'canary', operator: 'DoesNotExist' as const },
      ],
    };
    expect(matchesSelector(sel, { app: 'web', tier: 'a' })).toBe(true);
    expect(matchesSelector(sel, { app: 'web', tier: 'c' })).toBe(false);
    expect(matchesSelector(sel, { app: 'web', tier: 'a', canary: '' })).toBe(false);
    expect(matchesSelector(undefined, { app: 'web' })).toBe(false);
    expect(selectorString(sel)).toBe('app=web,tier in (a,b),!canary');
  });
});

describe('EndpointSlice contents', () => {
  it('resolves named target ports per pod and leaves out ports a pod does not have', () => {
    expect(resolvePorts(svc, pod('a'))).toEqual([
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'metrics', port: 9091, protocol: 'TCP' },
    ]);
  });

  it('sets ready/serving/terminating from readiness and deletion; skips finished pods and pods without IPs', () => {
    const pods = [
      pod('ready'),
      pod('notready', { ready: false }),
      pod('leaving', { deleting: true }),
      pod('done', { phase: 'Succeeded' }),
      { ...pod('noip'), status: { phase: 'Pending' } },
    ];
    const [s] = desiredSlices(svc, pods);
    const cond = Object.fromEntries((s?.endpoints ?? []).map((e) => [e.targetRef.name, e.conditions]));
    expect(cond).toEqual({
      leaving: { ready: false, serving: true, terminating: true },
      notready: { ready: false, serving: false, terminating: false },
      ready: { ready: true, serving: true, terminating: false },
    });
  });

  it('puts pods resolving a port differently into different slices, at most 100 endpoints each', () => {
    const many = Array.from({ length: 250 }, (_, i) => pod(`p${i}`));
    const other = pod('other', { port: 8081 });
    const out = desiredSlices(svc, [...many, other]);
    const shape = out.map((s) => `${s.ports[0]?.port}:${s.endpoints.length}`).sort();
    expect(shape).toEqual([`8080:${MAX_ENDPOINTS_PER_SLICE}`, '8080:100', '8080:50', '8081:1']);
    expect(desiredSlices(svc, [])).toEqual([{ ports: [], endpoints: [] }]);
  });
});

describe('built-in defaults', () => {
  const reg = new Registry();
  const info = (group: string, plural: string): ResourceInfo => reg.get(group, 'v1', plural) as ResourceInfo;

  it('fill a DaemonSet update strategy and a Deployment strategy as kube-apiserver does', () => {
    const ds = { metadata: { name: 'd' }, spec: { template: { spec: {} } } };
    applyBuiltinDefaults(info('apps', 'daemonsets'), ds);
    expect(ds.spec).toMatchObject({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } } });
    const d = { metadata: { name: 'd' }, spec: { strategy: { type: 'Recreate' } } };
    applyBuiltinDefaults(info('apps', 'deployments'), d);
    expect(d.spec).toMatchObject({ replicas: 1, strategy: { type: 'Recreate' }, revisionHistoryLimit: 10 });
    expect((d.spec.strategy as Record<string, unknown>).rollingUpdate).toBeUndefined();
  });

  it("generate a Job's selector and template labels from its uid", () => {
    const job = { metadata: { name: 'j', uid: 'u1' }, spec: { template: { spec: { restartPolicy: 'Never' } } } };
    applyBuiltinDefaults(info('batch', 'jobs'), job);
    expect(job.spec).toMatchObject({
      completions: 1,
      parallelism: 1,
      backoffLimit: 6,
      selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u1' } },
      template: { metadata: { labels: { 'job-name': 'j', 'batch.kubernetes.io/job-name': 'j' } } },
    });
  });
});

describe('StatefulSet plan (one reconcile)', () => {
  const setPod = (n: number, o: { ready?: boolean; rev?: string; deleting?: boolean; phase?: string } = {}): Pod => ({
    metadata: {
      name: `db-${n}`,
      namespace: 'default',
      labels: { app: 'db', 'controller-revision-hash': o.rev ?? 'db-new' },
      ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  });
  const set = (spec: StatefulSet['spec'] = {}): StatefulSet => ({
    metadata: { name: 'db', namespace: 'default' },
    spec: { replicas: 3, ...spec },
  });

  it.each([
    ['OrderedReady creates the first missing ordinal only', set(), [], { create: [0], delete: [] }],
    ['…and waits while a lower one is not ready', set(), [setPod(0, { ready: false })], { create: [], delete: [] }],
    ['…then the next', set(), [setPod(0)], { create: [1], delete: [] }],
    ['Parallel creates all at once', set({ podManagementPolicy: 'Parallel' }), [], { create: [0, 1, 2], delete: [] }],
    ['ordinals.start shifts the names', set({ ordinals: { start: 5 }, replicas: 1 }), [], { create: [5], delete: [] }],
    [
      'scale down: the highest ordinal first, one at a time',
      set({ replicas: 1 }),
      [setPod(0), setPod(1), setPod(2)],
      { create: [], delete: ['db-2'] },
    ],
    [
      '…not while another condemned pod is terminating',
      set({ replicas: 1 }),
      [setPod(0), setPod(1), setPod(2, { deleting: true })],
      { create: [], delete: [] },
    ],
    [
      'Parallel scale down removes all condemned pods',
      set({ replicas: 1, podManagementPolicy: 'Parallel' }),
      [setPod(0), setPod(1), setPod(2)],
      { create: [], delete: ['db-2', 'db-1'] },
    ],
    [
      'a failed pod is replaced',
      set(),
      [setPod(0), setPod(1, { phase: 'Failed' }), setPod(2)],
      { create: [], delete: ['db-1'] },
    ],
    [
      'rolling update: the highest old-revision pod, when all are ready',
      set(),
      [setPod(0, { rev: 'db-old' }), setPod(1, { rev: 'db-old' }), setPod(2)],
      { create: [], delete: ['db-1'] },
    ],
    [
      '…not below the partition',
      set({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } }),
      [setPod(0, { rev: 'db-old' }), setPod(1), setPod(2)],
      { create: [], delete: [] },
    ],
    [
      '…not while a pod is unready',
      set(),
      [setPod(0, { rev: 'db-old' }), setPod(1, { ready: false }), setPod(2)],
      { create: [], delete: [] },
    ],
    [
      'OnDelete never replaces pods itself',
      set({ updateStrategy: { type: 'OnDelete' } }),
      [setPod(0, { rev: 'db-old' }), setPod(1), setPod(2)],
      { create: [], delete: [] },
    ],
  ] as const)('%s', (_n, s, pods, want) => {
    expect(planStatefulSet(s, [...pods], 'db-new')).toEqual(want);
  });

  it('ordinalOf reads only `<set>-<n>`', () => {
    expect(ordinalOf('db', 'db-12')).toBe(12);
    expect(ordinalOf('db', 'db-012')).toBeUndefined();
    expect(ordinalOf('db', 'db-x')).toBeUndefined();
    expect(ordinalOf('db', 'dbx-1')).toBeUndefined();
  });
});

describe('Job with restartPolicy OnFailure', () => {
  const job = (backoffLimit: number, restartPolicy = 'OnFailure'): Job => ({
    metadata: { name: 'j' },
    spec: { backoffLimit, template: { spec: { restartPolicy } } },
  });
  const restarted = (restartCount: number, phase = 'Running'): Pod =>
    ({ metadata: { name: `p${restartCount}` }, status: { phase, containerStatuses: [{ restartCount }] } }) as Pod;

  it.each([
    ['restarts below the limit', job(3), [restarted(1), restarted(1)], false],
    ['restarts reaching the limit (summed over pods)', job(3), [restarted(2), restarted(1)], true],
    ['limit 0: any restart', job(0), [restarted(1)], true],
    ['limit 0: none yet', job(0), [restarted(0)], false],
    ['finished pods do not count', job(1), [restarted(4, 'Failed')], false],
    ['restartPolicy Never: restarts are not the measure', job(1, 'Never'), [restarted(4)], false],
  ] as const)('%s', (_n, j, pods, want) => {
    expect(pastBackoffLimitOnFailure(j, [...pods])).toBe(want);
  });
});
