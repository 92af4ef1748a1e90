// Who a request is: kube-apiserver's user.Info (name, uid, groups, extra) and the well-known
// names of k8s.io/apiserver/pkg/authentication/user and serviceaccount/util.go.

export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export const ANONYMOUS_USER = 'system:anonymous';
export const ALL_AUTHENTICATED = 'system:authenticated';
export const ALL_UNAUTHENTICATED = 'system:unauthenticated';
/** kube-apiserver lets this group do anything before RBAC is asked (the privileged-group authorizer). */
export const SYSTEM_MASTERS = 'system:masters';
export const SERVICE_ACCOUNTS_GROUP = 'system:serviceaccounts';
/** The admin of the devcluster's kubeconfig (static token). */
export const ADMIN_USER = 'devcluster-admin';

export const anonymous = (): UserInfo => ({ name: ANONYMOUS_USER, groups: [ALL_UNAUTHENTICATED] });

/** `system:serviceaccount:<ns>:<name>`, the username of a ServiceAccount. */
export const serviceAccountUsername = (namespace: string, name: string): string =>
  `system:serviceaccount:${namespace}:${name}`;

/** The namespace and name in a ServiceAccount username, or undefined for any other user. */
export function parseServiceAccountUsername(user: string): { namespace: string; name: string } | undefined {
  const parts = user.split(':');
  if (parts.length !== 4 || parts[0] !== 'system' || parts[1] !== 'serviceaccount') return undefined;
  if (!parts[2] || !parts[3]) return undefined;
  return { namespace: parts[2], name: parts[3] };
}

/** The groups every ServiceAccount token carries. */
export const serviceAccountGroups = (namespace: string): string[] => [
  SERVICE_ACCOUNTS_GROUP,
  `${SERVICE_ACCOUNTS_GROUP}:${namespace}`,
  ALL_AUTHENTICATED,
];
