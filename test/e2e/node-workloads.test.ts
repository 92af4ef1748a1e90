// Workload controllers against pods that really run on a node (kubectl 1.32, the controllers in
// the API server's process, the node's runner restarting containers): a Job with restartPolicy
// OnFailure whose container restarts count against backoffLimit, and a StatefulSet with stable
// names, OrderedReady creation gated by readiness, scale-down from the highest ordinal and a
// rolling update that `kubectl rollout status` follows.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient, type KubeObject } from '../../controllers/framework/index.js';
import { PODS } from '../../devcluster/controllers/objects.js';
import { eventually } from './harness.js';
import { NodeCluster, type PodStatusLite } from './node-cluster.js';

let c: NodeCluster;
let gate: string;

beforeAll(async () => {
  c = await NodeCluster.start('nodewl');
  gate = join(c.dir, 'gate');
  mkdirSync(gate);
}, 120_000);

afterAll(() => c?.stop(), 60_000);

const job = (name: string, script: string, backoffLimit: number) =>
  JSON.stringify({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default' },
    spec: {
      backoffLimit,
      template: {
        spec: {
          restartPolicy: 'OnFailure',
          containers: [{ name: 'main', image: 'ignored:latest', command: ['sh', '-c', script] }],
        },
      },
    },
  });

interface JobLite {
  status?: { conditions?: { type: string; status: string; reason?: string }[]; succeeded?: number; failed?: number };
}

async function jobConditions(name: string): Promise<Record<string, string>> {
  const j = JSON.parse(await c.ok(['get', 'job', name, '-o', 'json'])) as JobLite;
  return Object.fromEntries(
    (j.status?.conditions ?? []).filter((x) => x.status === 'True').map((x) => [x.type, x.reason ?? '']),
  );
}

describe('Job with restartPolicy OnFailure', () => {
  it('container restarts in place count against backoffLimit: the Job fails with BackoffLimitExceeded', async () => {
    await c.ok(['apply', '-f', '-'], job('flaky', 'echo try; exit 1', 2));
    await c.ok(['wait', '--for=condition=Failed', 'job/flaky', '--timeout=60s']);
    expect(await jobConditions('flaky')).toMatchObject({ Failed: 'BackoffLimitExceeded' });
    // its pod was restarted by the kubelet (not replaced), then removed with the Job's failure
    await eventually(
      async () => (await c.ok(['get', 'pods', '-l', 'job-name=flaky', '-o', 'name'])).trim() === '',
      40_000,
      'the failed Job pod deleted',
    );
  });

  it('a container that succeeds after a restart completes the Job, without a failed pod', async () => {
    const marker = join(c.dir, 'second-try');
    await c.ok(['apply', '-f', '-'], job('retry', `test -f ${marker} || { touch ${marker}; exit 1; }`, 3));
    await c.ok(['wait', '--for=condition=Complete', 'job/retry', '--timeout=60s']);
    const j = JSON.parse(await c.ok(['get', 'job', 'retry', '-o', 'json'])) as JobLite;
    expect(j.status).toMatchObject({ succeeded: 1, failed: 0 });
    const pods = JSON.parse(await c.ok(['get', 'pods', '-l', 'job-name=retry', '-o', 'json'])) as {
      items: PodStatusLite[];
    };
    expect(pods.items.map((p) => p.status.containerStatuses?.[0]?.restartCount)).toEqual([1]);
  });
});

