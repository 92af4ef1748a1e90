// CiliumEndpoint garbage collection as upstream's operator does it (operator/endpointgc/gc.go): a CEP
// is deleted (uid precondition) when its owning Pod is gone or finished, or its owning CiliumNode
// is gone. Every CEP is looked at once per interval (the controller's resync) and when it or its pod
// changes; the deletes run on several workers so that the client's rate limit (upstream's 100 QPS,
// `operator-k8s-client-qps`), not one round trip after another, sets their pace.
import {
  Action,
  isConflict,
  isNotFound,
  type ControllerOptions,
  type KubeObject,
  type Store,
} from '../framework/index.js';
import { GC_WORKERS, type GcOptions } from './gc.js';
import { CILIUM_ENDPOINTS, PODS } from './resources.js';

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
    concurrency: GC_WORKERS,
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
      // the resync looks again within the interval (a requeue as well would look twice)
      if (keep) return Action.awaitChange();
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
