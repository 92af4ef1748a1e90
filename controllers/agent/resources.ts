// The API resources the agent watches and writes.
import type { ResourceRef } from '../framework/index.js';

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
