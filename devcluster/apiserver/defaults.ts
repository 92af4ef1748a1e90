// The defaults kube-apiserver fills into built-in workload kinds (pkg/apis/apps/v1/defaults.go,
// pkg/apis/batch/v1/defaults.go and the Job strategy's generated selector), which kubectl and
// controllers read: `kubectl rollout status ds` refuses a DaemonSet without
// updateStrategy.type=RollingUpdate, and a Job's pods are found by its controller-uid label.
import type { ResourceInfo } from './resources.js';
import type { KubeObject } from './store.js';

type Obj = Record<string, unknown>;

function at(o: Obj, key: string): Obj {
  const v = o[key];
  if (v && typeof v === 'object' && !Array.isArray(v)) return v as Obj;
  const fresh: Obj = {};
  o[key] = fresh;
  return fresh;
}

function dflt(o: Obj, key: string, value: unknown): void {
  if (o[key] === undefined || o[key] === null) o[key] = value;
}

/** Pod template defaults (bare pods are left as written). */
function podSpecDefaults(spec: Obj): void {
  dflt(spec, 'restartPolicy', 'Always');
  dflt(spec, 'terminationGracePeriodSeconds', 30);
  dflt(spec, 'dnsPolicy', 'ClusterFirst');
  dflt(spec, 'schedulerName', 'default-scheduler');
  dflt(spec, 'securityContext', {});
}

export function applyBuiltinDefaults(r: ResourceInfo, obj: KubeObject): void {
  if (!r.builtin) return;
  const key = `${r.group}/${r.kind}`;
  const kinds = [
    'apps/Deployment',
    'apps/ReplicaSet',
    'apps/DaemonSet',
    'apps/StatefulSet',
    'batch/Job',
    'batch/CronJob',
  ];
  if (!kinds.includes(key)) return;
  const spec = at(obj, 'spec');
  if (key === 'batch/CronJob') {
    dflt(spec, 'concurrencyPolicy', 'Allow');
    dflt(spec, 'suspend', false);
    dflt(spec, 'successfulJobsHistoryLimit', 3);
    dflt(spec, 'failedJobsHistoryLimit', 1);
    podSpecDefaults(at(at(at(at(spec, 'jobTemplate'), 'spec'), 'template'), 'spec'));
    return;
  }
  podSpecDefaults(at(at(spec, 'template'), 'spec'));
  switch (key) {
    case 'apps/Deployment': {
      dflt(spec, 'replicas', 1);
      dflt(spec, 'revisionHistoryLimit', 10);
      dflt(spec, 'progressDeadlineSeconds', 600);
      const strategy = at(spec, 'strategy');
      dflt(strategy, 'type', 'RollingUpdate');
      if (strategy.type === 'RollingUpdate') {
        const ru = at(strategy, 'rollingUpdate');
        dflt(ru, 'maxUnavailable', '25%');
        dflt(ru, 'maxSurge', '25%');
      }
      break;
    }
    case 'apps/ReplicaSet':
      dflt(spec, 'replicas', 1);
      break;
    case 'apps/StatefulSet': {
      dflt(spec, 'replicas', 1);
      dflt(spec, 'podManagementPolicy', 'OrderedReady');
      dflt(spec, 'revisionHistoryLimit', 10);
      const strategy = at(spec, 'updateStrategy');
      dflt(strategy, 'type', 'RollingUpdate');
      if (strategy.type === 'RollingUpdate') dflt(at(strategy, 'rollingUpdate'), 'partition', 0);
      const retention = at(spec, 'persistentVolumeClaimRetentionPolicy');
      dflt(retention, 'whenDeleted', 'Retain');
      dflt(retention, 'whenScaled', 'Retain');
      break;
    }
    case 'apps/DaemonSet': {
      dflt(spec, 'revisionHistoryLimit', 10);
      const strategy = at(spec, 'updateStrategy');
      dflt(strategy, 'type', 'RollingUpdate');
      if (strategy.type === 'RollingUpdate') {
        const ru = at(strategy, 'rollingUpdate');
        dflt(ru, 'maxUnavailable', 1);
        dflt(ru, 'maxSurge', 0);
      }
      break;
    }
    case 'batch/Job': {
      if (spec.completions === undefined && spec.parallelism === undefined) {
        spec.completions = 1;
        spec.parallelism = 1;
      }
      dflt(spec, 'parallelism', 1);
      dflt(spec, 'backoffLimit', 6);
      dflt(spec, 'completionMode', 'NonIndexed');
      dflt(spec, 'suspend', false);
      dflt(spec, 'manualSelector', undefined);
      const uid = obj.metadata.uid;
      if (uid && spec.manualSelector !== true) {
        // the Job strategy generates the selector from the uid and labels the template with it
        const labels = { 'batch.kubernetes.io/controller-uid': uid, 'controller-uid': uid };
        const name = obj.metadata.name ?? '';
        spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
        const meta = at(at(spec, 'template'), 'metadata');
        meta.labels = {
          ...((meta.labels as Record<string, string> | undefined) ?? {}),
          ...labels,
          'batch.kubernetes.io/job-name': name,
          'job-name': name,
        };
      }
      if (spec.manualSelector === undefined) delete spec.manualSelector;
      break;
    }
  }
}
