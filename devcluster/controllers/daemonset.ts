// The DaemonSet controller as kube-controller-manager runs it (pkg/controller/daemon): one pod
// per eligible node (nodeSelector), bound with spec.nodeName, a new node gets one, pods of
// removed nodes go; a template change replaces pods node by node within maxUnavailable
// (RollingUpdate) and the status carries what `kubectl rollout status ds` reads.
import {
  Action,
  isNotFound,
  type Controller,
  type KubeObject,
  type Manager,
} from '../../controllers/framework/index.js';
import {
  availableIn,
  controllerRef,
  DAEMONSETS,
  isControlledBy,
  isPodActive,
  isPodReady,
  NODES,
  podFromTemplate,
  PODS,
  scaled,
  selectorString,
  templateHash,
  type LabelSelector,
  type Pod,
  type PodTemplate,
} from './objects.js';

export const CONTROLLER_REVISION_HASH = 'controller-revision-hash';

export type DaemonSet = KubeObject & {
  spec?: {
    selector?: LabelSelector;
    template?: PodTemplate & { spec?: { nodeSelector?: Record<string, string> } };
    minReadySeconds?: number;
    updateStrategy?: { type?: 'RollingUpdate' | 'OnDelete'; rollingUpdate?: { maxUnavailable?: number | string } };
  };
};

type Node = KubeObject & { spec?: { unschedulable?: boolean } };

export class DaemonSetController {
  register(manager: Manager): void {
    const controller: Controller<DaemonSet> = manager.add<DaemonSet>({
      name: 'daemonset-controller',
      resource: DAEMONSETS,
      secondary: [
        { resource: PODS, mapper: 'owner' },
        // a node added, relabelled or removed concerns every DaemonSet
        { resource: NODES, mapper: (): string[] => [...controller.store.keys()] },
      ],
      reconcile: async (_key, ctx) => {
        const ds = ctx.object;
        if (!ds?.metadata?.name || ds.metadata.deletionTimestamp) return Action.awaitChange();
        const ns = ds.metadata.namespace ?? 'default';
        const spec = ds.spec ?? {};
        const hash = templateHash(spec.template ?? {});
        const nodeSelector = spec.template?.spec?.nodeSelector ?? {};
        const nodes = (await ctx.client.list<Node>(NODES)).items.filter((n) =>
          Object.entries(nodeSelector).every(([k, v]) => n.metadata?.labels?.[k] === v),
        );
        const eligible = new Set(nodes.map((n) => n.metadata?.name ?? ''));
        const pods = (
          await ctx.client.list<Pod>(PODS, { namespace: ns, labelSelector: selectorString(spec.selector) })
        ).items.filter((p) => isControlledBy(p, ds) && isPodActive(p));
        const byNode = new Map<string, Pod[]>();
        for (const p of pods) {
          const n = p.spec?.nodeName ?? '';
          byNode.set(n, [...(byNode.get(n) ?? []), p]);
        }
        const del = (p: Pod): Promise<unknown> =>
          ctx.client.delete(PODS, p.metadata!.name!, ns).catch((e: unknown) => {
            if (!isNotFound(e)) throw e;
          });
        const owner = controllerRef(ds, 'apps/v1', 'DaemonSet');
        const create = (node: string): Promise<unknown> =>
          ctx.client.create(
            PODS,
            podFromTemplate(spec.template ?? {}, {
              namespace: ns,
              generateName: `${ds.metadata!.name}-`,
              labels: {
                [CONTROLLER_REVISION_HASH]: hash,
                'pod-template-generation': String(ds.metadata?.generation ?? 1),
              },
              owner,
              nodeName: node,
            }),
          );
        const min = spec.minReadySeconds ?? 0;
        const isAvailable = (p: Pod): boolean => availableIn(p, min) === 0;
        const rollingMax = Math.max(
          1,
          scaled(spec.updateStrategy?.rollingUpdate?.maxUnavailable, nodes.length, true, '1'),
        );
        let unavailable = 0;
        for (const name of eligible) {
          const mine = byNode.get(name) ?? [];
          if (!mine.some(isAvailable)) unavailable++;
        }
        const work: Promise<unknown>[] = [];
        for (const [node, mine] of byNode) {
          if (!eligible.has(node)) work.push(...mine.map(del));
          else if (mine.length > 1) work.push(...mine.slice(1).map(del));
        }
        for (const node of eligible) {
          const mine = byNode.get(node) ?? [];
          if (!mine.length) work.push(create(node));
          else if (
            spec.updateStrategy?.type !== 'OnDelete' &&
            mine[0]?.metadata?.labels?.[CONTROLLER_REVISION_HASH] !== hash &&
            (!isAvailable(mine[0]!) || unavailable < rollingMax)
          ) {
            // an old pod goes; the next reconcile (its deletion) creates the new one
            if (isAvailable(mine[0]!)) unavailable++;
            work.push(del(mine[0]!));
          }
        }
        await Promise.all(work);
        const onEligible = pods.filter((p) => eligible.has(p.spec?.nodeName ?? ''));
        const current = new Set(onEligible.map((p) => p.spec?.nodeName));
        const updated = onEligible.filter((p) => p.metadata?.labels?.[CONTROLLER_REVISION_HASH] === hash);
        const available = onEligible.filter(isAvailable).length;
        await ctx.patchStatus({
          desiredNumberScheduled: eligible.size,
          currentNumberScheduled: current.size,
          numberMisscheduled: pods.filter((p) => !eligible.has(p.spec?.nodeName ?? '')).length,
          numberReady: onEligible.filter(isPodReady).length,
          numberAvailable: available,
          numberUnavailable: Math.max(0, eligible.size - available),
          updatedNumberScheduled: new Set(updated.map((p) => p.spec?.nodeName)).size,
          observedGeneration: ds.metadata.generation ?? 1,
        });
        return Action.awaitChange();
      },
    });
  }
}
