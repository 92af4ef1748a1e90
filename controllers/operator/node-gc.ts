// CiliumNode garbage collection as upstream's operator does it: one whose Kubernetes Node is gone is
// marked; still without a Node a `nodes-gc-interval` later, it is deleted (uid precondition). The
// mark lives in memory, as upstream's: a new leader starts counting again. A CiliumNode owned by
// its Node (owner reference) is left to the Kubernetes garbage collector.
import {
  Action,
  isConflict,
  isNotFound,
  type ControllerOptions,
  type KubeObject,
  type Store,
} from '../framework/index.js';
import type { GcOptions } from './gc.js';
import { CILIUM_NODES, NODES } from './resources.js';

/** A store of Kubernetes Nodes (only their names matter to the CiliumNode GC). */
export function nodeStoreController(): ControllerOptions<KubeObject> {
  return {
    name: 'cilium-operator-node-cache',
    resource: NODES,
    generationFilter: false,
    reconcile: async () => Action.awaitChange(),
  };
}

export function nodeGcController(
  nodes: () => Store<KubeObject>,
  o: GcOptions,
  now: () => number = Date.now,
): ControllerOptions<KubeObject> {
  /** CiliumNode name → when it was first seen without its Node. */
  const marked = new Map<string, number>();
  return {
    name: 'cilium-operator-node-gc',
    resource: CILIUM_NODES,
    generationFilter: false,
    resyncMs: o.nodeGcIntervalMs,
    async reconcile(key, ctx) {
      const cn = ctx.object;
      await nodes().waitUntilReady();
      if (!cn || nodes().get(key) || cn.metadata?.ownerReferences?.some((r) => r.kind === 'Node')) {
        marked.delete(key);
        return cn ? Action.requeue(o.nodeGcIntervalMs) : Action.awaitChange();
      }
      const since = marked.get(key);
      if (since === undefined) {
        marked.set(key, now());
        ctx.log.info({ node: key }, 'CiliumNode has no Kubernetes Node; marking it for deletion');
        return Action.requeue(o.nodeGcIntervalMs);
      }
      if (now() - since < o.nodeGcIntervalMs) return Action.requeue(o.nodeGcIntervalMs - (now() - since));
      marked.delete(key);
      try {
        await ctx.client.delete(CILIUM_NODES, key, undefined, { preconditions: { uid: cn.metadata?.uid } });
        ctx.log.info({ node: key }, 'Garbage collected CiliumNode of a deleted node');
      } catch (e) {
        if (!isConflict(e) && !isNotFound(e)) throw e;
      }
      return Action.awaitChange();
    },
  };
}
