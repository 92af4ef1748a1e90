// The StatefulSet controller as kube-controller-manager runs it (pkg/controller/statefulset),
// without volumeClaimTemplates (the devcluster has no volumes to claim) and ControllerRevision
// objects (the revision is the template's hash, as in their names): pods with stable names
// `<set>-<ordinal>` (spec.ordinals.start upwards), hostname and subdomain set, labelled with
// their name, index and revision. OrderedReady (the default) creates one pod at a time in
// ordinal order once the previous ones are Running and Ready, and removes the highest ordinal
// first, one at a time; Parallel does both at once. RollingUpdate replaces pods of the old
// revision from the highest ordinal down to the partition, one at a time, each once the set is
// healthy; OnDelete leaves that to the user. The status is what `kubectl rollout status` reads.
import { Action, isNotFound, type KubeObject, type Manager } from '../../controllers/framework/index.js';
import {
  availableIn,
  controllerRef,
  isControlledBy,
  isPodReady,
  isTerminal,
  matchesSelector,
  podFromTemplate,
  PODS,
  selectorString,
  STATEFULSETS,
  templateHash,
  type LabelSelector,
  type Pod,
  type PodTemplate,
} from './objects.js';

export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';
export const REVISION_LABEL = 'controller-revision-hash';

export type StatefulSet = KubeObject & {
  spec?: {
    replicas?: number;
    selector?: LabelSelector;
    template?: PodTemplate;
    serviceName?: string;
    podManagementPolicy?: 'OrderedReady' | 'Parallel';
    updateStrategy?: { type?: 'RollingUpdate' | 'OnDelete'; rollingUpdate?: { partition?: number } };
    ordinals?: { start?: number };
    minReadySeconds?: number;
  };
  status?: { currentRevision?: string; updateRevision?: string; collisionCount?: number };
};

/** The ordinal of a pod of the set (`<set>-<n>`), undefined for a name that is not one. */
export function ordinalOf(set: string, pod: string): number | undefined {
  if (!pod.startsWith(`${set}-`)) return undefined;
  const rest = pod.slice(set.length + 1);
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : undefined;
}

const runningAndReady = (p: Pod): boolean => p.status?.phase === 'Running' && isPodReady(p);

/** What one reconcile does next: the steps are computed purely, then applied. */
export interface SetPlan {
  create: number[];
  /** Pods to delete: failed or finished ones to re-create, condemned ones, or one to update. */
  delete: string[];
}

/**
 * The next steps for a set given its pods (upstream's StatefulSetControl.UpdateStatefulSet, in
 * one pass): re-create finished pods, create missing ones, remove condemned ones (ordinal out of
 * range), then roll one pod of an old revision.
 */
export function planStatefulSet(set: StatefulSet, pods: Pod[], updateRevision: string): SetPlan {
  const name = set.metadata?.name ?? '';
  const spec = set.spec ?? {};
  const start = spec.ordinals?.start ?? 0;
  const replicas = spec.replicas ?? 1;
  const ordered = (spec.podManagementPolicy ?? 'OrderedReady') === 'OrderedReady';
  const byOrdinal = new Map<number, Pod>();
  for (const p of pods) {
    const n = ordinalOf(name, p.metadata?.name ?? '');
    if (n !== undefined) byOrdinal.set(n, p);
  }
  const plan: SetPlan = { create: [], delete: [] };
  const inRange = (n: number) => n >= start && n < start + replicas;
  // 1. a finished pod in range is replaced (deleted now, created again once it is gone)
  for (const [n, p] of byOrdinal)
    if (inRange(n) && isTerminal(p) && !p.metadata?.deletionTimestamp) plan.delete.push(p.metadata!.name!);
  if (ordered && plan.delete.length) return { create: [], delete: plan.delete.slice(0, 1) };
  // 2. creation in ordinal order; OrderedReady waits for each pod to be Running and Ready
  for (let n = start; n < start + replicas; n++) {
    const p = byOrdinal.get(n);
    if (!p) {
      plan.create.push(n);
      if (ordered) return plan;
      continue;
    }
    if (ordered && (p.metadata?.deletionTimestamp || !runningAndReady(p))) return plan;
  }
  // 3. condemned pods, highest ordinal first; OrderedReady one at a time, once none is terminating
  const condemned = [...byOrdinal.entries()].filter(([n]) => !inRange(n)).sort(([a], [b]) => b - a);
  if (condemned.length) {
    if (!ordered) return { ...plan, delete: [...plan.delete, ...condemned.map(([, p]) => p.metadata!.name!)] };
    const [, highest] = condemned[0]!;
    if (!condemned.some(([, p]) => p.metadata?.deletionTimestamp)) plan.delete.push(highest.metadata!.name!);
    return plan;
  }
  // 4. rolling update: one pod of an old revision, from the top down to the partition, when all are healthy
  if ((spec.updateStrategy?.type ?? 'RollingUpdate') !== 'RollingUpdate') return plan;
  const all = [...byOrdinal.values()];
  if (plan.create.length || all.some((p) => p.metadata?.deletionTimestamp || !runningAndReady(p))) return plan;
  const partition = spec.updateStrategy?.rollingUpdate?.partition ?? 0;
  for (let n = start + replicas - 1; n >= start + partition; n--) {
    const p = byOrdinal.get(n);
    if (p && p.metadata?.labels?.[REVISION_LABEL] !== updateRevision) {
      plan.delete.push(p.metadata!.name!);
      break;
    }
  }
  return plan;
}

