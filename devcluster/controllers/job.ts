// The Job controller as kube-controller-manager runs it (pkg/controller/job), without indexed
// completions, pod failure policies and success policies: up to `parallelism` pods at a time
// until `completions` succeeded (Complete), or more than `backoffLimit` failed (Failed) — with
// restartPolicy OnFailure the kubelet restarts failing containers in place, and their restarts
// count against backoffLimit instead (pastBackoffLimitOnFailure); status
// active/ready/succeeded/failed, startTime, completionTime.
import { Action, isNotFound, type KubeObject, type Manager } from '../../controllers/framework/index.js';
import {
  controllerRef,
  isControlledBy,
  isPodActive,
  isPodReady,
  JOBS,
  nowIso,
  podFromTemplate,
  PODS,
  withCondition,
  type Condition,
  type Pod,
  type PodTemplate,
} from './objects.js';

export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
export const CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';

export type Job = KubeObject & {
  spec?: {
    completions?: number;
    parallelism?: number;
    backoffLimit?: number;
    suspend?: boolean;
    template?: PodTemplate;
  };
  status?: { conditions?: Condition[]; startTime?: string; completionTime?: string };
};

/**
 * Upstream's pastBackoffLimitOnFailure: with restartPolicy OnFailure a failing container is
 * restarted by the kubelet, not replaced, so the container restarts of the Job's running and
 * pending pods count as its failures: at least backoffLimit of them (any, when the limit is 0) fail the Job.
 */
export function pastBackoffLimitOnFailure(job: Job, pods: Pod[]): boolean {
  if ((job.spec?.template?.spec as { restartPolicy?: string } | undefined)?.restartPolicy !== 'OnFailure') return false;
  let restarts = 0;
  for (const p of pods) {
    if (p.status?.phase !== 'Running' && p.status?.phase !== 'Pending') continue;
    const st = p.status as {
      initContainerStatuses?: { restartCount?: number }[];
      containerStatuses?: { restartCount?: number }[];
    };
    for (const c of [...(st.initContainerStatuses ?? []), ...(st.containerStatuses ?? [])])
      restarts += c.restartCount ?? 0;
  }
  const limit = job.spec?.backoffLimit ?? 6;
  return limit === 0 ? restarts > 0 : restarts >= limit;
}

const finished = (j: Job): boolean =>
  (j.status?.conditions ?? []).some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');

export class JobController {
  register(manager: Manager): void {
    manager.add<Job>({
      name: 'job-controller',
      resource: JOBS,
      secondary: [{ resource: PODS, mapper: 'owner' }],
      concurrency: 2,
      reconcile: async (_key, ctx) => {
        const job = ctx.object;
        if (!job?.metadata?.name || !job.metadata.uid || job.metadata.deletionTimestamp) return Action.awaitChange();
        const ns = job.metadata.namespace ?? 'default';
        const spec = job.spec ?? {};
        const uid = job.metadata.uid;
        const pods = (
          await ctx.client.list<Pod>(PODS, { namespace: ns, labelSelector: `${CONTROLLER_UID_LABEL}=${uid}` })
        ).items.filter((p) => isControlledBy(p, job));
        const active = pods.filter(isPodActive);
        const succeeded = pods.filter((p) => p.status?.phase === 'Succeeded').length;
        const failed = pods.filter((p) => p.status?.phase === 'Failed').length;
        const parallelism = spec.parallelism ?? 1;
        // kube defaults completions to 1 only when neither is set; nil completions = a work queue
        const completions = spec.completions ?? (spec.parallelism === undefined ? 1 : undefined);
        const backoffLimit = spec.backoffLimit ?? 6;
        const del = (p: Pod): Promise<unknown> =>
          ctx.client.delete(PODS, p.metadata!.name!, ns).catch((e: unknown) => {
            if (!isNotFound(e)) throw e;
          });

        let conditions = job.status?.conditions;
        let completionTime = job.status?.completionTime;
        if (!finished(job)) {
          const done = completions === undefined ? succeeded > 0 && !active.length : succeeded >= completions;
          if (failed > backoffLimit || pastBackoffLimitOnFailure(job, active)) {
            await Promise.all(active.map(del));
            const c = {
              reason: 'BackoffLimitExceeded',
              message: 'Job has reached the specified backoff limit',
            } as const;
            conditions = withCondition(conditions, { type: 'FailureTarget', status: 'True', ...c });
            conditions = withCondition(conditions, { type: 'Failed', status: 'True', ...c });
            await ctx.event('Warning', 'BackoffLimitExceeded', c.message);
          } else if (done) {
            await Promise.all(active.map(del));
            const c = { reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' } as const;
            conditions = withCondition(conditions, { type: 'SuccessCriteriaMet', status: 'True', ...c });
            conditions = withCondition(conditions, { type: 'Complete', status: 'True', ...c });
            completionTime = nowIso();
            await ctx.event('Normal', 'Completed', 'Job completed');
          } else if (!spec.suspend) {
            const want = Math.min(
              parallelism,
              completions === undefined ? (succeeded ? 0 : parallelism) : completions - succeeded,
            );
            const owner = controllerRef(job, 'batch/v1', 'Job');
            const labels = {
              [CONTROLLER_UID_LABEL]: uid,
              [JOB_NAME_LABEL]: job.metadata.name,
              'controller-uid': uid,
              'job-name': job.metadata.name,
            };
            // The cached Job may predate our own Failed/Complete status (a pod deleted at the
            // failure wakes us before the cache has it): read it before replacing pods.
            const fresh = active.length < want ? await ctx.client.get<Job>(JOBS, job.metadata.name, ns) : job;
            if (active.length < want && !finished(fresh))
              await Promise.all(
                Array.from({ length: want - active.length }, () =>
                  ctx.client.create(
                    PODS,
                    podFromTemplate(spec.template ?? {}, {
                      namespace: ns,
                      generateName: `${job.metadata!.name}-`,
                      labels,
                      owner,
                    }),
                  ),
                ),
              );
            else if (active.length > want) await Promise.all(active.slice(want).map(del));
          }
        }
        await ctx.patchStatus({
          startTime: job.status?.startTime ?? nowIso(),
          active: finished({ status: { conditions } }) ? 0 : active.length,
          ready: active.filter(isPodReady).length,
          succeeded,
          failed,
          terminating: pods.filter((p) => p.metadata?.deletionTimestamp).length,
          ...(conditions ? { conditions } : {}),
          ...(completionTime ? { completionTime } : {}),
        });
        return Action.awaitChange();
      },
    });
  }
}
