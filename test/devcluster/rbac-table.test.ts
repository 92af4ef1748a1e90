// RBAC decision table: request attributes from method and path (requestinfo.go), rule matching
// (rbac/v1 evaluation_helpers.go), binding resolution (rbac.go), aggregation and the bootstrap
// roles, and the 403 message of every denial (responsewriters/errors.go). Each row names the
// upstream behaviour it pins; a check is [user, "METHOD /path?query", expected decision, message?].
import { describe, expect, it } from '@jest/globals';
import { requestAttributes } from '../../devcluster/apiserver/auth/attributes.js';
import { bootstrapPolicy } from '../../devcluster/apiserver/auth/bootstrap-policy.js';
import { RbacAuthorizer, type PolicyRule, type Subject } from '../../devcluster/apiserver/auth/rbac.js';
import { anonymous, serviceAccountGroups, type UserInfo } from '../../devcluster/apiserver/auth/user.js';
import { forbiddenRequest } from '../../devcluster/apiserver/errors.js';
import type { KubeObject } from '../../devcluster/apiserver/store.js';

type Check = [user: UserInfo, request: string, decision: 'allow' | 'deny', message?: string];
interface Row {
  pins: string;
  objects: KubeObject[];
  checks: Check[];
}

const RBAC = 'rbac.authorization.k8s.io';
const sa = (ns: string, name: string): UserInfo => ({
  name: `system:serviceaccount:${ns}:${name}`,
  groups: serviceAccountGroups(ns),
});
const user = (name: string, ...groups: string[]): UserInfo => ({ name, groups: [...groups, 'system:authenticated'] });
const jane = user('jane');

const clusterRole = (
  name: string,
  rules: PolicyRule[],
  labels: Record<string, string> = {},
  agg?: string,
): KubeObject => ({
  kind: 'ClusterRole',
  metadata: { name, labels },
  rules,
  ...(agg ? { aggregationRule: { clusterRoleSelectors: [{ matchLabels: { [agg]: 'true' } }] } } : {}),
});
const role = (ns: string, name: string, rules: PolicyRule[]): KubeObject => ({
  kind: 'Role',
  metadata: { name, namespace: ns },
  rules,
});
const crb = (name: string, roleName: string, ...subjects: Subject[]): KubeObject => ({
  kind: 'ClusterRoleBinding',
  metadata: { name },
  roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: roleName },
  subjects,
});
const rb = (
  ns: string,
  name: string,
  ref: { kind: 'Role' | 'ClusterRole'; name: string },
  ...subjects: Subject[]
): KubeObject => ({
  kind: 'RoleBinding',
  metadata: { name, namespace: ns },
  roleRef: { apiGroup: RBAC, ...ref },
  subjects,
});
const U = (name: string): Subject => ({ kind: 'User', name });
const G = (name: string): Subject => ({ kind: 'Group', name });
const SA = (namespace: string, name: string): Subject => ({ kind: 'ServiceAccount', name, namespace });