export class StatefulSetController {
  register(manager: Manager): void {
    manager.add<StatefulSet>({
      name: 'statefulset-controller',
      resource: STATEFULSETS,
      secondary: [{ resource: PODS, mapper: 'owner' }],
      concurrency: 2,
      reconcile: async (_key, ctx) => {
        const set = ctx.object;
        if (!set?.metadata?.name || set.metadata.deletionTimestamp) return Action.awaitChange();
        const name = set.metadata.name;
        const ns = set.metadata.namespace ?? 'default';
        const spec = set.spec ?? {};
        const { items } = await ctx.client.list<Pod>(PODS, {
          namespace: ns,
          labelSelector: selectorString(spec.selector),
        });
        const pods = items.filter((p) => isControlledBy(p, set) && matchesSelector(spec.selector, p.metadata?.labels));
        const updateRevision = `${name}-${templateHash(spec.template ?? {}, set.status?.collisionCount ?? 0)}`;
        const plan = planStatefulSet(set, pods, updateRevision);
        const owner = controllerRef(set, 'apps/v1', 'StatefulSet');
        let retry = false;
        for (const n of plan.create) {
          const podName = `${name}-${n}`;
          const pod = podFromTemplate(spec.template ?? {}, {
            namespace: ns,
            generateName: '',
            labels: { [POD_NAME_LABEL]: podName, [POD_INDEX_LABEL]: String(n), [REVISION_LABEL]: updateRevision },
            owner,
          });
          delete pod.metadata!.generateName;
          pod.metadata!.name = podName;
          (pod.spec as Record<string, unknown>).hostname = podName;
          if (spec.serviceName) (pod.spec as Record<string, unknown>).subdomain = spec.serviceName;
          try {
            await ctx.client.create(PODS, pod);
            await ctx.event('Normal', 'SuccessfulCreate', `create Pod ${podName} in StatefulSet ${name} successful`);
          } catch (e) {
            // the previous pod of that name is still going away: come back when it is gone
            if ((e as { status?: number }).status === 409) retry = true;
            else throw e;
          }
        }
        for (const podName of plan.delete) {
          await ctx.client.delete(PODS, podName, ns).catch((e: unknown) => {
            if (!isNotFound(e)) throw e;
          });
          await ctx.event('Normal', 'SuccessfulDelete', `delete Pod ${podName} in StatefulSet ${name} successful`);
        }

        const replicas = spec.replicas ?? 1;
        const counted = pods.filter((p) => {
          const n = ordinalOf(name, p.metadata?.name ?? '');
          return n !== undefined && !p.metadata?.deletionTimestamp && !isTerminal(p);
        });
        const updated = counted.filter((p) => p.metadata?.labels?.[REVISION_LABEL] === updateRevision).length;
        const ready = counted.filter(isPodReady).length;
        const min = spec.minReadySeconds ?? 0;
        const available = counted.filter((p) => availableIn(p, min) === 0).length;
        // the update is complete once every replica runs the new revision and is ready
        const complete = updated === replicas && ready === replicas && counted.length === replicas;
        const currentRevision = complete || !set.status?.currentRevision ? updateRevision : set.status.currentRevision;
        const current = counted.filter((p) => p.metadata?.labels?.[REVISION_LABEL] === currentRevision).length;
        await ctx.patchStatus({
          observedGeneration: set.metadata.generation ?? 1,
          replicas: counted.length,
          readyReplicas: ready,
          availableReplicas: available,
          currentReplicas: current,
          updatedReplicas: updated,
          currentRevision,
          updateRevision,
          collisionCount: set.status?.collisionCount ?? 0,
        });
        return retry ? Action.requeue(500) : Action.awaitChange();
      },
    });
  }
}
