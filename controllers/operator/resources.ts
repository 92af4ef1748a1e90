// The API resources the operator reads and writes.
import type { ResourceRef } from '../framework/index.js';

export const CILIUM_NODES: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnodes',
  kind: 'CiliumNode',
  namespaced: false,
};
export const CILIUM_ENDPOINTS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumendpoints',
  kind: 'CiliumEndpoint',
  namespaced: true,
};
export const CILIUM_IDENTITIES: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumidentities',
  kind: 'CiliumIdentity',
  namespaced: false,
};
export const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
export const NODES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false };
export const CNPS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnetworkpolicies',
  kind: 'CiliumNetworkPolicy',
  namespaced: true,
};
/** The cluster-wide kind: the same group and version, not namespaced. */
export const CCNPS: ResourceRef = {
  ...CNPS,
  plural: 'ciliumclusterwidenetworkpolicies',
  kind: 'CiliumClusterwideNetworkPolicy',
  namespaced: false,
};
