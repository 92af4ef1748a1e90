// The default ClusterRoles and ClusterRoleBindings kube-apiserver creates at start
// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go), the subset that matters here:
// cluster-admin, the public and discovery paths, self-subject reviews, and the aggregated
// admin/edit/view user-facing roles (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#default-roles-and-role-bindings).
import type { KubeObject } from '../store.js';
import { ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, SYSTEM_MASTERS } from './user.js';
import type { PolicyRule } from './rbac.js';

const RBAC = 'rbac.authorization.k8s.io/v1';
const META = {
  labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' },
  annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' },
};

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];

function clusterRole(
  name: string,
  rules: PolicyRule[],
  extra: { labels?: Record<string, string>; aggregateFrom?: string } = {},
): KubeObject {
  const o: KubeObject = {
    apiVersion: RBAC,
    kind: 'ClusterRole',
    metadata: { name, labels: { ...META.labels, ...extra.labels }, annotations: { ...META.annotations } },
    rules,
  };
  if (extra.aggregateFrom)
    o.aggregationRule = {
      clusterRoleSelectors: [{ matchLabels: { [`rbac.authorization.k8s.io/${extra.aggregateFrom}`]: 'true' } }],
    };
  return o;
}

function groupBinding(name: string, role: string, groups: string[]): KubeObject {
  return {
    apiVersion: RBAC,
    kind: 'ClusterRoleBinding',
    metadata: { name, ...structuredClone(META) },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: groups.map((g) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: g })),
  };
}

/** The non-resource paths every authenticated user may read (system:discovery). */
export const DISCOVERY_URLS = [
  '/api',
  '/api/*',
  '/apis',
  '/apis/*',
  '/healthz',
  '/livez',
  '/openapi',
  '/openapi/*',
  '/readyz',
  '/version',
  '/version/',
];
/** The paths open to everyone, anonymous included (system:public-info-viewer). */
export const PUBLIC_INFO_URLS = ['/healthz', '/livez', '/readyz', '/version', '/version/'];

const aggregateTo = (role: 'admin' | 'edit' | 'view') => ({
  labels: { [`rbac.authorization.k8s.io/aggregate-to-${role}`]: 'true' },
});

/** The default ClusterRoles, then their bindings (the order they are created in). */
export function bootstrapPolicy(): KubeObject[] {
  return [
    clusterRole('cluster-admin', [
      { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      { nonResourceURLs: ['*'], verbs: ['*'] },
    ]),
    clusterRole('system:discovery', [{ nonResourceURLs: DISCOVERY_URLS, verbs: ['get'] }]),
    clusterRole('system:public-info-viewer', [{ nonResourceURLs: PUBLIC_INFO_URLS, verbs: ['get'] }]),
    clusterRole('system:basic-user', [
      {
        apiGroups: ['authorization.k8s.io'],
        resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
        verbs: ['create'],
      },
      { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
    ]),
    // The user-facing roles are aggregated: their rules are those of the ClusterRoles labelled for them.
    clusterRole('admin', [], { aggregateFrom: 'aggregate-to-admin' }),
    clusterRole('edit', [], { aggregateFrom: 'aggregate-to-edit', ...aggregateTo('admin') }),
    clusterRole('view', [], { aggregateFrom: 'aggregate-to-view', ...aggregateTo('edit') }),
    clusterRole(
      'system:aggregate-to-admin',
      [
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: [...READ, ...WRITE] },
        { apiGroups: ['authorization.k8s.io'], resources: ['localsubjectaccessreviews'], verbs: ['create'] },
      ],
      aggregateTo('admin'),
    ),
    clusterRole(
      'system:aggregate-to-edit',
      [
        {
          apiGroups: [''],
          resources: ['pods', 'services', 'endpoints', 'configmaps', 'secrets', 'serviceaccounts', 'events'],
          verbs: [...READ, ...WRITE],
        },
        { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] },
        {
          apiGroups: ['apps'],
          resources: ['deployments', 'daemonsets', 'replicasets', 'statefulsets', 'deployments/scale'],
          verbs: [...READ, ...WRITE],
        },
        { apiGroups: ['batch'], resources: ['jobs'], verbs: [...READ, ...WRITE] },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: [...READ, ...WRITE] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
        { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: [...READ, ...WRITE] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: [...READ, ...WRITE] },
      ],
      aggregateTo('edit'),
    ),
    clusterRole(
      'system:aggregate-to-view',
      [
        {
          apiGroups: [''],
          resources: [
            'pods',
            'pods/status',
            'services',
            'endpoints',
            'configmaps',
            'serviceaccounts',
            'events',
            'namespaces',
          ],
          verbs: READ,
        },
        {
          apiGroups: ['apps'],
          resources: ['deployments', 'daemonsets', 'replicasets', 'statefulsets', 'deployments/scale'],
          verbs: READ,
        },
        { apiGroups: ['batch'], resources: ['jobs'], verbs: READ },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: READ },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
        { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: READ },
      ],
      aggregateTo('view'),
    ),
    groupBinding('cluster-admin', 'cluster-admin', [SYSTEM_MASTERS]),
    groupBinding('system:discovery', 'system:discovery', [ALL_AUTHENTICATED]),
    groupBinding('system:public-info-viewer', 'system:public-info-viewer', [ALL_AUTHENTICATED, ALL_UNAUTHENTICATED]),
    groupBinding('system:basic-user', 'system:basic-user', [ALL_AUTHENTICATED]),
  ];
}
