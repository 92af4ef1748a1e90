// Real kubectl 1.32 against the devcluster with its kube-controller-manager-like controllers:
// issue 14's "Done when" items that need no real pods (a fake kubelet in this file marks pods
// running and ready, as the nodes' runners would).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Action, KubeClient, Manager, type KubeObject } from '../../controllers/framework/index.js';
import type { Devcluster } from '../../devcluster/cluster.js';
import { PODS } from '../../devcluster/controllers/objects.js';
import { Scheduler } from '../../devcluster/nodes/scheduler.js';
import { eventually, Kubectl, startDevcluster } from './harness.js';

let cluster: Devcluster;
let k: Kubectl;
let kubelet: Manager;

type Pod = KubeObject & {
  spec?: { nodeName?: string; restartPolicy?: string };
  status?: { phase?: string };
  metadata: { name: string; namespace: string; ownerReferences?: { kind: string }[] };
};

const NODES = ['node-1', 'node-2'];

/**
 * The nodes' part without network namespaces: the devcluster's scheduler binds pods, and this
 * fake kubelet reports a bound pod Running and Ready (a Job's pod: Succeeded), as the runner would.
 */
function startFakeNodes(): Manager {
  const m = new Manager({ name: 'fake-nodes', client: KubeClient.fromFile(cluster.kubeconfig), logLevel: 'warn' });
  new Scheduler(NODES).register(m);
  let ip = 10;
  m.add<Pod>({
    name: 'fake-kubelet',
    resource: PODS,
    generationFilter: false,
    reconcile: async (_key, ctx) => {
      const pod = ctx.object;
      if (!pod?.spec?.nodeName || (pod.status?.phase && pod.status.phase !== 'Pending')) return Action.awaitChange();
      const now = new Date().toISOString();
      const job = pod.metadata.ownerReferences?.some((r) => r.kind === 'Job');
      // pods labelled slow become ready after a while, so that a rollout's steps can be watched
      if ((pod.metadata as { labels?: Record<string, string> }).labels?.slow === 'true')
        await new Promise((r) => setTimeout(r, 400));
      const cond = (type: string, ok: boolean) => ({ type, status: ok ? 'True' : 'False', lastTransitionTime: now });
      const fails = (pod.metadata as { labels?: Record<string, string> }).labels?.fail === 'true';
      await ctx.patchStatus({
        phase: job ? (fails ? 'Failed' : 'Succeeded') : 'Running',
        podIP: `10.200.0.${ip++}`,
        hostIP: '172.30.0.1',
        conditions: [cond('PodScheduled', true), cond('Ready', !job), cond('ContainersReady', !job)],
      });
      return Action.awaitChange();
    },
  });
  return m;
}

beforeAll(async () => {
  cluster = await startDevcluster('workloads', { controllers: true });
  k = new Kubectl(cluster);
  for (const n of NODES)
    await k.ok(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: n, labels: { 'kubernetes.io/hostname': n } },
      }),
    );
  kubelet = startFakeNodes();
  await kubelet.start();
}, 60_000);

afterAll(async () => {
  k?.stopAll();
  await kubelet?.stop();
  await cluster?.stop();
});

/** Pods (name → node, phase) selected by a label selector, without the terminating ones. */
async function pods(
  selector: string,
): Promise<{ name: string; node: string; phase: string; labels: Record<string, string> }[]> {
  const list = JSON.parse(await k.ok(['get', 'pods', '-l', selector, '-o', 'json'])) as {
    items: (Pod & { metadata: { labels: Record<string, string>; deletionTimestamp?: string } })[];
  };
  return list.items
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => ({
      name: p.metadata.name,
      node: p.spec?.nodeName ?? '',
      phase: p.status?.phase ?? '',
      labels: p.metadata.labels,
    }));
}

async function runningCount(selector: string): Promise<number> {
  return (await pods(selector)).filter((p) => p.phase === 'Running').length;
}

