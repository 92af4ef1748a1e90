// URL → resource route: /api/v1/... and /apis/<group>/<version>/..., namespaced or not,
// with an optional name and subresource (status, finalize).
import { notFound } from './errors.js';
import type { Registry, ResourceInfo } from './resources.js';

export interface Route {
  r: ResourceInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** Parses a resource path; returns undefined for paths that are not resource paths. */
export function route(reg: Registry, pathname: string): Route | undefined {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1] ?? '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1] ?? '';
    version = parts[2] ?? '';
    rest = parts.slice(3);
  } else return undefined;
  let namespace: string | undefined;
  // /namespaces/<ns>/<plural>... unless it is the namespace itself (/namespaces/<name>[/status|finalize]).
  if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status' && rest[2] !== 'finalize') {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const plural = rest[0] ?? '';
  const r = reg.get(group, version, plural);
  if (!r) throw notFound(plural, group, rest[1] ?? '');
  if (r.namespaced === false && namespace !== undefined) throw notFound(plural, group, rest[1] ?? '');
  const out: Route = { r };
  if (namespace !== undefined) out.namespace = namespace;
  if (rest[1] !== undefined) out.name = rest[1];
  if (rest[2] !== undefined) out.subresource = rest[2];
  if (rest.length > 3) throw notFound(plural, group, rest[1] ?? '');
  return out;
}
