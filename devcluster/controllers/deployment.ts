// The Deployment controller as kube-controller-manager runs it (pkg/controller/deployment): one
// ReplicaSet per pod template, named <deployment>-<pod-template-hash> and labelled with
// pod-template-hash; scaling; RollingUpdate within maxSurge/maxUnavailable and Recreate; the
// status fields and the Available/Progressing conditions `kubectl rollout status` reads.
import { Action, isNotFound, type KubeObject, type Manager } from '../../controllers/framework/index.js';
import {
  canonical,
  condition,
  controllerRef,
  DEPLOYMENTS,
  isControlledBy,
  REPLICASETS,
  scaled,
  templateHash,
  withCondition,
  type Condition,
  type LabelSelector,
  type PodTemplate,
} from './objects.js';
import type { ReplicaSet } from './replicaset.js';

export const POD_TEMPLATE_HASH = 'pod-template-hash';
const REVISION = 'deployment.kubernetes.io/revision';

export type Deployment = KubeObject & {
  spec?: {
    replicas?: number;
    paused?: boolean;
    minReadySeconds?: number;
    revisionHistoryLimit?: number;
    selector?: LabelSelector;
    template?: PodTemplate;
    strategy?: {
      type?: 'RollingUpdate' | 'Recreate';
      rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string };
    };
  };
  status?: { conditions?: Condition[]; collisionCount?: number };
};

const specReplicas = (rs: ReplicaSet): number => rs.spec?.replicas ?? 0;
const statusOf = (rs: ReplicaSet, k: 'replicas' | 'readyReplicas' | 'availableReplicas'): number =>
  Number(rs.status?.[k] ?? 0);
const sum = (rss: ReplicaSet[], f: (rs: ReplicaSet) => number): number => rss.reduce((n, rs) => n + f(rs), 0);

/** The RS template without its hash label, to compare with the deployment's (EqualIgnoreHash). */
function templateWithoutHash(rs: ReplicaSet): string {
  const t = structuredClone(rs.spec?.template ?? {});
  if (t.metadata?.labels) {
    delete t.metadata.labels[POD_TEMPLATE_HASH];
    if (!Object.keys(t.metadata.labels).length) delete t.metadata.labels;
  }
  return canonical(t);
}