describe('namespaces', () => {
  it('carry kubernetes.io/metadata.name, which users cannot remove or change', async () => {
    await k.ok(['create', 'namespace', 'team-a']);
    expect(await k.ok(['get', 'ns', 'team-a', '--show-labels', '--no-headers'])).toMatch(
      /kubernetes\.io\/metadata\.name=team-a/,
    );
    expect(await k.ok(['get', 'ns', 'default', '--show-labels', '--no-headers'])).toMatch(
      /kubernetes\.io\/metadata\.name=default/,
    );
    await k.ok(['label', 'ns', 'team-a', 'kubernetes.io/metadata.name-']);
    await k.ok(['label', 'ns', 'team-a', '--overwrite', 'kubernetes.io/metadata.name=other', 'env=dev']);
    const labels = JSON.parse(await k.ok(['get', 'ns', 'team-a', '-o', 'jsonpath={.metadata.labels}']));
    expect(labels).toEqual({ 'kubernetes.io/metadata.name': 'team-a', env: 'dev' });
    // a namespaceSelector on the label selects exactly that namespace
    expect(await k.ok(['get', 'ns', '-l', 'kubernetes.io/metadata.name=team-a', '-o', 'name'])).toBe(
      'namespace/team-a\n',
    );
  });
});

const list = (items: unknown[]): string => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
const cm = (name: string, extra: Record<string, unknown> = {}): unknown => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default' },
  data: { a: '1' },
  ...extra,
});