describe('StatefulSet', () => {
  // each pod serves 8080 (its readiness) only once the test opens its gate file
  const script = (env: string) =>
    `${env}while [ ! -f ${gate}/$HOSTNAME ]; do sleep 0.1; done; exec ${process.execPath} -e "require('net').createServer(s=>s.end()).listen(8080)"`;
  const sts = (replicas: number, env = '') =>
    JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: 'default' },
      spec: {
        replicas,
        serviceName: 'db',
        selector: { matchLabels: { app: 'db' } },
        template: {
          metadata: { labels: { app: 'db' } },
          spec: {
            terminationGracePeriodSeconds: 5,
            containers: [
              {
                name: 'main',
                image: 'ignored:latest',
                command: ['sh', '-c', script(env)],
                readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    });
  const names = async () =>
    (await c.ok(['get', 'pods', '-l', 'app=db', '-o', 'jsonpath={.items[*].metadata.name}']))
      .split(' ')
      .filter(Boolean);
  const open = (pod: string) => writeFileSync(join(gate, pod), '');

  it('OrderedReady: db-0, then db-1 only once db-0 is Ready, then db-2', async () => {
    await c.ok(['apply', '-f', '-'], sts(3));
    await eventually(async () => (await c.getPod('db-0'))?.status.phase === 'Running', 30_000, 'db-0 running');
    // db-0 is not Ready while its gate is closed: nothing else is created
    await new Promise((r) => setTimeout(r, 3000));
    expect(await names()).toEqual(['db-0']);
    open('db-0');
    await c.runningPod('db-0');
    await eventually(async () => (await names()).includes('db-1'), 20_000, 'db-1 created');
    await new Promise((r) => setTimeout(r, 2000));
    expect(await names()).toEqual(['db-0', 'db-1']);
    open('db-1');
    open('db-2');
    await c.ok(['rollout', 'status', 'statefulset/db', '--timeout=60s']);
    expect(await names()).toEqual(['db-0', 'db-1', 'db-2']);
    const p = (await c.getPod('db-2'))!;
    expect(p.metadata.labels).toMatchObject({
      'statefulset.kubernetes.io/pod-name': 'db-2',
      'apps.kubernetes.io/pod-index': '2',
    });
    expect(p.spec).toMatchObject({ hostname: 'db-2', subdomain: 'db' });
    // the pod's hostname inside the container is its stable name
    expect(await c.ok(['exec', 'db-1', '--', 'hostname'])).toBe('db-1\n');
    expect(await c.ok(['get', 'sts', 'db', '--no-headers'])).toMatch(/^db\s+3\/3\s+/);
  });

  it('a template change rolls the pods from the highest ordinal down; rollout status returns', async () => {
    const before = (await c.getPod('db-0'))!.metadata.labels?.['controller-revision-hash'];
    await c.ok(['apply', '-f', '-'], sts(3, 'export ROLLED=yes; '));
    await c.ok(['rollout', 'status', 'statefulset/db', '--timeout=90s']);
    const revs = await Promise.all(
      ['db-0', 'db-1', 'db-2'].map(async (n) => (await c.getPod(n))!.metadata.labels?.['controller-revision-hash']),
    );
    expect(new Set(revs).size).toBe(1);
    expect(revs[0]).not.toBe(before);
    expect(await c.ok(['exec', 'db-0', '--', 'sh', '-c', 'echo $ROLLED'])).toBe('yes\n');
    const status = JSON.parse(await c.ok(['get', 'sts', 'db', '-o', 'jsonpath={.status}'])) as Record<string, unknown>;
    expect(status).toMatchObject({ replicas: 3, readyReplicas: 3, updatedReplicas: 3, currentReplicas: 3 });
    expect(status.currentRevision).toBe(status.updateRevision);
  });

  it('scaling down removes the highest ordinal first, one at a time', async () => {
    // the order of deletions as the API server's watch tells it: when each began and when each was gone
    const client = KubeClient.fromFile(c.layout.kubeconfig);
    const abort = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const ev of client.watch<KubeObject>(
        PODS,
        { namespace: 'default', labelSelector: 'app=db' },
        abort.signal,
      )) {
        const name = ev.object.metadata?.name ?? '';
        if (ev.type === 'DELETED') seen.push(`gone ${name}`);
        else if (ev.object.metadata?.deletionTimestamp && !seen.includes(`deleting ${name}`))
          seen.push(`deleting ${name}`);
      }
    })().catch(() => undefined);
    try {
      await c.ok(['scale', 'statefulset/db', '--replicas=1']);
      await eventually(() => seen.includes('gone db-1'), 40_000, 'scaled to 1');
    } finally {
      abort.abort();
      await watching;
      client.close();
    }
    expect(seen).toEqual(['deleting db-2', 'gone db-2', 'deleting db-1', 'gone db-1']);
    expect(await names()).toEqual(['db-0']);
  });
});

describe('CronJob', () => {
  it('runs its jobTemplate at the scheduled minute; kubectl create job --from=cronjob works too', async () => {
    await c.ok(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: { name: 'tick', namespace: 'default' },
        spec: {
          schedule: '* * * * *',
          jobTemplate: {
            metadata: { labels: { app: 'tick' } },
            spec: {
              template: {
                spec: {
                  restartPolicy: 'Never',
                  containers: [{ name: 'main', image: 'ignored:latest', command: ['sh', '-c', 'echo tick'] }],
                },
              },
            },
          },
        },
      }),
    );
    // kubectl builds this Job from the CronJob's template itself
    await c.ok(['create', 'job', 'manual', '--from=cronjob/tick']);
    await c.ok(['wait', '--for=condition=Complete', 'job/manual', '--timeout=60s']);
    expect(await c.ok(['logs', 'job/manual'])).toBe('tick\n');
    // the controller's own Job comes at the next full minute, named after it
    let scheduled = '';
    await eventually(
      async () => {
        const names = (await c.ok(['get', 'jobs', '-o', 'jsonpath={.items[*].metadata.name}'])).split(' ');
        scheduled = names.find((n) => /^tick-\d+$/.test(n)) ?? '';
        return scheduled !== '';
      },
      80_000,
      'a scheduled Job',
    );
    const job = JSON.parse(await c.ok(['get', 'job', scheduled, '-o', 'json'])) as {
      metadata: { annotations: Record<string, string>; ownerReferences: { kind: string; name: string }[] };
    };
    const at = job.metadata.annotations['batch.kubernetes.io/cronjob-scheduled-timestamp']!;
    expect(at).toMatch(/T\d\d:\d\d:00Z$/);
    expect(scheduled).toBe(`tick-${Date.parse(at) / 60_000}`);
    expect(job.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'CronJob', name: 'tick' })]);
    await c.ok(['wait', '--for=condition=Complete', `job/${scheduled}`, '--timeout=60s']);
    expect(await c.ok(['logs', `job/${scheduled}`])).toBe('tick\n');
    await eventually(
      async () => (await c.ok(['get', 'cronjob', 'tick', '-o', 'jsonpath={.status.lastScheduleTime}'])) === at,
      20_000,
      'lastScheduleTime',
    );
    expect(await c.ok(['get', 'cj', 'tick', '--no-headers'])).toMatch(
      /^tick\s+\* \* \* \* \*\s+<none>\s+False\s+\d+\s+/,
    );
  }, 180_000);
});
