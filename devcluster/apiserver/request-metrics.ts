// The API server's request counter, served at /metrics in Prometheus text format as kube-apiserver
// does: `apiserver_request_total{verb, dry_run, group, version, resource, subresource, scope,
// component, code}` (its verb is the HTTP method with LIST, WATCH and APPLY told apart). Beside it,
// one counter kube-apiserver has not: `devcluster_apiserver_user_requests_total{user, verb, code}`,
// who asked — benchmarks read the operator's and the agents' request rates off it (a real cluster
// has audit logs for that). Both only ever grow; their label sets are bounded by the resources and
// the users (service accounts) of the cluster.
import type { IncomingMessage } from 'node:http';
import type { Attributes } from './auth/attributes.js';

const REQUEST_TOTAL = 'apiserver_request_total';
const USER_TOTAL = 'devcluster_apiserver_user_requests_total';

/** kube-apiserver's verb label: the HTTP method, except LIST, WATCH and APPLY (server-side apply). */
export function metricVerb(req: IncomingMessage, attrs: Attributes | undefined): string {
  if (attrs?.verb === 'list') return 'LIST';
  if (attrs?.verb === 'watch') return 'WATCH';
  const method = (req.method ?? 'GET').toUpperCase();
  if (method === 'PATCH' && (req.headers['content-type'] ?? '').startsWith('application/apply-patch')) return 'APPLY';
  if (method === 'HEAD') return 'GET';
  return method;
}

/** `resource` (one named object), `namespace` (a collection in one namespace) or `cluster`. */
function scopeOf(a: Attributes): string {
  if (a.name) return 'resource';
  if (a.namespace) return 'namespace';
  return 'cluster';
}

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labels = (l: Record<string, string>) =>
  `{${Object.entries(l)
    .map(([k, v]) => `${k}="${escape(v)}"`)
    .join(',')}}`;

export class RequestMetrics {
  /** label text → count, one map per metric (the label text is the series). */
  private readonly requests = new Map<string, number>();
  private readonly byUser = new Map<string, number>();

  /**
   * Counts one finished request. `attrs` is undefined when authentication failed before the
   * request was understood: it counts with empty resource labels, as kube-apiserver's 401s do.
   */
  observe(req: IncomingMessage, attrs: Attributes | undefined, code: number): void {
    const verb = metricVerb(req, attrs);
    const resource = attrs?.isResourceRequest ? attrs : undefined;
    const dryRun = new URL(req.url ?? '/', 'https://localhost').searchParams.get('dryRun') ?? '';
    const key = labels({
      verb,
      dry_run: dryRun,
      group: resource?.apiGroup ?? '',
      version: resource?.apiVersion ?? '',
      resource: resource?.resource ?? '',
      subresource: resource?.subresource ?? '',
      scope: resource ? scopeOf(resource) : '',
      component: 'apiserver',
      code: String(code),
    });
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    const userKey = labels({ user: attrs?.user.name ?? '', verb, code: String(code) });
    this.byUser.set(userKey, (this.byUser.get(userKey) ?? 0) + 1);
  }

  /** Prometheus text exposition (version 0.0.4). */
  text(): string {
    const out: string[] = [
      `# HELP ${REQUEST_TOTAL} Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.`,
      `# TYPE ${REQUEST_TOTAL} counter`,
      ...[...this.requests].map(([l, n]) => `${REQUEST_TOTAL}${l} ${n}`),
      `# HELP ${USER_TOTAL} Requests per authenticated user, verb and HTTP response code (devcluster only; kube-apiserver leaves this to audit logs).`,
      `# TYPE ${USER_TOTAL} counter`,
      ...[...this.byUser].map(([l, n]) => `${USER_TOTAL}${l} ${n}`),
    ];
    return out.join('\n') + '\n';
  }
}
