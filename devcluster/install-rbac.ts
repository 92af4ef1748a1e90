// The install's identities and permissions, applied to the devcluster from the generated
// dist/install.yaml itself (never a copy): its ServiceAccounts, ClusterRoles, Roles and bindings.
// Every process the devcluster runs then authenticates as its ServiceAccount and is held to exactly
// the rules a real cluster would hold it to.
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
export const IDENTITY_KINDS: Record<string, ResourceRef> = {
  ServiceAccount: { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
  ClusterRole: RBAC('clusterroles', 'ClusterRole', false),
  Role: RBAC('roles', 'Role', true),
  ClusterRoleBinding: RBAC('clusterrolebindings', 'ClusterRoleBinding', false),
  RoleBinding: RBAC('rolebindings', 'RoleBinding', true),
};

/** The ServiceAccounts and RBAC objects of an install manifest. */
export function installIdentities(yamlPath = INSTALL_YAML): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(readFileSync(yamlPath, 'utf8'))) {
    const o = doc.toJS() as KubeObject | null;
    if (o?.kind && o.kind in IDENTITY_KINDS) out.push(o);
  }
  const order = Object.keys(IDENTITY_KINDS);
  return out.sort((a, b) => order.indexOf(a.kind ?? '') - order.indexOf(b.kind ?? ''));
}

/** Server-side applies them (field manager `devcluster-install`), so re-running `up` updates changed roles. */
export async function applyInstallIdentities(client: KubeClient, yamlPath = INSTALL_YAML): Promise<KubeObject[]> {
  const objects = installIdentities(yamlPath);
  for (const o of objects) {
    const ref = IDENTITY_KINDS[o.kind ?? ''] as ResourceRef;
    await client.patch(ref, o.metadata?.name ?? '', o.metadata?.namespace, o, 'apply', {
      fieldManager: 'devcluster-install',
      force: true,
    });
  }
  return objects;
}
