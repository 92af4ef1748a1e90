// The ReplicaSet controller as kube-controller-manager runs it (pkg/controller/replicaset): keeps
// spec.replicas active pods of the template, owned by the ReplicaSet, and reports replicas,
// readyReplicas, availableReplicas and observedGeneration. Pods are listed from the API server on
// each reconcile (a consistent read instead of kube's expectations).
import { Action, isNotFound, type KubeObject, type Manager } from '../../controllers/framework/index.js';
import {
  availableIn,
  controllerRef,
  isControlledBy,
  isPodActive,
  isPodReady,
  matchesSelector,
  podFromTemplate,
  PODS,
  REPLICASETS,
  selectorString,
  type LabelSelector,
  type Pod,
  type PodTemplate,
} from './objects.js';

export type ReplicaSet = KubeObject & {
  spec?: { replicas?: number; minReadySeconds?: number; selector?: LabelSelector; template?: PodTemplate };
  status?: Record<string, unknown> & { replicas?: number; availableReplicas?: number; readyReplicas?: number };
};

/** The order kube deletes surplus pods in: unscheduled, then not ready, then the newest. */
function deletionRank(p: Pod): number[] {
  return [p.spec?.nodeName ? 1 : 0, isPodReady(p) ? 1 : 0, -(Date.parse(p.metadata?.creationTimestamp ?? '') || 0)];
}

function byRank(a: Pod, b: Pod): number {
  const x = deletionRank(a);
  const y = deletionRank(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

export class ReplicaSetController {
  register(manager: Manager): void {
    manager.add<ReplicaSet>({
      name: 'replicaset-controller',
      resource: REPLICASETS,
      secondary: [{ resource: PODS, mapper: 'owner' }],
      concurrency: 4,
      reconcile: async (_key, ctx) => {
        const rs = ctx.object;
        if (!rs?.metadata?.name || rs.metadata.deletionTimestamp) return Action.awaitChange();
        const ns = rs.metadata.namespace ?? 'default';
        const spec = rs.spec ?? {};
        const { items } = await ctx.client.list<Pod>(PODS, {
          namespace: ns,
          labelSelector: selectorString(spec.selector),
        });
        const owned = items.filter((p) => isControlledBy(p, rs) && matchesSelector(spec.selector, p.metadata?.labels));
        const active = owned.filter(isPodActive);
        const want = spec.replicas ?? 1;
        if (active.length < want) {
          const owner = controllerRef(rs, 'apps/v1', 'ReplicaSet');
          await Promise.all(
            Array.from({ length: want - active.length }, () =>
              ctx.client.create(
                PODS,
                podFromTemplate(spec.template ?? {}, { namespace: ns, generateName: `${rs.metadata!.name}-`, owner }),
              ),
            ),
          );
        } else if (active.length > want) {
          const surplus = [...active].sort(byRank).slice(0, active.length - want);
          await Promise.all(
            surplus.map((p) =>
              ctx.client.delete(PODS, p.metadata!.name!, ns).catch((e: unknown) => {
                if (!isNotFound(e)) throw e;
              }),
            ),
          );
        }
        const min = spec.minReadySeconds ?? 0;
        let available = 0;
        let soonest: number | undefined;
        for (const p of active) {
          const t = availableIn(p, min);
          if (t === 0) available++;
          else if (t !== undefined) soonest = Math.min(soonest ?? t, t);
        }
        await ctx.patchStatus({
          ...(rs.status ?? {}),
          replicas: active.length,
          fullyLabeledReplicas: active.length,
          readyReplicas: active.filter(isPodReady).length,
          availableReplicas: available,
          observedGeneration: rs.metadata.generation ?? 1,
        });
        return soonest !== undefined ? Action.requeue(soonest + 50) : Action.awaitChange();
      },
    });
  }
}
