// Garbage collection as upstream's operator does it (operator/identitygc/crd_gc.go, operator/endpointgc/gc.go):
// - CiliumIdentity: an identity no CiliumEndpoint references is marked with the
//   `io.cilium.heartbeat` annotation; still unused a heartbeat timeout later, it is deleted with a
//   {uid, resourceVersion} precondition (a conflict means an agent reclaimed it) under a rate limit.
//   The mark lives on the object, so an operator restart does not reset the clock (#28339).
// - CiliumEndpoint: deleted (uid precondition) when its owning Pod is gone or finished, or its
//   owning CiliumNode is gone.
// - CiliumNode: one whose Kubernetes Node is gone is marked; still without a Node a
//   `nodes-gc-interval` later, it is deleted (uid precondition). The mark lives in memory, as
//   upstream's: a new leader starts counting again. A CiliumNode owned by its Node (owner
//   reference) is left to the Kubernetes garbage collector.
import {
  Action,
  isConflict,
  isNotFound,
  type ControllerOptions,
  type KubeObject,
  type Store,
} from '../framework/index.js';
import { CILIUM_ENDPOINTS, CILIUM_IDENTITIES, CILIUM_NODES, NODES, PODS } from './resources.js';

export const HEARTBEAT_ANNOTATION = 'io.cilium.heartbeat';

export interface GcOptions {
  /** `identity-gc-interval` (upstream 15m); how often each identity is looked at. */
  identityGcIntervalMs: number;
  /** `identity-heartbeat-timeout` (upstream 30m); how long a marked identity must stay unused. */
  identityHeartbeatTimeoutMs: number;
  /** `identity-gc-rate-limit` per `identity-gc-rate-interval` (upstream 2500 per 1m). */
  identityGcRateLimit: number;
  identityGcRateIntervalMs: number;
  /** `cilium-endpoint-gc-interval` (upstream 5m). */
  endpointGcIntervalMs: number;
  /** `nodes-gc-interval` (upstream 5m): how long a CiliumNode without a Node lives, at least. */
  nodeGcIntervalMs: number;
}

export const GC_DEFAULTS: GcOptions = {
  identityGcIntervalMs: 15 * 60_000,
  identityHeartbeatTimeoutMs: 30 * 60_000,
  identityGcRateLimit: 2500,
  identityGcRateIntervalMs: 60_000,
  endpointGcIntervalMs: 5 * 60_000,
  nodeGcIntervalMs: 5 * 60_000,
};

interface Cep extends KubeObject {
  status?: { identity?: { id?: number } };
}

/** A store of CiliumEndpoints indexed by identity, kept by a do-nothing controller. */
export function endpointIndexController(): ControllerOptions<Cep> {
  return {
    name: 'cilium-operator-cep-index',
    resource: CILIUM_ENDPOINTS,
    generationFilter: false,
    store: {
      indexers: { identity: (o) => (o.status?.identity?.id !== undefined ? [String(o.status.identity.id)] : []) },
    },
    reconcile: async () => Action.awaitChange(),
  };
}

export function identityGcController(
  ceps: () => Store<Cep>,
  o: GcOptions,
  now: () => number = Date.now,
): ControllerOptions<KubeObject> {
  let windowStart = 0;
  let deletedInWindow = 0;
  return {
    name: 'cilium-operator-identity-gc',
    resource: CILIUM_IDENTITIES,
    generationFilter: false,
    resyncMs: o.identityGcIntervalMs,
    async reconcile(key, ctx) {
      const id = ctx.object;
      if (!id) return Action.awaitChange();
      const store = ceps();
      await store.waitUntilReady();
      const mark = id.metadata?.annotations?.[HEARTBEAT_ANNOTATION];
      if (store.byIndex('identity', key).length > 0) {
        if (mark)
          await ctx.client.patch(
            CILIUM_IDENTITIES,
            key,
            undefined,
            { metadata: { annotations: { [HEARTBEAT_ANNOTATION]: null } } },
            'merge',
          );
        return Action.requeue(o.identityGcIntervalMs);
      }
      if (!mark) {
        await ctx.client.patch(
          CILIUM_IDENTITIES,
          key,
          undefined,
          { metadata: { annotations: { [HEARTBEAT_ANNOTATION]: new Date(now()).toISOString() } } },
          'merge',
        );
        ctx.log.info({ identity: key }, 'Marking identity for later deletion');
        return Action.requeue(o.identityHeartbeatTimeoutMs);
      }
      const age = now() - Date.parse(mark);
      if (!(age >= o.identityHeartbeatTimeoutMs))
        return Action.requeue(Math.max(1, o.identityHeartbeatTimeoutMs - (Number.isFinite(age) ? age : 0)));
      if (now() - windowStart > o.identityGcRateIntervalMs) {
        windowStart = now();
        deletedInWindow = 0;
      }
      if (deletedInWindow >= o.identityGcRateLimit)
        return Action.requeue(o.identityGcRateIntervalMs - (now() - windowStart));
      deletedInWindow++;
      try {
        await ctx.client.delete(CILIUM_IDENTITIES, key, undefined, {
          preconditions: { uid: id.metadata?.uid, resourceVersion: id.metadata?.resourceVersion },
        });
        ctx.log.info({ identity: key }, 'Garbage collected identity');
      } catch (e) {
        if (!isConflict(e) && !isNotFound(e)) throw e;
      }
      return Action.awaitChange();
    },
  };
}

interface Pod extends KubeObject {
  status?: { phase?: string };
}

export function endpointGcController(
  pods: () => Store<Pod>,
  nodes: () => Store<KubeObject>,
  o: GcOptions,
): ControllerOptions<KubeObject> {
  return {
    name: 'cilium-operator-endpoint-gc',
    resource: CILIUM_ENDPOINTS,
    generationFilter: false,
    resyncMs: o.endpointGcIntervalMs,
    secondary: [{ resource: PODS, mapper: (p) => [`${p.metadata?.namespace}/${p.metadata?.name}`] }],
    async reconcile(key, ctx) {
      const cep = ctx.object;
      if (!cep) return Action.awaitChange();
      await Promise.all([pods().waitUntilReady(), nodes().waitUntilReady()]);
      const owner = cep.metadata?.ownerReferences?.[0];
      let keep: boolean;
      if (owner?.kind === 'CiliumNode') keep = Boolean(nodes().get(owner.name));
      else {
        const pod = pods().get(`${cep.metadata?.namespace}/${owner?.kind === 'Pod' ? owner.name : cep.metadata?.name}`);
        keep =
          Boolean(pod) &&
          (!owner || pod!.metadata?.uid === owner.uid) &&
          pod!.status?.phase !== 'Succeeded' &&
          pod!.status?.phase !== 'Failed';
      }
      if (keep) return Action.requeue(o.endpointGcIntervalMs);
      try {
        await ctx.client.delete(CILIUM_ENDPOINTS, cep.metadata!.name!, cep.metadata?.namespace, {
          propagationPolicy: 'Background',
          preconditions: { uid: cep.metadata?.uid },
        });
        ctx.log.info({ cep: key }, 'Garbage collected CiliumEndpoint of a pod that is gone');
      } catch (e) {
        if (!isConflict(e) && !isNotFound(e)) throw e;
      }
      return Action.awaitChange();
    },
  };
}

/** A store of Pods (phase and uid are what the endpoint GC reads). */
export function podStoreController(): ControllerOptions<Pod> {
  return {
    name: 'cilium-operator-pod-cache',
    resource: PODS,
    generationFilter: false,
    reconcile: async () => Action.awaitChange(),
  };
}

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