const TABLE: Row[] = [
  {
    pins: 'no binding: every request is denied with the forbiddenMessage of the attributes (resource, namespaced)',
    objects: [],
    checks: [
      [
        jane,
        'GET /api/v1/namespaces/default/pods',
        'deny',
        'pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "default"',
      ],
      [
        jane,
        'GET /api/v1/namespaces/default/pods/web',
        'deny',
        'pods "web" is forbidden: User "jane" cannot get resource "pods" in API group "" in the namespace "default"',
      ],
      [
        jane,
        'PATCH /apis/cilium.io/v2/ciliumnodes/node-1/status',
        'deny',
        'ciliumnodes.cilium.io "node-1" is forbidden: User "jane" cannot patch resource "ciliumnodes/status" in API group "cilium.io" at the cluster scope',
      ],
      [jane, 'GET /metrics', 'deny', 'forbidden: User "jane" cannot get path "/metrics"'],
      [
        jane,
        'POST /apis/cilium.io/v2/namespaces/prod/ciliumnetworkpolicies',
        'deny',
        'ciliumnetworkpolicies.cilium.io is forbidden: User "jane" cannot create resource "ciliumnetworkpolicies" in API group "cilium.io" in the namespace "prod"',
      ],
    ],
  },
  {
    pins: 'requestinfo: GET without a name is list, watch=true is watch, DELETE without a name is deletecollection',
    objects: [clusterRole('r', [{ apiGroups: [''], resources: ['pods'], verbs: ['watch'] }]), crb('b', 'r', U('jane'))],
    checks: [
      [jane, 'GET /api/v1/pods?watch=true', 'allow'],
      [jane, 'GET /api/v1/watch/pods', 'allow'],
      [
        jane,
        'GET /api/v1/pods',
        'deny',
        'pods is forbidden: User "jane" cannot list resource "pods" in API group "" at the cluster scope',
      ],
      [
        jane,
        'DELETE /api/v1/namespaces/a/pods',
        'deny',
        'pods is forbidden: User "jane" cannot deletecollection resource "pods" in API group "" in the namespace "a"',
      ],
    ],
  },
  {
    pins: 'verbs, apiGroups and resources accept "*"; the core group is ""',
    objects: [
      clusterRole('all-cilium', [{ apiGroups: ['cilium.io'], resources: ['*'], verbs: ['*'] }]),
      clusterRole('any-group-get', [{ apiGroups: ['*'], resources: ['configmaps'], verbs: ['get'] }]),
      crb('b1', 'all-cilium', U('jane')),
      crb('b2', 'any-group-get', U('jane')),
    ],
    checks: [
      [jane, 'DELETE /apis/cilium.io/v2/ciliumidentities/123', 'allow'],
      [jane, 'PATCH /apis/cilium.io/v2/ciliumnodes/n1/status', 'allow'],
      [jane, 'GET /api/v1/namespaces/x/configmaps/c', 'allow'],
      [jane, 'LIST /api/v1/namespaces/x/configmaps', 'deny'],
      [jane, 'GET /api/v1/namespaces/x/secrets/s', 'deny'],
    ],
  },
  {
    pins: 'subresources: "pods" does not grant "pods/status"; "*/status" grants every status; "pods/*" is literal',
    objects: [
      clusterRole('r', [
        { apiGroups: [''], resources: ['pods'], verbs: ['patch'] },
        { apiGroups: ['cilium.io'], resources: ['*/status'], verbs: ['update'] },
        { apiGroups: [''], resources: ['services/*'], verbs: ['get'] },
      ]),
      crb('b', 'r', U('jane')),
    ],
    checks: [
      [jane, 'PATCH /api/v1/namespaces/a/pods/p', 'allow'],
      [
        jane,
        'PATCH /api/v1/namespaces/a/pods/p/status',
        'deny',
        'pods "p" is forbidden: User "jane" cannot patch resource "pods/status" in API group "" in the namespace "a"',
      ],
      [jane, 'PUT /apis/cilium.io/v2/ciliumnodes/x/status', 'allow'],
      [jane, 'PUT /apis/cilium.io/v2/namespaces/a/ciliumendpoints/x/status', 'allow'],
      [jane, 'PUT /apis/cilium.io/v2/namespaces/a/ciliumendpoints/x', 'deny'],
      [jane, 'GET /api/v1/namespaces/a/services/s/status', 'deny'],
    ],
  },
  {
    pins: 'resourceNames: only named objects; create and deletecollection carry no name; list only via fieldSelector metadata.name',
    objects: [
      role('kube-system', 'lock', [
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          verbs: ['get', 'update', 'create', 'list'],
          resourceNames: ['lock'],
        },
      ]),
      rb('kube-system', 'lock', { kind: 'Role', name: 'lock' }, SA('kube-system', 'op')),
    ],
    checks: [
      [sa('kube-system', 'op'), 'GET /apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lock', 'allow'],
      [sa('kube-system', 'op'), 'PUT /apis/coordination.k8s.io/v1/namespaces/kube-system/leases/other', 'deny'],
      [sa('kube-system', 'op'), 'POST /apis/coordination.k8s.io/v1/namespaces/kube-system/leases', 'deny'],
      [sa('kube-system', 'op'), 'GET /apis/coordination.k8s.io/v1/namespaces/kube-system/leases', 'deny'],
      [
        sa('kube-system', 'op'),
        'GET /apis/coordination.k8s.io/v1/namespaces/kube-system/leases?fieldSelector=metadata.name%3Dlock',
        'allow',
      ],
    ],
  },
  {
    pins: 'a Role and its RoleBinding apply only in their namespace; a RoleBinding may grant a ClusterRole there',
    objects: [
      role('a', 'reader', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }]),
      rb('a', 'r1', { kind: 'Role', name: 'reader' }, U('jane')),
      clusterRole('secret-reader', [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }]),
      rb('b', 'r2', { kind: 'ClusterRole', name: 'secret-reader' }, U('jane')),
    ],
    checks: [
      [jane, 'GET /api/v1/namespaces/a/configmaps/c', 'allow'],
      [jane, 'GET /api/v1/namespaces/b/configmaps/c', 'deny'],
      [jane, 'GET /api/v1/namespaces/b/secrets/s', 'allow'],
      [jane, 'GET /api/v1/namespaces/a/secrets/s', 'deny'],
      [
        jane,
        'GET /api/v1/secrets',
        'deny',
        'secrets is forbidden: User "jane" cannot list resource "secrets" in API group "" at the cluster scope',
      ],
    ],
  },
  {
    pins: "subjects: Group by membership, ServiceAccount by system:serviceaccount:<ns>:<name>, its namespace defaulting to the RoleBinding's",
    objects: [
      clusterRole('node-reader', [{ apiGroups: [''], resources: ['nodes'], verbs: ['list'] }]),
      crb('g', 'node-reader', G('ops')),
      role('apps', 'cm', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }]),
      rb('apps', 'sa-default-ns', { kind: 'Role', name: 'cm' }, { kind: 'ServiceAccount', name: 'builder' }),
    ],
    checks: [
      [user('bob', 'ops'), 'GET /api/v1/nodes', 'allow'],
      [user('bob'), 'GET /api/v1/nodes', 'deny'],
      [sa('apps', 'builder'), 'GET /api/v1/namespaces/apps/configmaps', 'allow'],
      [sa('other', 'builder'), 'GET /api/v1/namespaces/apps/configmaps', 'deny'],
      [user('system:serviceaccount:apps:builder'), 'GET /api/v1/namespaces/apps/configmaps', 'allow'],
    ],
  },
  {
    pins: 'a binding to a missing role denies with the resolution error appended (": RBAC: ... not found")',
    objects: [crb('dangling', 'nope', U('jane'))],
    checks: [
      [
        jane,
        'GET /api/v1/nodes',
        'deny',
        'nodes is forbidden: User "jane" cannot list resource "nodes" in API group "" at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io "nope" not found',
      ],
    ],
  },
  {
    pins: 'nonResourceURLs: exact, "*", and a trailing-"*" prefix; resource rules never match paths',
    objects: [
      clusterRole('r', [
        { nonResourceURLs: ['/healthz/*', '/metrics'], verbs: ['get'] },
        { apiGroups: ['*'], resources: ['*'], verbs: ['get'] },
      ]),
      crb('b', 'r', U('jane')),
    ],
    checks: [
      [jane, 'GET /metrics', 'allow'],
      [jane, 'GET /healthz/etcd', 'allow'],
      [jane, 'GET /healthz', 'deny', 'forbidden: User "jane" cannot get path "/healthz"'],
      [jane, 'POST /metrics', 'deny', 'forbidden: User "jane" cannot post path "/metrics"'],
      [jane, 'GET /logs', 'deny'],
    ],
  },
  {
    pins: 'aggregationRule: a ClusterRole is the union of the ClusterRoles its selectors match, transitively (edit into admin)',
    objects: [
      clusterRole('top', [], {}, 'example.io/aggregate-to-top'),
      clusterRole('mid', [], { 'example.io/aggregate-to-top': 'true' }, 'example.io/aggregate-to-mid'),
      clusterRole('leaf', [{ apiGroups: ['cilium.io'], resources: ['ciliumnetworkpolicies'], verbs: ['get'] }], {
        'example.io/aggregate-to-mid': 'true',
      }),
      crb('b', 'top', U('jane')),
    ],
    checks: [
      [jane, 'GET /apis/cilium.io/v2/namespaces/a/ciliumnetworkpolicies/p', 'allow'],
      [jane, 'DELETE /apis/cilium.io/v2/namespaces/a/ciliumnetworkpolicies/p', 'deny'],
    ],
  },
  {
    pins: 'bootstrap policy: system:public-info-viewer for anonymous, system:discovery and system:basic-user for every authenticated user',
    objects: bootstrapPolicy(),
    checks: [
      [anonymous(), 'GET /healthz', 'allow'],
      [anonymous(), 'GET /version', 'allow'],
      [anonymous(), 'GET /apis', 'deny', 'forbidden: User "system:anonymous" cannot get path "/apis"'],
      [jane, 'GET /apis', 'allow'],
      [jane, 'GET /apis/cilium.io/v2', 'allow'],
      [jane, 'GET /openapi/v3/apis/cilium.io/v2', 'allow'],
      [jane, 'POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews', 'allow'],
      [jane, 'POST /apis/authorization.k8s.io/v1/subjectaccessreviews', 'deny'],
      [user('root', 'system:masters'), 'DELETE /api/v1/namespaces/kube-system', 'allow'],
    ],
  },
  {
    pins: 'bootstrap policy: view aggregates into edit and admin; admin may manage Roles in its namespace, view may not read Secrets',
    objects: [
      ...bootstrapPolicy(),
      rb('team', 'viewers', { kind: 'ClusterRole', name: 'view' }, U('viewer')),
      rb('team', 'admins', { kind: 'ClusterRole', name: 'admin' }, U('boss')),
    ],
    checks: [
      [user('viewer'), 'GET /api/v1/namespaces/team/pods', 'allow'],
      [user('viewer'), 'GET /api/v1/namespaces/team/secrets', 'deny'],
      [user('viewer'), 'DELETE /api/v1/namespaces/team/pods/p', 'deny'],
      [user('boss'), 'GET /api/v1/namespaces/team/pods', 'allow'],
      [user('boss'), 'DELETE /api/v1/namespaces/team/secrets/s', 'allow'],
      [user('boss'), 'POST /apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings', 'allow'],
      [user('boss'), 'GET /api/v1/namespaces/other/pods', 'deny'],
    ],
  },
];

