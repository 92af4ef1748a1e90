// The RBAC each component gets in dist/install.yaml, resolved from ServiceAccount through the
// bindings to the rules, compared with the allowed list documented here. Widening a component's
// access means changing cdk8s/rbac.ts (with the reason) and this list, in one reviewed commit.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type KubeObject, parseManifests } from './kube-schema.js';
import { REPO } from './tools.js';

/**
 * The documented allowed list: "<apiGroup>/<resource>[<names>]: verbs" per ServiceAccount, where
 * the core group is written as "core". Cluster-wide unless prefixed with "ns:".
 */
const ALLOWED: Record<string, string[]> = {
  cilium: [
    'apiextensions.k8s.io/customresourcedefinitions: get list watch',
    'cilium.io/ciliumclusterwidenetworkpolicies: get list watch',
    'cilium.io/ciliumclusterwidenetworkpolicies/status: patch update',
    'cilium.io/ciliumendpoints: create delete get list patch update watch',
    'cilium.io/ciliumendpoints/status: patch update',
    'cilium.io/ciliumidentities: create get list update watch',
    'cilium.io/ciliumnetworkpolicies: get list watch',
    'cilium.io/ciliumnetworkpolicies/status: patch update',
    'cilium.io/ciliumnodes: create get list patch update watch',
    'cilium.io/ciliumnodes/status: patch update',
    'core/namespaces: get list watch',
    'core/nodes: get list watch',
    'core/pods: get list watch',
    'core/services: get list watch',
    'discovery.k8s.io/endpointslices: get list watch',
    'networking.k8s.io/networkpolicies: get list watch',
  ],
  'cilium-operator': [
    'apiextensions.k8s.io/customresourcedefinitions: get list watch',
    // the policy validator (validate-network-policy) reads every policy and writes its Valid condition
    'cilium.io/ciliumclusterwidenetworkpolicies: get list watch',
    'cilium.io/ciliumclusterwidenetworkpolicies/status: patch update',
    'cilium.io/ciliumendpoints: delete get list watch',
    'cilium.io/ciliumidentities: delete get list patch update watch',
    'cilium.io/ciliumnetworkpolicies: get list watch',
    'cilium.io/ciliumnetworkpolicies/status: patch update',
    'cilium.io/ciliumnodes: delete get list patch update watch',
    'cilium.io/ciliumnodes/status: patch update',
    'core/nodes: get list watch',
    'core/pods: get list watch',
    'ns:coordination.k8s.io/leases: create',
    'ns:coordination.k8s.io/leases[cilium-operator-resource-lock]: get update',
  ],
  // the L7 proxies' DaemonSet (external-l7-proxy, on by default): its rules come from the agent over a
  // unix socket, it never talks to the API server, so no grant and no token (asserted below)
  'cilium-l7proxy': [],
  'hubble-relay': [],
  'hubble-ui': [
    'cilium.io/ciliumclusterwidenetworkpolicies: get list watch',
    'cilium.io/ciliumendpoints: get list watch',
    'cilium.io/ciliumidentities: get list watch',
    'cilium.io/ciliumnetworkpolicies: get list watch',
    'core/namespaces: get list watch',
    'networking.k8s.io/networkpolicies: get list watch',
  ],
};

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
const objects = parseManifests(readFileSync(join(REPO, 'dist', 'install.yaml'), 'utf8'));
const of = (kind: string) => objects.filter((o) => o.kind === kind);

/** The access of one ServiceAccount, one line per (group, resource, names) with sorted verbs. */
function accessOf(sa: string, ns: string): string[] {
  const lines = new Map<string, Set<string>>();
  const bindings = [...of('ClusterRoleBinding'), ...of('RoleBinding')].filter((b) =>
    (b.subjects as { kind: string; name: string; namespace?: string }[]).some(
      (s) => s.kind === 'ServiceAccount' && s.name === sa && s.namespace === ns,
    ),
  );
  for (const b of bindings) {
    const ref = b.roleRef as { kind: string; name: string };
    const role = objects.find(
      (o) =>
        o.kind === ref.kind &&
        o.metadata.name === ref.name &&
        (ref.kind === 'ClusterRole' || o.metadata.namespace === b.metadata.namespace),
    );
    if (!role) throw new Error(`${b.kind} ${b.metadata.name} refers to a missing ${ref.kind} ${ref.name}`);
    const prefix = b.kind === 'RoleBinding' ? 'ns:' : '';
    for (const r of role.rules as Rule[]) {
      for (const g of r.apiGroups) {
        for (const res of r.resources) {
          const key = `${prefix}${g === '' ? 'core' : g}/${res}${r.resourceNames ? `[${r.resourceNames.join(',')}]` : ''}`;
          const verbs = lines.get(key) ?? new Set<string>();
          for (const v of r.verbs) verbs.add(v);
          lines.set(key, verbs);
        }
      }
    }
  }
  return [...lines].map(([k, v]) => `${k}: ${[...v].sort().join(' ')}`).sort();
}

describe('RBAC', () => {
  it('each component has exactly the documented access', () => {
    const accounts = of('ServiceAccount')
      .map((o) => o.metadata.name)
      .sort();
    expect(accounts).toEqual(Object.keys(ALLOWED).sort());
    for (const sa of accounts)
      expect({ sa, access: accessOf(sa, 'kube-system') }).toEqual({ sa, access: [...ALLOWED[sa]!].sort() });
  });

  it('no rule uses a wildcard, and nothing grants Secrets', () => {
    const rules = [...of('ClusterRole'), ...of('Role')].flatMap((o: KubeObject) => o.rules as Rule[]);
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) {
      for (const field of [r.apiGroups, r.resources, r.verbs, r.resourceNames ?? []])
        expect(field.some((x) => x.includes('*'))).toBe(false);
      expect(r.resources).not.toContain('secrets');
    }
  });

  it('the agent cannot read Secrets, and relay has no API token', () => {
    expect(accessOf('cilium', 'kube-system').some((l) => l.startsWith('core/secrets'))).toBe(false);
    const relaySa = of('ServiceAccount').find((o) => o.metadata.name === 'hubble-relay')!;
    expect(relaySa.automountServiceAccountToken).toBe(false);
  });

  it('cilium-l7proxy has no API token: neither its ServiceAccount nor its pod mounts one', () => {
    const sa = of('ServiceAccount').find((o) => o.metadata.name === 'cilium-l7proxy')!;
    expect(sa.automountServiceAccountToken).toBe(false);
    const ds = of('DaemonSet').find((o) => o.metadata.name === 'cilium-l7proxy')!;
    const pod = (ds.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    expect(pod.serviceAccountName).toBe('cilium-l7proxy');
    expect(pod.automountServiceAccountToken).toBe(false);
    // no projected token volume either
    expect(JSON.stringify(pod.volumes)).not.toMatch(/serviceAccountToken/);
  });

  it('the comparison notices an extra grant', () => {
    const widened = structuredClone(objects.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'cilium')!);
    (widened.rules as Rule[]).push({ apiGroups: [''], resources: ['secrets'], verbs: ['get'] });
    const idx = objects.findIndex((o) => o.kind === 'ClusterRole' && o.metadata.name === 'cilium');
    const saved = objects[idx]!;
    objects[idx] = widened;
    try {
      expect(accessOf('cilium', 'kube-system')).toContain('core/secrets: get');
      expect(accessOf('cilium', 'kube-system')).not.toEqual(ALLOWED.cilium);
    } finally {
      objects[idx] = saved;
    }
  });
});