export class DeploymentController {
  register(manager: Manager): void {
    manager.add<Deployment>({
      name: 'deployment-controller',
      resource: DEPLOYMENTS,
      secondary: [{ resource: REPLICASETS, mapper: 'owner' }],
      concurrency: 2,
      reconcile: async (_key, ctx) => {
        const d = ctx.object;
        if (!d?.metadata?.name || d.metadata.deletionTimestamp) return Action.awaitChange();
        const ns = d.metadata.namespace ?? 'default';
        const spec = d.spec ?? {};
        const replicas = spec.replicas ?? 1;
        const { items } = await ctx.client.list<ReplicaSet>(REPLICASETS, { namespace: ns });
        const owned = items.filter((rs) => isControlledBy(rs, d) && !rs.metadata?.deletionTimestamp);
        const want = canonical(spec.template ?? {});
        let newRS = owned.find((rs) => templateWithoutHash(rs) === want);
        const old = owned
          .filter((rs) => rs !== newRS)
          .sort((a, b) => (a.metadata?.creationTimestamp ?? '').localeCompare(b.metadata?.creationTimestamp ?? ''));
        const revisionOf = (rs: ReplicaSet): number => Number(rs.metadata?.annotations?.[REVISION] ?? 0);

        const rolling = spec.strategy?.type !== 'Recreate';
        let maxSurge = rolling ? scaled(spec.strategy?.rollingUpdate?.maxSurge, replicas, true, '25%') : 0;
        let maxUnavailable = rolling
          ? scaled(spec.strategy?.rollingUpdate?.maxUnavailable, replicas, false, '25%')
          : replicas;
        if (rolling && maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
        maxSurge = Math.max(0, maxSurge);
        maxUnavailable = Math.min(Math.max(0, maxUnavailable), replicas);

        const scale = async (rs: ReplicaSet, n: number): Promise<void> => {
          if (specReplicas(rs) === n) return;
          await ctx.client.patch(REPLICASETS, rs.metadata!.name!, ns, { spec: { replicas: n } }, 'merge', {
            fieldManager: 'deployment-controller',
          });
          rs.spec = { ...rs.spec, replicas: n };
        };

        if (!spec.paused) {
          const oldActive = old.filter((rs) => specReplicas(rs) > 0 || statusOf(rs, 'replicas') > 0);
          if (!newRS) {
            const hash = templateHash(spec.template ?? {}, d.status?.collisionCount ?? 0);
            const template = structuredClone(spec.template ?? {});
            template.metadata = {
              ...template.metadata,
              labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH]: hash },
            };
            const selector: LabelSelector = {
              ...spec.selector,
              matchLabels: { ...(spec.selector?.matchLabels ?? {}), [POD_TEMPLATE_HASH]: hash },
            };
            // Scaled up at once when nothing old runs (a new deployment, or Recreate once the old pods are gone).
            const initial = oldActive.length ? 0 : replicas;
            const body: ReplicaSet = {
              apiVersion: 'apps/v1',
              kind: 'ReplicaSet',
              metadata: {
                name: `${d.metadata.name}-${hash}`,
                namespace: ns,
                labels: { ...(spec.template?.metadata?.labels ?? {}), [POD_TEMPLATE_HASH]: hash },
                annotations: {
                  [REVISION]: String(Math.max(0, ...owned.map(revisionOf)) + 1),
                  'deployment.kubernetes.io/desired-replicas': String(replicas),
                  'deployment.kubernetes.io/max-replicas': String(replicas + maxSurge),
                },
                ownerReferences: [controllerRef(d, 'apps/v1', 'Deployment')],
              },
              spec: { replicas: initial, minReadySeconds: spec.minReadySeconds ?? 0, selector, template },
            };
            newRS = await ctx.client.create(REPLICASETS, body);
            await ctx.event(
              'Normal',
              'ScalingReplicaSet',
              `Scaled up replica set ${body.metadata!.name} from 0 to ${initial}`,
            );
          }
          const nrs = newRS;
          if (!oldActive.length) {
            await scale(nrs, replicas);
          } else if (!rolling) {
            for (const rs of oldActive) await scale(rs, 0);
            if (sum(oldActive, (rs) => statusOf(rs, 'replicas')) === 0) await scale(nrs, replicas);
          } else {
            // Scale up the new ReplicaSet within maxSurge (rolling.go reconcileNewReplicaSet).
            const all = [nrs, ...oldActive];
            const total = sum(all, specReplicas);
            if (specReplicas(nrs) < replicas && total < replicas + maxSurge)
              await scale(nrs, Math.min(replicas, specReplicas(nrs) + replicas + maxSurge - total));
            else if (specReplicas(nrs) > replicas) await scale(nrs, replicas);
            // Scale old ones down while keeping replicas - maxUnavailable available (reconcileOldReplicaSets).
            const minAvailable = replicas - maxUnavailable;
            const allTotal = sum(all, specReplicas);
            const newUnavailable = specReplicas(nrs) - statusOf(nrs, 'availableReplicas');
            let budget = allTotal - minAvailable - newUnavailable;
            // first the old pods that are not available anyway
            for (const rs of oldActive) {
              if (budget <= 0) break;
              const unhealthy = specReplicas(rs) - statusOf(rs, 'availableReplicas');
              const n = Math.min(unhealthy, budget);
              if (n > 0) {
                await scale(rs, specReplicas(rs) - n);
                budget -= n;
              }
            }
            const available = sum(all, (rs) => Math.min(statusOf(rs, 'availableReplicas'), specReplicas(rs)));
            let down = Math.min(budget, available - minAvailable);
            for (const rs of oldActive) {
              if (down <= 0) break;
              const n = Math.min(specReplicas(rs), down);
              if (n > 0) {
                await scale(rs, specReplicas(rs) - n);
                down -= n;
              }
            }
          }
          // revisionHistoryLimit: old ReplicaSets scaled to zero beyond the limit go.
          const limit = spec.revisionHistoryLimit ?? 10;
          const idle = old.filter((rs) => specReplicas(rs) === 0 && statusOf(rs, 'replicas') === 0);
          for (const rs of idle.slice(0, Math.max(0, idle.length - limit)))
            await ctx.client.delete(REPLICASETS, rs.metadata!.name!, ns).catch((e: unknown) => {
              if (!isNotFound(e)) throw e;
            });
        }

        const all = newRS ? [newRS, ...old] : old;
        const available = sum(all, (rs) => statusOf(rs, 'availableReplicas'));
        const updated = newRS ? statusOf(newRS, 'replicas') : 0;
        const total = sum(all, (rs) => statusOf(rs, 'replicas'));
        const complete =
          !!newRS &&
          updated === replicas &&
          total === replicas &&
          statusOf(newRS, 'availableReplicas') === replicas &&
          specReplicas(newRS) === replicas;
        let conditions = withCondition(
          d.status?.conditions,
          available >= replicas - maxUnavailable
            ? {
                type: 'Available',
                status: 'True',
                reason: 'MinimumReplicasAvailable',
                message: 'Deployment has minimum availability.',
                lastUpdateTime: '',
              }
            : {
                type: 'Available',
                status: 'False',
                reason: 'MinimumReplicasUnavailable',
                message: 'Deployment does not have minimum availability.',
                lastUpdateTime: '',
              },
        );
        const rsName = newRS?.metadata?.name ?? '';
        const progressing = condition(d, 'Progressing');
        conditions = withCondition(conditions, {
          type: 'Progressing',
          status: 'True',
          reason: complete ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
          message: complete
            ? `ReplicaSet "${rsName}" has successfully progressed.`
            : `ReplicaSet "${rsName}" is progressing.`,
          lastUpdateTime: progressing?.lastUpdateTime ?? '',
        });
        await ctx.patchStatus({
          observedGeneration: d.metadata.generation ?? 1,
          replicas: total,
          updatedReplicas: updated,
          readyReplicas: sum(all, (rs) => statusOf(rs, 'readyReplicas')),
          availableReplicas: available,
          unavailableReplicas: Math.max(0, sum(all, specReplicas) - available),
          conditions,
          ...(d.status?.collisionCount ? { collisionCount: d.status.collisionCount } : {}),
        });
        return Action.awaitChange();
      },
    });
  }
}