function keyOf(o: KubeObject): string {
  const plural = {
    ClusterRole: 'clusterroles',
    ClusterRoleBinding: 'clusterrolebindings',
    Role: 'roles',
    RoleBinding: 'rolebindings',
  }[o.kind ?? ''];
  const ns = o.metadata.namespace;
  return `/registry/${plural}/${ns ? `${ns}/` : ''}${o.metadata.name}`;
}

describe('RBAC decision table', () => {
  for (const row of TABLE) {
    it(row.pins, () => {
      const rbac = new RbacAuthorizer();
      for (const o of row.objects) rbac.apply(keyOf(o), o, false);
      for (const [u, req, want, message] of row.checks) {
        const [method, target] = req.split(' ') as [string, string];
        const url = new URL(target, 'https://x');
        // "LIST" is GET on a collection, spelled out for readability
        const a = requestAttributes(u, method === 'LIST' ? 'GET' : method, url.pathname, url.searchParams);
        const d = u.groups.includes('system:masters') ? { allowed: true, reason: '' } : rbac.authorize(a);
        expect({ req, user: u.name, decision: d.allowed ? 'allow' : 'deny' }).toEqual({
          req,
          user: u.name,
          decision: want,
        });
        if (message) expect(forbiddenRequest(a, d.reason).message).toBe(message);
      }
    });
  }

  it('a deleted binding stops granting at once (the index follows the watch cache events)', () => {
    const rbac = new RbacAuthorizer();
    const r = clusterRole('r', [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }]);
    const b = crb('b', 'r', U('jane'));
    rbac.apply(keyOf(r), r, false);
    rbac.apply(keyOf(b), b, false);
    const a = requestAttributes(jane, 'GET', '/api/v1/nodes/n', new URLSearchParams());
    expect(rbac.authorize(a)).toEqual({
      allowed: true,
      reason: 'RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to User "jane"',
    });
    rbac.apply(keyOf(b), b, true);
    expect(rbac.authorize(a).allowed).toBe(false);
  });
});
