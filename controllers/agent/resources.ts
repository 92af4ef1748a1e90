// The API resources the agent watches and writes, the object shapes it reads, and its caches.
import type { KubeObject, ResourceRef, Store } from '../framework/index.js';
import type { CiliumIdentityObject } from './identity-allocator.js';
import type { EndpointSliceObject, ServiceObject } from './services/translate.js';

export const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
export const NAMESPACES: ResourceRef = {
  group: '',
  version: 'v1',
  plural: 'namespaces',
  kind: 'Namespace',
  namespaced: false,
};
export const NODES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false };
export const NETWORK_POLICIES: ResourceRef = {
  group: 'networking.k8s.io',
  version: 'v1',
  plural: 'networkpolicies',
  kind: 'NetworkPolicy',
  namespaced: true,
};
export const CNPS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnetworkpolicies',
  kind: 'CiliumNetworkPolicy',
  namespaced: true,
};
export const CCNPS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumclusterwidenetworkpolicies',
  kind: 'CiliumClusterwideNetworkPolicy',
  namespaced: false,
};
export const CEPS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumendpoints',
  kind: 'CiliumEndpoint',
  namespaced: true,
};
export const CILIUM_NODES: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnodes',
  kind: 'CiliumNode',
  namespaced: false,
};
export const CILIUM_IDENTITIES: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumidentities',
  kind: 'CiliumIdentity',
  namespaced: false,
};

export const SERVICES: ResourceRef = {
  group: '',
  version: 'v1',
  plural: 'services',
  kind: 'Service',
  namespaced: true,
};
export const ENDPOINT_SLICES: ResourceRef = {
  group: 'discovery.k8s.io',
  version: 'v1',
  plural: 'endpointslices',
  kind: 'EndpointSlice',
  namespaced: true,
};

export interface CiliumNodeObject extends KubeObject {
  spec?: { addresses?: { type?: string; ip?: string }[]; ipam?: { podCIDRs?: string[] } };
}

export interface CepObject extends KubeObject {
  status?: {
    identity?: { id?: number };
    networking?: { addressing?: { ipv4?: string }[]; node?: string };
    'named-ports'?: { name?: string; port: number; protocol?: string }[];
  };
}

/** The agent's informer caches, one per watched resource. */
export interface AgentStores {
  identity: Store<CiliumIdentityObject>;
  pod: Store<KubeObject>;
  ns: Store<KubeObject>;
  cnp: Store<KubeObject>;
  ccnp: Store<KubeObject>;
  np: Store<KubeObject>;
  cep: Store<CepObject>;
  cn: Store<CiliumNodeObject>;
  svc: Store<ServiceObject>;
  eps: Store<EndpointSliceObject>;
}