describe('kubectl apply with client-side validation (/openapi/v2)', () => {
  it('applies a v1 List and a multi-document YAML', async () => {
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'listed', namespace: 'default' },
      spec: { selector: { app: 'listed' }, ports: [{ port: 80, targetPort: 'http' }] },
    };
    const out = await k.ok(['apply', '-f', '-'], list([cm('listed-a'), svc]));
    expect(out).toContain('configmap/listed-a created');
    expect(out).toContain('service/listed created');
    const multi = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: multi-a}\ndata: {a: "1"}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: multi-sa}\n`;
    const out2 = await k.ok(['apply', '-f', '-'], multi);
    expect(out2).toContain('configmap/multi-a created');
    expect(out2).toContain('serviceaccount/multi-sa created');
  });

  it('reports a bad field in a List item as kubectl does against a real server', async () => {
    const bad = await k.run(['apply', '-f', '-'], list([cm('listed-b', { datta: { b: '2' } })]));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/error validating data: .*unknown field "datta"/);
    expect(bad.stderr).toContain('--validate=false');
    // and a wrong type
    const typed = await k.run(['apply', '-f', '-'], list([cm('listed-c', { immutable: 'yes' })]));
    expect(typed.stderr).toMatch(/invalid type for .*immutable/);
  });
});

describe('Deployments', () => {
  it('run 3 replicas through a ReplicaSet named with the pod-template hash, spread by the scheduler', async () => {
    // `kubectl create deployment` sends protobuf, which the devcluster decodes for a few kinds only
    const deploy = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'ignored', ports: [{ name: 'http', containerPort: 8080 }] }] },
        },
      },
    };
    await k.ok(['apply', '-f', '-'], JSON.stringify(deploy));
    await eventually(async () => (await runningCount('app=web')) === 3, 20_000, '3 running pods');
    expect(await k.ok(['rollout', 'status', 'deployment/web', '--timeout=30s'])).toContain(
      'deployment "web" successfully rolled out',
    );
    const rs = JSON.parse(await k.ok(['get', 'rs', '-l', 'app=web', '-o', 'json'])).items;
    expect(rs).toHaveLength(1);
    const hash = rs[0].metadata.labels['pod-template-hash'];
    expect(rs[0].metadata.name).toBe(`web-${hash}`);
    expect(rs[0].metadata.ownerReferences[0]).toMatchObject({ kind: 'Deployment', name: 'web', controller: true });
    const ps = await pods('app=web');
    for (const p of ps) {
      expect(p.labels['pod-template-hash']).toBe(hash);
      expect(p.name.startsWith(`web-${hash}-`)).toBe(true);
    }
    const perNode = NODES.map((n) => ps.filter((p) => p.node === n).length).sort();
    expect(perNode).toEqual([1, 2]);
    const d = JSON.parse(await k.ok(['get', 'deploy', 'web', '-o', 'json']));
    expect(d.status).toMatchObject({ replicas: 3, readyReplicas: 3, availableReplicas: 3, updatedReplicas: 3 });
    expect(d.status.observedGeneration).toBe(d.metadata.generation);
    expect(await k.ok(['get', 'deploy', 'web', '--no-headers'])).toMatch(/^web\s+3\/3\s+3\s+3\s/);
  }, 60_000);

  it('scale to 5 and back to 2', async () => {
    await k.ok(['scale', 'deployment/web', '--replicas=5']);
    await eventually(async () => (await runningCount('app=web')) === 5, 20_000, '5 running pods');
    await k.ok(['rollout', 'status', 'deployment/web', '--timeout=30s']);
    await k.ok(['scale', 'deployment/web', '--replicas=2']);
    await eventually(async () => (await pods('app=web')).length === 2, 20_000, '2 pods');
    expect(await k.ok(['rollout', 'status', 'deployment/web', '--timeout=30s'])).toContain('successfully rolled out');
  }, 60_000);

  it('roll the pods on a template change; rollout status returns', async () => {
    const before = (await pods('app=web')).map((p) => p.labels['pod-template-hash']);
    await k.ok(['set', 'env', 'deployment/web', 'GREETING=hello']);
    expect(await k.ok(['rollout', 'status', 'deployment/web', '--timeout=40s'])).toContain(
      'deployment "web" successfully rolled out',
    );
    await eventually(async () => (await pods('app=web')).length === 2, 20_000, 'old pods gone');
    const after = await pods('app=web');
    expect(after.every((p) => p.labels['pod-template-hash'] !== before[0])).toBe(true);
    const rs = JSON.parse(await k.ok(['get', 'rs', '-l', 'app=web', '-o', 'json'])).items as {
      spec: { replicas: number };
      metadata: { annotations: Record<string, string> };
    }[];
    expect(rs.map((r) => r.spec.replicas).sort()).toEqual([0, 2]);
    expect(rs.map((r) => r.metadata.annotations['deployment.kubernetes.io/revision']).sort()).toEqual(['1', '2']);
  }, 60_000);

  it('kubectl create deployment (a protobuf body) and kubectl create job work', async () => {
    await k.ok([
      'create',
      'deployment',
      'made',
      '--image=img:1',
      '--replicas=2',
      '--port=8080',
      '--',
      'node',
      '-e',
      'x',
    ]);
    const d = JSON.parse(await k.ok(['get', 'deploy', 'made', '-o', 'json']));
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.selector).toEqual({ matchLabels: { app: 'made' } });
    expect(d.spec.template.metadata.labels).toEqual({ app: 'made' });
    expect(d.spec.template.spec.containers[0]).toMatchObject({
      name: 'img',
      image: 'img:1',
      command: ['node', '-e', 'x'],
      ports: [{ containerPort: 8080 }],
    });
    await eventually(async () => (await runningCount('app=made')) === 2, 20_000, '2 running pods');
    await k.ok(['delete', 'deployment', 'made']);
    await k.ok(['create', 'job', 'made', '--image=img:1', '--', 'true']);
    await k.ok(['wait', '--for=condition=complete', 'job/made', '--timeout=30s']);
    await k.ok(['delete', 'job', 'made']);
  }, 60_000);

  it('keep a rolling update within maxSurge and maxUnavailable', async () => {
    const deploy = (version: string) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'slow', namespace: 'default' },
      spec: {
        replicas: 4,
        strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        selector: { matchLabels: { app: 'slow' } },
        template: {
          metadata: { labels: { app: 'slow', slow: 'true', version } },
          spec: { containers: [{ name: 'c', image: 'x' }] },
        },
      },
    });
    await k.ok(['apply', '-f', '-'], JSON.stringify(deploy('1')));
    await k.ok(['rollout', 'status', 'deployment/slow', '--timeout=30s']);
    await k.ok(['apply', '-f', '-'], JSON.stringify(deploy('2')));
    const rollout = k.ok(['rollout', 'status', 'deployment/slow', '--timeout=40s']);
    let done = false;
    void rollout.finally(() => (done = true)).catch(() => undefined);
    let maxPods = 0;
    let minReady = 4;
    while (!done) {
      const ps = await pods('app=slow');
      maxPods = Math.max(maxPods, ps.length);
      minReady = Math.min(minReady, ps.filter((p) => p.phase === 'Running').length);
    }
    expect(await rollout).toContain('successfully rolled out');
    expect(maxPods).toBeLessThanOrEqual(5);
    expect(maxPods).toBeGreaterThan(4);
    expect(minReady).toBeGreaterThanOrEqual(4);
    await eventually(async () => (await pods('app=slow')).every((p) => p.labels.version === '2'), 20_000, 'all new');
    await k.ok(['delete', 'deployment', 'slow']);
  }, 90_000);

  it('delete: the ReplicaSets and pods are garbage-collected through their owner references', async () => {
    await k.ok(['delete', 'deployment', 'web']);
    await eventually(
      async () => !(await k.ok(['get', 'rs,pods', '-l', 'app=web', '-o', 'name'])).trim(),
      20_000,
      'dependents gone',
    );
  }, 30_000);
});

describe('inter-pod affinity on kubernetes.io/hostname', () => {
  it('a pod with required podAffinity goes beside its peer, one with podAntiAffinity away; without a peer it stays Pending', async () => {
    const term = (app: string) => ({
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: { app } }, topologyKey: 'kubernetes.io/hostname' },
      ],
    });
    const pod = (name: string, affinity: Record<string, unknown>) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', labels: { app: name } },
      spec: { affinity, containers: [{ name: 'c', image: 'x' }] },
    });
    // no pod matches: Pending (the term does not match the pod itself)
    await k.ok(['apply', '-f', '-'], JSON.stringify(pod('beside', { podAffinity: term('peer') })));
    await k.ok(['apply', '-f', '-'], JSON.stringify(pod('away', { podAntiAffinity: term('peer') })));
    await new Promise((r) => setTimeout(r, 1500));
    expect((await pods('app=beside'))[0]!.node).toBe('');
    const away = (await pods('app=away'))[0]!.node;
    expect(NODES).toContain(away); // nothing to avoid yet
    // the peer lands; "beside" follows it
    await k.ok(['apply', '-f', '-'], JSON.stringify(pod('peer', {})));
    await eventually(async () => (await pods('app=beside'))[0]!.node !== '', 20_000, 'beside scheduled');
    const peer = (await pods('app=peer'))[0]!.node;
    expect((await pods('app=beside'))[0]!.node).toBe(peer);
    // a second anti-affine pod avoids the peer's node
    await k.ok(['apply', '-f', '-'], JSON.stringify(pod('away2', { podAntiAffinity: term('peer') })));
    await eventually(async () => (await pods('app=away2'))[0]!.node !== '', 20_000, 'away2 scheduled');
    expect((await pods('app=away2'))[0]!.node).not.toBe(peer);
    // a pod that matches its own term is the first of its group: it may go anywhere
    await k.ok(['apply', '-f', '-'], JSON.stringify(pod('group', { podAffinity: term('group') })));
    await eventually(async () => (await pods('app=group'))[0]!.node !== '', 20_000, 'group scheduled');
    await k.ok(['delete', 'pod', 'beside', 'away', 'away2', 'peer', 'group', '--wait=false']);
  }, 60_000);
});

describe('DaemonSets and Jobs', () => {
  it('a DaemonSet has one pod per node, with nodeName set', async () => {
    const ds = {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent', namespace: 'default' },
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'a', image: 'x' }] } },
      },
    };
    await k.ok(['apply', '-f', '-'], JSON.stringify(ds));
    expect(await k.ok(['rollout', 'status', 'ds/agent', '--timeout=30s'])).toContain(
      'daemon set "agent" successfully rolled out',
    );
    const ps = await pods('app=agent');
    expect(ps.map((p) => p.node).sort()).toEqual(NODES);
    expect(await k.ok(['get', 'ds', 'agent', '--no-headers'])).toMatch(/^agent\s+2\s+2\s+2\s+2\s+2\s/);
    // a template change replaces the pods node by node; rollout status returns
    const before = (await pods('app=agent')).map((p) => p.name).sort();
    await k.ok(['set', 'env', 'ds/agent', 'MODE=2']);
    expect(await k.ok(['rollout', 'status', 'ds/agent', '--timeout=30s'])).toContain('successfully rolled out');
    await eventually(async () => (await pods('app=agent')).length === 2, 20_000, 'two pods after the update');
    const after = await pods('app=agent');
    expect(after.map((p) => p.node).sort()).toEqual(NODES);
    expect(after.some((p) => before.includes(p.name))).toBe(false);
    // a new node gets one; a removed node's pod goes
    await k.ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-3' } }));
    await eventually(async () => (await pods('app=agent')).some((p) => p.node === 'node-3'), 20_000, 'pod on node-3');
    await k.ok(['delete', 'node', 'node-3']);
    await eventually(async () => (await pods('app=agent')).length === 2, 20_000, 'node-3 pod gone');
    await k.ok(['delete', 'ds', 'agent']);
  }, 60_000);

  it('a Job runs to completion', async () => {
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'once', namespace: 'default' },
      spec: {
        completions: 3,
        parallelism: 2,
        template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: ['true'] }] } },
      },
    };
    await k.ok(['apply', '-f', '-'], JSON.stringify(job));
    await k.ok(['wait', '--for=condition=complete', 'job/once', '--timeout=30s']);
    const j = JSON.parse(await k.ok(['get', 'job', 'once', '-o', 'json']));
    expect(j.status).toMatchObject({ succeeded: 3, failed: 0, active: 0 });
    expect(j.status.completionTime).toBeDefined();
    expect(await k.ok(['get', 'pods', '-l', 'job-name=once', '-o', 'name'])).toMatch(/(pod\/once-\S+\n){3}/);
  }, 60_000);
});

type Slice = {
  metadata: { name: string; labels: Record<string, string>; ownerReferences?: { kind: string; name: string }[] };
  endpoints: {
    addresses: string[];
    conditions: { ready: boolean; serving: boolean; terminating: boolean };
    targetRef: { name: string };
  }[];
  ports: { name: string; port: number; protocol: string }[];
};

async function slices(svc: string): Promise<Slice[]> {
  return JSON.parse(await k.ok(['get', 'endpointslices', '-l', `kubernetes.io/service-name=${svc}`, '-o', 'json']))
    .items;
}

describe('more kubectl validation and upstream-style manifests', () => {
  it('reports a nested bad field of a Deployment in a List, and of a custom resource in a List', async () => {
    const deploy = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'typo', namespace: 'default' },
      spec: {
        selector: { matchLabels: { app: 'typo' } },
        template: { metadata: { labels: { app: 'typo' } }, spec: { containers: [{ name: 'c', imagee: 'x' }] } },
      },
    };
    const bad = await k.run(['apply', '-f', '-'], list([deploy]));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/unknown field "imagee"/);
    // a single document goes to the server, whose strict decoding refuses it as kube-apiserver does
    const builtin = await k.run(['apply', '-f', '-'], JSON.stringify(deploy));
    expect(builtin.code).not.toBe(0);
    expect(builtin.stderr).toMatch(/strict decoding error: unknown field "spec.template.spec.containers\[0\].imagee"/);
    expect((await k.run(['get', 'deploy', 'typo'])).code).not.toBe(0);
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'gadgets.example.io' },
      spec: {
        group: 'example.io',
        scope: 'Namespaced',
        names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
              },
            },
          },
        ],
      },
    };
    await k.ok(['apply', '-f', '-'], JSON.stringify(crd));
    await k.ok(['wait', '--for=condition=Established', 'crd/gadgets.example.io', '--timeout=20s']);
    const gadget = (spec: unknown) => ({
      apiVersion: 'example.io/v1',
      kind: 'Gadget',
      metadata: { name: 'g', namespace: 'default' },
      spec,
    });
    await eventually(
      async () => (await k.run(['apply', '-f', '-'], list([gadget({ size: 1 })]))).code === 0,
      20_000,
      'CR in a List applies',
    );
    const badCr = await k.run(['apply', '-f', '-'], list([gadget({ sise: 1 })]));
    expect(badCr.stderr).toMatch(/unknown field "sise"/);
    // a single document goes to the server, whose strict field validation answers
    const single = await k.run(['apply', '-f', '-'], JSON.stringify(gadget({ sise: 1 })));
    expect(single.stderr).toMatch(/strict decoding error: unknown field "spec.sise"/);
  }, 60_000);

  it('applies an upstream-style multi-document manifest unchanged, and it comes up', async () => {
    const manifest = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: shop-config
data:
  MODE: production
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
  labels: {app.kubernetes.io/name: frontend}
spec:
  replicas: 2
  revisionHistoryLimit: 3
  selector:
    matchLabels: {app.kubernetes.io/name: frontend}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app.kubernetes.io/name: frontend}
    spec:
      serviceAccountName: shop
      containers:
        - name: web
          image: registry.k8s.io/e2e-test-images/agnhost:2.39
          args: ["netexec", "--http-port=8080"]
          ports:
            - {name: http, containerPort: 8080, protocol: TCP}
          envFrom:
            - configMapRef: {name: shop-config}
          resources:
            requests: {cpu: 10m, memory: 16Mi}
            limits: {memory: 64Mi}
          readinessProbe:
            httpGet: {path: /, port: http}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: backend
spec:
  replicas: 1
  selector:
    matchLabels: {app: backend}
  strategy: {type: Recreate}
  template:
    metadata:
      labels: {app: backend}
    spec:
      containers:
        - name: api
          image: backend:1.0
          ports: [{containerPort: 9000}]
---
apiVersion: v1
kind: Service
metadata:
  name: frontend
spec:
  type: ClusterIP
  selector: {app.kubernetes.io/name: frontend}
  ports:
    - {name: http, port: 80, targetPort: http}
`;
    const out = await k.ok(['apply', '-f', '-'], manifest);
    for (const o of [
      'serviceaccount/shop',
      'configmap/shop-config',
      'deployment.apps/frontend',
      'deployment.apps/backend',
      'service/frontend',
    ])
      expect(out).toContain(`${o} created`);
    await k.ok(['rollout', 'status', 'deployment/frontend', '--timeout=30s']);
    await k.ok(['rollout', 'status', 'deployment/backend', '--timeout=30s']);
    await eventually(
      async () =>
        (await slices('frontend')).flatMap((x) => x.endpoints ?? []).filter((e) => e.conditions.ready).length === 2,
      20_000,
      'frontend endpoints',
    );
    // re-applying changes nothing (the server's defaults do not count as drift)
    expect(await k.ok(['apply', '-f', '-'], manifest)).not.toContain('configured');
    // Recreate: the old pod goes before the new one is created
    await k.ok(['set', 'image', 'deployment/backend', 'api=backend:2.0']);
    await k.ok(['rollout', 'status', 'deployment/backend', '--timeout=30s']);
    await eventually(async () => (await pods('app=backend')).length === 1, 20_000, 'one backend pod');
    await k.ok(['delete', '-f', '-'], manifest);
  }, 90_000);
});

