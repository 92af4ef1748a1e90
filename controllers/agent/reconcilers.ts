// The agent's controller table: which watched resource feeds which handler, and the informer
// caches that come with them. The handlers live with their nouns (policy reconciler, endpoint
// manager, node registration, ipcache); this file only says what watches what.
import type { PolicyObject } from '../../policy/index.js';
import type { Action, KubeObject, Manager, ReconcileContext, ResourceRef } from '../framework/index.js';
import type { CiliumIdentityObject } from './identity-allocator.js';
import * as R from './resources.js';
import { sliceIndexers } from './services/reconciler.js';
import type { EndpointSliceObject, ServiceObject } from './services/translate.js';

export interface AgentHandlers {
  nodeName: string;
  identity: (key: string, ctx: ReconcileContext<CiliumIdentityObject>) => Promise<Action>;
  /** a pod of this node (`namespace/name`) */
  pod: (namespace: string, name: string) => Promise<Action>;
  namespace: (name: string) => Promise<Action>;
  policy: (kind: PolicyObject['kind'], key: string, ctx: ReconcileContext<KubeObject>) => Promise<Action>;
  ciliumNode: (key: string, ctx: ReconcileContext<R.CiliumNodeObject>) => Promise<Action>;
  service: (key: string) => Promise<Action>;
  endpointSlice: (key: string) => Promise<Action>;
}

/** Adds every agent controller to the manager; returns their caches. */
export function addReconcilers(m: Manager, h: AgentHandlers): R.AgentStores {
  const policy = (resource: ResourceRef, kind: PolicyObject['kind']) =>
    m.add<KubeObject>({ name: `policy-${resource.plural}`, resource, reconcile: (k, ctx) => h.policy(kind, k, ctx) })
      .store;
  return {
    identity: m.add<CiliumIdentityObject>({
      name: 'cilium-identity',
      resource: R.CILIUM_IDENTITIES,
      generationFilter: false,
      store: { transform: R.trimIdentity },
      reconcile: h.identity,
    }).store,
    pod: m.add<KubeObject>({
      name: 'pod',
      resource: R.PODS,
      generationFilter: false,
      watcher: { fieldSelector: `spec.nodeName=${h.nodeName}` },
      reconcile: (key) => {
        const [ns, name] = key.split('/') as [string, string];
        return h.pod(ns, name);
      },
    }).store,
    ns: m.add<KubeObject>({
      name: 'namespace',
      resource: R.NAMESPACES,
      generationFilter: false,
      reconcile: (key) => h.namespace(key),
    }).store,
    cnp: policy(R.CNPS, 'CiliumNetworkPolicy'),
    ccnp: policy(R.CCNPS, 'CiliumClusterwideNetworkPolicy'),
    np: policy(R.NETWORK_POLICIES, 'NetworkPolicy'),
    cep: m.add<R.CepObject>({
      name: 'ciliumendpoint',
      resource: R.CEPS,
      generationFilter: false,
      store: R.cepStoreOptions(h.nodeName),
      // an informer only: the ipcache and the named-port feed subscribe to its store
    }).store,
    cn: m.add<R.CiliumNodeObject>({
      name: 'ciliumnode',
      resource: R.CILIUM_NODES,
      generationFilter: false,
      store: { transform: R.trimCiliumNode },
      reconcile: h.ciliumNode,
    }).store,
    svc: m.add<ServiceObject>({
      name: 'service',
      resource: R.SERVICES,
      generationFilter: false,
      reconcile: (key) => h.service(key),
    }).store,
    eps: m.add<EndpointSliceObject>({
      name: 'endpointslice',
      resource: R.ENDPOINT_SLICES,
      generationFilter: false,
      store: { indexers: sliceIndexers },
      reconcile: (key) => h.endpointSlice(key),
    }).store,
  };
}
