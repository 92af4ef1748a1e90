// The CronJob controller as kube-controller-manager runs it (pkg/controller/cronjob, v2): at each
// scheduled time a Job from jobTemplate named `<cronjob>-<scheduled time in minutes>` (so a
// time is run once, whoever retries), owned by the CronJob; concurrencyPolicy Allow, Forbid
// (skip while one runs) or Replace (delete the running ones first); startingDeadlineSeconds (a
// time missed by longer is skipped); suspend; history limits for finished Jobs; status active,
// lastScheduleTime, lastSuccessfulTime. It wakes itself up at the next scheduled time.
import { Action, isNotFound, type KubeObject, type Manager } from '../../controllers/framework/index.js';
import { mostRecent, nextAfter, parseSchedule } from './cron-schedule.js';
import { controllerRef, CRONJOBS, isControlledBy, JOBS, type Condition, type PodTemplate } from './objects.js';

export const SCHEDULED_TIMESTAMP_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';

export type CronJob = KubeObject & {
  spec?: {
    schedule?: string;
    timeZone?: string;
    startingDeadlineSeconds?: number;
    concurrencyPolicy?: 'Allow' | 'Forbid' | 'Replace';
    suspend?: boolean;
    successfulJobsHistoryLimit?: number;
    failedJobsHistoryLimit?: number;
    jobTemplate?: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec?: Record<string, unknown> & { template?: PodTemplate };
    };
  };
  status?: { lastScheduleTime?: string; lastSuccessfulTime?: string };
};

type Job = KubeObject & { status?: { conditions?: Condition[]; completionTime?: string; startTime?: string } };

const finishedAs = (j: Job): 'Complete' | 'Failed' | undefined =>
  (j.status?.conditions ?? []).find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')
    ?.type as 'Complete' | 'Failed' | undefined;

/** Upstream's job name: the scheduled time in minutes since the epoch. */
export const jobName = (cronJob: string, scheduled: Date): string =>
  `${cronJob}-${Math.floor(scheduled.getTime() / 60_000)}`;

const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, 'Z');

export class CronJobController {
  register(manager: Manager): void {
    manager.add<CronJob>({
      name: 'cronjob-controller',
      resource: CRONJOBS,
      secondary: [{ resource: JOBS, mapper: 'owner' }],
      concurrency: 2,
      reconcile: async (_key, ctx) => {
        const cj = ctx.object;
        if (!cj?.metadata?.name || cj.metadata.deletionTimestamp) return Action.awaitChange();
        const name = cj.metadata.name;
        const ns = cj.metadata.namespace ?? 'default';
        const spec = cj.spec ?? {};
        const schedule = parseSchedule(spec.schedule ?? '', spec.timeZone);
        if ('error' in schedule) {
          await ctx.event(
            'Warning',
            'UnparseableSchedule',
            `unparseable schedule: ${spec.schedule}: ${schedule.error}`,
          );
          return Action.awaitChange();
        }
        const jobs = (await ctx.client.list<Job>(JOBS, { namespace: ns })).items.filter((j) => isControlledBy(j, cj));
        let active = jobs.filter((j) => !finishedAs(j) && !j.metadata?.deletionTimestamp);
        const del = (j: Job) =>
          ctx.client.delete(JOBS, j.metadata!.name!, ns, { propagationPolicy: 'Background' }).catch((e: unknown) => {
            if (!isNotFound(e)) throw e;
          });

        const now = new Date();
        let lastScheduleTime = cj.status?.lastScheduleTime;
        const since = new Date(lastScheduleTime ?? cj.metadata.creationTimestamp ?? now.toISOString());
        const due = mostRecent(schedule, since, now);
        const late =
          due.time &&
          spec.startingDeadlineSeconds !== undefined &&
          now.getTime() - due.time.getTime() > spec.startingDeadlineSeconds * 1000;
        if (due.time && !spec.suspend && !late) {
          const policy = spec.concurrencyPolicy ?? 'Allow';
          if (policy === 'Forbid' && active.length) {
            // skipped for now; retried until the running Job ends or the deadline passes
          } else {
            if (policy === 'Replace' && active.length) {
              for (const j of active) {
                await del(j);
                await ctx.event('Normal', 'SuccessfulDelete', `Deleted job ${j.metadata!.name}`);
              }
              active = [];
            }
            const tpl = spec.jobTemplate ?? {};
            const job = {
              apiVersion: 'batch/v1',
              kind: 'Job',
              metadata: {
                name: jobName(name, due.time),
                namespace: ns,
                labels: { ...(tpl.metadata?.labels ?? {}) },
                annotations: {
                  ...(tpl.metadata?.annotations ?? {}),
                  [SCHEDULED_TIMESTAMP_ANNOTATION]: rfc3339(due.time),
                },
                ownerReferences: [controllerRef(cj, 'batch/v1', 'CronJob')],
              },
              spec: structuredClone(tpl.spec ?? {}),
            };
            try {
              const created = await ctx.client.create<Job>(JOBS, job as Job);
              active.push(created);
              await ctx.event('Normal', 'SuccessfulCreate', `Created job ${job.metadata.name}`);
            } catch (e) {
              // already created for this time (a retry after a lost status write)
              if ((e as { status?: number }).status !== 409) throw e;
            }
            lastScheduleTime = rfc3339(due.time);
          }
        }

        // finished Jobs beyond the history limits go, oldest first
        const finished = jobs.filter((j) => finishedAs(j) && !j.metadata?.deletionTimestamp);
        const byAge = (a: Job, b: Job) =>
          Date.parse(a.status?.startTime ?? a.metadata?.creationTimestamp ?? '') -
          Date.parse(b.status?.startTime ?? b.metadata?.creationTimestamp ?? '');
        for (const [kind, limit] of [
          ['Complete', spec.successfulJobsHistoryLimit ?? 3],
          ['Failed', spec.failedJobsHistoryLimit ?? 1],
        ] as const) {
          const old = finished.filter((j) => finishedAs(j) === kind).sort(byAge);
          for (const j of old.slice(0, Math.max(0, old.length - limit))) await del(j);
        }
        const succeeded = finished
          .filter((j) => finishedAs(j) === 'Complete' && j.status?.completionTime)
          .map((j) => j.status!.completionTime!)
          .sort();
        await ctx.patchStatus({
          active: active.length
            ? active.map((j) => ({
                apiVersion: 'batch/v1',
                kind: 'Job',
                name: j.metadata!.name,
                namespace: ns,
                uid: j.metadata!.uid,
                resourceVersion: j.metadata!.resourceVersion,
              }))
            : null,
          ...(lastScheduleTime ? { lastScheduleTime } : {}),
          ...(succeeded.length ? { lastSuccessfulTime: succeeded[succeeded.length - 1] } : {}),
        });
        // wake up at the next scheduled time (Forbid: retry soon while a Job still runs)
        const next = nextAfter(schedule, now);
        const wait = next ? next.getTime() - Date.now() + 100 : 60_000;
        return Action.requeue(Math.max(1000, Math.min(wait, 60_000)));
      },
    });
  }
}