describe('Job failures', () => {
  it('a Job whose pods fail stops after backoffLimit with a Failed condition', async () => {
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'doomed', namespace: 'default' },
      spec: {
        backoffLimit: 2,
        template: {
          metadata: { labels: { fail: 'true' } },
          spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x' }] },
        },
      },
    };
    await k.ok(['apply', '-f', '-'], JSON.stringify(job));
    await k.ok(['wait', '--for=condition=failed', 'job/doomed', '--timeout=30s']);
    const j = JSON.parse(await k.ok(['get', 'job', 'doomed', '-o', 'json']));
    expect(j.status.failed).toBe(3);
    expect(j.status.conditions.find((c: { type: string }) => c.type === 'Failed')).toMatchObject({
      status: 'True',
      reason: 'BackoffLimitExceeded',
    });
    await k.ok(['delete', 'job', 'doomed']);
  }, 60_000);
});

describe('EndpointSlices', () => {
  it('follow pods becoming ready, not ready, terminating and gone; named target ports resolve', async () => {
    const deploy = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'api', namespace: 'default' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'api' } },
        template: {
          metadata: { labels: { app: 'api' } },
          spec: { containers: [{ name: 'api', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }] },
        },
      },
    };
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'api', namespace: 'default' },
      spec: { selector: { app: 'api' }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] },
    };
    await k.ok(['apply', '-f', '-'], list([deploy, svc]));
    await k.ok(['rollout', 'status', 'deployment/api', '--timeout=30s']);
    let s: Slice[] = [];
    await eventually(
      async () => {
        s = await slices('api');
        return s.length === 1 && s[0]!.endpoints?.filter((e) => e.conditions.ready).length === 2;
      },
      20_000,
      'a slice with 2 ready endpoints',
    );
    expect(s[0]!.metadata.labels['endpointslice.kubernetes.io/managed-by']).toBe('endpointslice-controller.k8s.io');
    expect(s[0]!.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Service', name: 'api' });
    expect(s[0]!.ports).toEqual([{ name: 'web', port: 8080, protocol: 'TCP' }]);

    // not ready: the kubelet reports Ready=False
    const [first, second] = (await pods('app=api')).map((p) => p.name) as [string, string];
    await k.ok([
      'patch',
      'pod',
      first,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { conditions: [{ type: 'Ready', status: 'False' }] } }),
    ]);
    const byPod = async (name: string) =>
      (await slices('api')).flatMap((x) => x.endpoints ?? []).find((e) => e.targetRef.name === name);
    await eventually(async () => (await byPod(first))?.conditions.ready === false, 20_000, 'endpoint not ready');
    expect((await byPod(first))?.conditions).toEqual({ ready: false, serving: false, terminating: false });

    // terminating: a finalizer holds the deleted pod (as the kubelet's does while containers stop)
    await k.ok(['patch', 'pod', second, '--type=merge', '-p', '{"metadata":{"finalizers":["example.com/hold"]}}']);
    await k.ok(['delete', 'pod', second, '--wait=false']);
    await eventually(
      async () => (await byPod(second))?.conditions.terminating === true,
      20_000,
      'endpoint terminating',
    );
    expect((await byPod(second))?.conditions).toEqual({ ready: false, serving: true, terminating: true });

    // gone
    await k.ok(['patch', 'pod', second, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    await eventually(async () => (await byPod(second)) === undefined, 20_000, 'endpoint gone');

    // a service selecting nothing keeps one empty slice; deleting the service removes its slices
    await k.ok(['patch', 'svc', 'api', '--type=merge', '-p', '{"spec":{"selector":{"app":"none"}}}']);
    await eventually(
      async () => {
        const x = await slices('api');
        return x.length === 1 && !(x[0]!.endpoints ?? []).length;
      },
      20_000,
      'empty slice',
    );
    await k.ok(['delete', 'svc', 'api']);
    await eventually(async () => (await slices('api')).length === 0, 20_000, 'slices gone');
    await k.ok(['delete', 'deployment', 'api']);
  }, 90_000);
});
