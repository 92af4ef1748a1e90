// What a request asks to do, in authorization terms: kube-apiserver's RequestInfo
// (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go) read from the path, method and query
// alone, before any resource lookup, so an unknown resource is denied the same way as a known one.
import type { UserInfo } from './user.js';

export interface Attributes {
  user: UserInfo;
  verb: string;
  isResourceRequest: boolean;
  /** Non-resource requests: the URL path. */
  path: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

const METHOD_VERB: Record<string, string> = {
  POST: 'create',
  GET: 'get',
  HEAD: 'get',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** Subresources of a Namespace itself (`/namespaces/<name>/status`), not namespaced resources. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** A path segment a name may be (apimachinery's IsValidPathSegmentName). */
const validName = (n: string): boolean => n !== '' && n !== '.' && n !== '..' && !n.includes('/') && !n.includes('%');

/** The name a list or watch is limited to by `fieldSelector=metadata.name=<n>` (exact match only). */
function nameFromFieldSelector(fs: string | null): string {
  if (!fs) return '';
  for (const term of fs.split(',')) {
    const m = /^metadata\.name(==?)(.*)$/.exec(term.trim());
    if (m && validName(m[2] ?? '')) return m[2] ?? '';
  }
  return '';
}

/** The request's attributes: a resource request under /api or /apis, or a non-resource path. */
export function requestAttributes(user: UserInfo, method: string, pathname: string, q: URLSearchParams): Attributes {
  const a: Attributes = {
    user,
    verb: method.toLowerCase(),
    isResourceRequest: false,
    path: pathname,
    apiGroup: '',
    apiVersion: '',
    resource: '',
    subresource: '',
    namespace: '',
    name: '',
  };
  let parts = pathname.split('/').filter(Boolean);
  if (parts.length < 3 || (parts[0] !== 'api' && parts[0] !== 'apis')) return a;
  const prefix = parts[0];
  parts = parts.slice(1);
  if (prefix === 'apis') {
    if (parts.length < 3) return a;
    a.apiGroup = parts[0] ?? '';
    parts = parts.slice(1);
  }
  a.isResourceRequest = true;
  a.apiVersion = parts[0] ?? '';
  parts = parts.slice(1);
  if (parts[0] === 'watch') {
    a.verb = 'watch';
    parts = parts.slice(1);
  } else a.verb = METHOD_VERB[method.toUpperCase()] ?? '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    a.namespace = parts[1] ?? '';
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] ?? '')) parts = parts.slice(2);
  }
  a.resource = parts[0] ?? '';
  if (parts.length >= 2) a.name = parts[1] ?? '';
  if (parts.length >= 3) a.subresource = parts[2] ?? '';
  if (!a.name && a.verb === 'get') {
    const w = q.get('watch');
    a.verb = w === 'true' || w === '1' ? 'watch' : 'list';
    a.name = nameFromFieldSelector(q.get('fieldSelector'));
  }
  if (!a.name && a.verb === 'delete') a.verb = 'deletecollection';
  return a;
}
