// The devcluster's scheduler: binds every Pod without spec.nodeName to the node with the fewest
// pods (ties: the first in order, so placement is deterministic). The API server has no
// pods/binding subresource, so the binding is a merge patch of spec.nodeName — what kubectl
// users see is the same (`kubectl get pods -o wide` shows the node). Of the scheduler's filters it
// has the inter-pod ones on kubernetes.io/hostname with matchLabels: required anti-affinity (the
// operator's: two replicas never share a node; with one node the second stays Pending, as on a
// real cluster) and required affinity (`cilium connectivity test`'s echo-same-node goes where its
// client is; Pending until such a pod is bound, unless the pod matches its own term and no pod
// does, the kube-scheduler's rule for the first pod of a group).
import { Action, type KubeObject, type Manager } from '../../controllers/framework/index.js';
import { PODS } from './runner.js';

interface AntiAffinityTerm {
  labelSelector?: { matchLabels?: Record<string, string> };
  topologyKey?: string;
}
type Pod = KubeObject & {
  spec?: {
    nodeName?: string;
    schedulerName?: string;
    affinity?: {
      podAntiAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: AntiAffinityTerm[] };
      podAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: AntiAffinityTerm[] };
    };
  };
  status?: { phase?: string };
};

/** Whether `other` matches `term` of `pod` (same namespace, hostname topology, matchLabels). */
function termMatches(pod: Pod, term: AntiAffinityTerm, other: Pod): boolean {
  if (other.metadata?.namespace !== pod.metadata?.namespace || term.topologyKey !== 'kubernetes.io/hostname')
    return false;
  return Object.entries(term.labelSelector?.matchLabels ?? {}).every(([k, v]) => other.metadata?.labels?.[k] === v);
}

/** Whether `other` matches a required anti-affinity term of `pod`. */
function repels(pod: Pod, other: Pod): boolean {
  if (other.metadata?.name === pod.metadata?.name && other.metadata?.namespace === pod.metadata?.namespace)
    return false;
  return (pod.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).some((t) =>
    termMatches(pod, t, other),
  );
}

/**
 * The nodes `pod`'s required affinity terms allow, given where the other pods are bound; undefined
 * when it has none or when no pod matches a term the pod matches itself (it may go anywhere).
 */
function affinityNodes(pod: Pod, where: Map<string, string>, byKey: Map<string, Pod>): Set<string> | undefined {
  const terms = pod.spec?.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  let allowed: Set<string> | undefined;
  for (const t of terms) {
    const nodes = new Set<string>();
    for (const [k, n] of where) {
      const other = byKey.get(k);
      if (other && other !== pod && termMatches(pod, t, other)) nodes.add(n);
    }
    if (nodes.size === 0 && termMatches(pod, t, pod)) continue;
    allowed = allowed ? new Set([...allowed].filter((n) => nodes.has(n))) : nodes;
  }
  return allowed;
}

export class Scheduler {
  /** Bindings this scheduler made: counted until the watch brings them (a burst spreads evenly). */
  private readonly bound = new Map<string, string>();

  constructor(private readonly nodes: string[]) {}

  register(manager: Manager): void {
    manager.add<Pod>({
      name: 'devcluster-scheduler',
      resource: PODS,
      reconcile: async (key, ctx) => {
        const pod = ctx.object;
        if (!pod || pod.spec?.nodeName || pod.metadata?.deletionTimestamp) {
          this.bound.delete(key);
          return Action.awaitChange();
        }
        const load = new Map(this.nodes.map((n) => [n, 0]));
        const where = new Map(this.bound);
        for (const p of ctx.store.list()) {
          const k = `${p.metadata?.namespace}/${p.metadata?.name}`;
          const done = p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
          if (p.spec?.nodeName && !done) where.set(k, p.spec.nodeName);
          else if (done) where.delete(k);
        }
        for (const n of where.values()) if (load.has(n)) load.set(n, (load.get(n) ?? 0) + 1);
        const byKey = new Map(ctx.store.list().map((p) => [`${p.metadata?.namespace}/${p.metadata?.name}`, p]));
        for (const [k, n] of where) {
          const other = byKey.get(k);
          if (other && repels(pod, other)) load.delete(n);
        }
        const affine = affinityNodes(pod, where, byKey);
        if (affine) for (const n of [...load.keys()]) if (!affine.has(n)) load.delete(n);
        const node = [...load.entries()].sort((a, b) => a[1] - b[1])[0]?.[0];
        if (!node) return Action.requeue(1000);
        await ctx.client.patch(
          PODS,
          pod.metadata!.name!,
          pod.metadata!.namespace,
          { spec: { nodeName: node } },
          'merge',
          { fieldManager: 'devcluster-scheduler' },
        );
        this.bound.set(key, node);
        await ctx.event('Normal', 'Scheduled', `Successfully assigned ${key} to ${node}`);
        return Action.awaitChange();
      },
    });
  }
}
