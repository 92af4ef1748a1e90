// API discovery, legacy (APIVersions, APIGroupList, APIGroup, APIResourceList) and aggregated
// (apidiscovery.k8s.io/v2 APIGroupDiscoveryList, chosen through the Accept header), rebuilt
// whenever the registry changes (a CRD became Established or went away).
import { hasScale } from './scale.js';
import { VERBS, type Registry, type ResourceInfo } from './resources.js';

/** The TokenRequest subresource of ServiceAccounts (auth/token-request.ts). */
const TOKEN_SUBRESOURCE = {
  singularName: '',
  namespaced: true,
  group: 'authentication.k8s.io',
  version: 'v1',
  kind: 'TokenRequest',
  verbs: ['create'],
};

export const AGGREGATED_CT = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

export function wantsAggregated(accept: string | undefined): boolean {
  if (!accept) return false;
  return /as=APIGroupDiscoveryList/.test(accept.split(',')[0] ?? '') && /v=v2(;|$)/.test(accept.split(',')[0] ?? '');
}

function sortGroups(names: string[]): string[] {
  // Core first, then built-in groups, then CRD groups, alphabetically: stable output for kubectl.
  return [...names].sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)));
}

export function apiVersions(address: string): unknown {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: address }],
  };
}

function groupEntry(name: string, versions: string[]): unknown {
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: vs, preferredVersion: vs[0] };
}

export function apiGroupList(reg: Registry): unknown {
  const groups = reg.groups(true);
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: sortGroups([...groups.keys()].filter((g) => g !== '')).map((g) => groupEntry(g, groups.get(g) ?? [])),
  };
}

export function apiGroup(reg: Registry, group: string): unknown | undefined {
  const vs = reg.groups(true).get(group);
  if (!vs) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...(groupEntry(group, vs) as object) };
}

export function apiResourceList(reg: Registry, group: string, version: string): unknown | undefined {
  const rs = reg.served().filter((r) => r.group === group && r.version === version);
  if (!rs.length) return undefined;
  const resources: unknown[] = [];
  for (const r of rs.sort((a, b) => a.plural.localeCompare(b.plural))) {
    const e: Record<string, unknown> = {
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs ?? VERBS,
    };
    if (r.shortNames.length) e.shortNames = r.shortNames;
    if (r.categories.length) e.categories = r.categories;
    resources.push(e);
    if (r.statusSubresource)
      resources.push({
        name: `${r.plural}/status`,
        singularName: '',
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['get', 'patch', 'update'],
      });
    if (r.kind === 'Namespace')
      resources.push({
        name: 'namespaces/finalize',
        singularName: '',
        namespaced: false,
        kind: 'Namespace',
        verbs: ['update'],
      });
    if (hasScale(r))
      resources.push({
        name: `${r.plural}/scale`,
        singularName: '',
        namespaced: true,
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
        verbs: ['get', 'patch', 'update'],
      });
    if (r.kind === 'Pod' && r.builtin) {
      resources.push({ name: 'pods/binding', singularName: '', namespaced: true, kind: 'Binding', verbs: ['create'] });
      // proxied to the node's kubelet (kubelet-proxy.ts)
      resources.push({
        name: 'pods/exec',
        singularName: '',
        namespaced: true,
        kind: 'PodExecOptions',
        verbs: ['create', 'get'],
      });
      resources.push({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
    }
    if (r.kind === 'ServiceAccount' && r.builtin)
      resources.push({ name: 'serviceaccounts/token', ...TOKEN_SUBRESOURCE });
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}

function discoveryResource(r: ResourceInfo): unknown {
  const e: Record<string, unknown> = {
    resource: r.plural,
    responseKind: { group: r.group, version: r.version, kind: r.kind },
    scope: r.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: r.singular,
    verbs: r.verbs ?? VERBS,
  };
  if (r.shortNames.length) e.shortNames = r.shortNames;
  if (r.categories.length) e.categories = r.categories;
  if (r.statusSubresource)
    e.subresources = [
      {
        subresource: 'status',
        responseKind: { group: r.group, version: r.version, kind: r.kind },
        verbs: ['get', 'patch', 'update'],
      },
    ];
  if (hasScale(r))
    e.subresources = [
      ...((e.subresources as unknown[] | undefined) ?? []),
      {
        subresource: 'scale',
        responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
        verbs: ['get', 'patch', 'update'],
      },
    ];
  if (r.kind === 'ServiceAccount' && r.builtin)
    e.subresources = [
      {
        subresource: 'token',
        responseKind: { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' },
        verbs: ['create'],
      },
    ];
  return e;
}

/** `/api` (core only) or `/apis` (every other group) in the aggregated format. */
export function aggregated(reg: Registry, core: boolean): unknown {
  const groups = reg.groups(true);
  const names = sortGroups([...groups.keys()].filter((g) => (core ? g === '' : g !== '')));
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    metadata: {},
    items: names.map((g) => ({
      metadata: { name: g },
      versions: (groups.get(g) ?? []).map((v) => ({
        version: v,
        freshness: 'Current',
        resources: reg
          .served()
          .filter((r) => r.group === g && r.version === v)
          .sort((a, b) => a.plural.localeCompare(b.plural))
          .map(discoveryResource),
      })),
    })),
  };
}
