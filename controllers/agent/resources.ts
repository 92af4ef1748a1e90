// The API resources the agent watches and writes, the object shapes it reads, and its caches.
import type { KubeObject, ResourceRef, Store, StoreOptions } from '../framework/index.js';
import { canonicalJson } from './canonical-json.js';
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
  /**
   * Not the API's: the cache's record of a CEP this node's agent wrote, its whole status as
   * canonical JSON, so that a restarted agent does not rewrite the statuses that are already right.
   */
  localStatus?: string;
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

/**
 * The metadata the agent reads of a watched object: its key, resourceVersion (relist diffs), uid
 * and creationTimestamp (which CiliumEndpoint owns a reused IP). Labels, annotations, owner
 * references and managedFields are dropped: at 50,000 objects they are most of the cache.
 */
function trimMetadata(m: KubeObject['metadata'], keepUid = true): KubeObject['metadata'] {
  if (!m) return m;
  return {
    name: m.name,
    ...(m.namespace ? { namespace: internNamespace(m.namespace) } : {}),
    ...(keepUid && m.uid ? { uid: m.uid } : {}),
    ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
    ...(m.creationTimestamp ? { creationTimestamp: m.creationTimestamp } : {}),
  };
}

/**
 * One string per namespace name: every object parsed from the API carries its own copy, and a
 * namespace holds hundreds of pods. Bounded by the namespaces the cluster ever had.
 */
const namespaceNames = new Map<string, string>();
function internNamespace(ns: string): string {
  const held = namespaceNames.get(ns);
  if (held !== undefined) return held;
  namespaceNames.set(ns, ns);
  return ns;
}

/**
 * A CiliumEndpoint as the agent keeps it (the store transform): identity id, IPv4 addresses and
 * named ports — what the ipcache, the named-port feed and Hubble's lookups read. Not the uid nor
 * the node (nothing reads them), and apiVersion and kind as shared constants: at 50,000 remote
 * pods each field is about a MiB (bench: hack/bench/scale-memory-parts.ts).
 */
export function trimCep(o: CepObject, nodeName?: string): CepObject {
  const s = o.status;
  const networking = s?.networking;
  const local = nodeName !== undefined && s && o.metadata?.labels?.[CEP_NODE_LABEL] === nodeName;
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumEndpoint',
    metadata: trimMetadata(o.metadata, false),
    ...(local ? { localStatus: canonicalJson(s) } : {}),
    ...(s
      ? {
          status: {
            ...(s.identity?.id !== undefined ? { identity: { id: s.identity.id } } : {}),
            ...(networking
              ? {
                  networking: {
                    addressing: (networking.addressing ?? []).flatMap((a) => (a.ipv4 ? [{ ipv4: a.ipv4 }] : [])),
                  },
                }
              : {}),
            ...(s['named-ports']?.length
              ? {
                  'named-ports': s['named-ports'].map((p) => ({
                    ...(p.name ? { name: p.name } : {}),
                    port: p.port,
                    ...(p.protocol ? { protocol: p.protocol } : {}),
                  })),
                }
              : {}),
          },
        }
      : {}),
  };
}

/** The label an agent puts on the CiliumEndpoints it writes: its node's name. */
export const CEP_NODE_LABEL = 'cilium.io/node';

/**
 * The agent's CiliumEndpoint cache: trimmed objects, indexed by IPv4 address (Hubble's IP
 * lookups); the CEPs of `nodeName` keep their status as canonical JSON (`localStatus`).
 */
export function cepStoreOptions(nodeName?: string): StoreOptions<CepObject> {
  return {
    transform: (o) => trimCep(o, nodeName),
    indexers: { ip: (o) => (o.status?.networking?.addressing ?? []).flatMap((a) => (a.ipv4 ? [a.ipv4] : [])) },
  };
}

/** A CiliumIdentity as the agent keeps it: its id (the name) and security labels. */
export function trimIdentity(o: CiliumIdentityObject): CiliumIdentityObject {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: trimMetadata(o.metadata),
    ...(o['security-labels'] ? { 'security-labels': o['security-labels'] } : {}),
  };
}

/**
 * A CiliumNode as the agent keeps it: metadata (labels and annotations too: one per node, and
 * routing may read them) and the whole spec; the status (IPAM bookkeeping) is dropped.
 */
export function trimCiliumNode(o: CiliumNodeObject): CiliumNodeObject {
  const { managedFields: _m, ...metadata } = o.metadata ?? {};
  return { apiVersion: o.apiVersion, kind: o.kind, metadata, ...(o.spec ? { spec: o.spec } : {}) };
}
