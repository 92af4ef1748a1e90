// CiliumIdentity garbage collection as upstream's operator does it (operator/identitygc/crd_gc.go): an
// identity no CiliumEndpoint references is marked with the `io.cilium.heartbeat` annotation; still
// unused a heartbeat timeout later, it is deleted with a {uid, resourceVersion} precondition (a
// conflict means an agent reclaimed it) under a rate limit. The mark lives on the object, so an
// operator restart does not reset the clock (#28339). An identity is not marked before it is a
// heartbeat timeout old: upstream's heartbeat store counts its creation (a CID upsert) as a sign of
// life, and an agent creates the identity before the CiliumEndpoint that uses it (marking every new
// identity cost a PATCH each, 1,128 in 20 s of churn at scale).
import {
  Action,
  isConflict,
  isNotFound,
  type ControllerOptions,
  type KubeObject,
  type Store,
} from '../framework/index.js';
import { GC_WORKERS, type GcOptions } from './gc.js';
import { CILIUM_ENDPOINTS, CILIUM_IDENTITIES } from './resources.js';

export const HEARTBEAT_ANNOTATION = 'io.cilium.heartbeat';

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
    // marks and deletes paced by the client's rate limit, not by round trips (50,000 marks one after
    // another at 20 ms would outlast the interval); the window counters below are checked and taken
    // before any await, so the workers share them safely
    concurrency: GC_WORKERS,
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
        const born = Date.parse(id.metadata?.creationTimestamp ?? '');
        const young = o.identityHeartbeatTimeoutMs - (now() - born);
        if (young > 0) return Action.requeue(young);
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
