// The install's CRDs, identities and permissions, applied to the devcluster from the generated
// dist/install.yaml itself (never a copy): its CustomResourceDefinitions, ServiceAccounts,
// ClusterRoles, Roles and bindings. Every process the devcluster runs then authenticates as its
// ServiceAccount and is held to exactly the rules a real cluster would hold it to; the components
// need not be allowed to create CRDs, as with `kubectl apply -f dist/install.yaml`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { PACKAGE_ROOT } from '../cdk8s/process-launch.js';
import type { KubeClient, KubeObject, ResourceRef } from '../controllers/framework/index.js';

export const INSTALL_YAML = join(PACKAGE_ROOT, 'dist', 'install.yaml');

const RBAC = (plural: string, kind: string, namespaced: boolean): ResourceRef => ({
  group: 'rbac.authorization.k8s.io',
  version: 'v1',
  plural,
  kind,
  namespaced,
});

/** The kinds taken from the install, in the order they are applied. */
export const INSTALL_KINDS: Record<string, ResourceRef> = {
  CustomResourceDefinition: {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    plural: 'customresourcedefinitions',
    kind: 'CustomResourceDefinition',
    namespaced: false,
  },
  ServiceAccount: { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
  ClusterRole: RBAC('clusterroles', 'ClusterRole', false),
  Role: RBAC('roles', 'Role', true),
  ClusterRoleBinding: RBAC('clusterrolebindings', 'ClusterRoleBinding', false),
  RoleBinding: RBAC('rolebindings', 'RoleBinding', true),
};

/** The CRDs, ServiceAccounts and RBAC objects of an install manifest. */
export function installObjects(yamlPath = INSTALL_YAML): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(readFileSync(yamlPath, 'utf8'))) {
    const o = doc.toJS() as KubeObject | null;
    if (o?.kind && o.kind in INSTALL_KINDS) out.push(o);
  }
  const order = Object.keys(INSTALL_KINDS);
  return out.sort((a, b) => order.indexOf(a.kind ?? '') - order.indexOf(b.kind ?? ''));
}

/**
 * The ServiceAccount (namespace and name) the install gives a component's workload: the
 * DaemonSet or Deployment labelled `app.kubernetes.io/component: <component>`.
 */
export function serviceAccountOf(
  component: 'agent' | 'operator' | 'relay',
  yamlPath = INSTALL_YAML,
): { namespace: string; name: string } {
  for (const doc of parseAllDocuments(readFileSync(yamlPath, 'utf8'))) {
    const o = doc.toJS() as KubeObject | null;
    if (o?.kind !== 'DaemonSet' && o?.kind !== 'Deployment') continue;
    if (o.metadata?.labels?.['app.kubernetes.io/component'] !== component) continue;
    const spec = (o.spec as { template?: { spec?: { serviceAccountName?: string } } }).template?.spec;
    return { namespace: o.metadata.namespace ?? 'default', name: spec?.serviceAccountName ?? 'default' };
  }
  throw new Error(`${yamlPath} has no workload for component ${component}`);
}

/** Server-side applies them (field manager `devcluster-install`), so re-running `up` updates changed roles. */
export async function applyInstallObjects(client: KubeClient, yamlPath = INSTALL_YAML): Promise<KubeObject[]> {
  const objects = installObjects(yamlPath);
  for (const o of objects) {
    const ref = INSTALL_KINDS[o.kind ?? ''] as ResourceRef;
    await client.patch(ref, o.metadata?.name ?? '', o.metadata?.namespace, o, 'apply', {
      fieldManager: 'devcluster-install',
      force: true,
    });
  }
  return objects;
}
