// Hubble's L7 metric handlers under upstream's names and labels (docs: observability/metrics,
// "dns", "http", "httpV2"): counted from the L7 flows the proxy's events become. Options as
// upstream writes them after the name ("dns:query;ignoreAAAA",
// "httpV2:sourceContext=workload-name|reserved-identity;destinationContext=pod"):
// sourceContext / destinationContext add a `source` / `destination` label (the first of the
// `|`-separated contexts with a value); `exemplars=true` is accepted and has no effect (exemplars
// carry trace IDs, and no flow here has a trace context); any other option is refused, naming it.
import { Counter, Histogram, type Registry } from 'prom-client';
import { HubbleError, HubbleErrorCode } from './errors.js';
import type { Endpoint, Flow } from './types.js';

export const L7_METRICS = ['dns', 'http', 'httpV2'] as const;
export type L7MetricName = (typeof L7_METRICS)[number];

/** Contexts upstream's sourceContext / destinationContext take. */
export const CONTEXTS = [
  'identity',
  'namespace',
  'pod',
  'pod-name',
  'dns',
  'ip',
  'reserved-identity',
  'workload',
  'workload-name',
  'app',
] as const;
type Context = (typeof CONTEXTS)[number];

const OPTION_KEYS: Record<L7MetricName, readonly string[]> = {
  dns: ['query', 'ignoreAAAA', 'sourceContext', 'destinationContext'],
  http: ['sourceContext', 'destinationContext', 'exemplars'],
  httpV2: ['sourceContext', 'destinationContext', 'exemplars'],
};

/** The rcode label's values (upstream's dns metrics table; IANA's names, slightly shortened). */
const RCODE_LABELS: Record<number, string> = {
  0: 'No Error',
  1: 'Format Error',
  2: 'Server Failure',
  3: 'Non-Existent Domain',
  4: 'Not Implemented',
  5: 'Query Refused',
  6: 'Name Exists when it should not',
  7: 'RR Set Exists when it should not',
  8: 'RR Set that should exist does not',
  9: 'Not Authorized',
  10: 'Name not contained in zone',
  11: 'DSO-TYPE Not Implemented',
  16: 'Bad OPT Version',
  17: 'Key not recognized',
  18: 'Signature out of time window',
  19: 'Bad TKEY Mode',
  20: 'Duplicate key name',
  21: 'Algorithm not supported',
  22: 'Bad Truncation',
  23: 'Bad/missing Server Cookie',
};

/** Prometheus' default buckets, which upstream's request duration histogram uses. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const bad = (msg: string): never => {
  throw new HubbleError(HubbleErrorCode.BadMetric, msg);
};

function parseContexts(metric: string, key: string, value: string): Context[] {
  const list = value.split('|').map((c) => c.trim());
  for (const c of list)
    if (!(CONTEXTS as readonly string[]).includes(c))
      bad(`hubble metric ${metric}: ${key} "${c}" is not a context (${CONTEXTS.join(', ')})`);
  return list as Context[];
}

/** One endpoint's context value: the first context of the list that has one. */
function contextValue(
  contexts: readonly Context[],
  ep: Endpoint | undefined,
  ip: string | undefined,
  names: string[] | undefined,
): string {
  for (const c of contexts) {
    const v = oneContext(c, ep, ip, names);
    if (v) return v;
  }
  return '';
}

function label(ep: Endpoint | undefined, ...keys: string[]): string {
  for (const k of keys) {
    const l = ep?.labels?.find((x) => x.startsWith(`k8s:${k}=`));
    if (l) return l.slice(k.length + 5);
  }
  return '';
}

function oneContext(c: Context, ep: Endpoint | undefined, ip: string | undefined, names: string[] | undefined): string {
  const workload = ep?.workloads?.[0]?.name ?? '';
  switch (c) {
    case 'identity':
      return (ep?.labels ?? []).join(',');
    case 'namespace':
      return ep?.namespace ?? '';
    case 'pod':
      return ep?.pod_name ? `${ep.namespace ?? ''}/${ep.pod_name}` : '';
    case 'pod-name':
      return ep?.pod_name ?? '';
    case 'dns':
      return (names ?? []).join(',');
    case 'ip':
      return ip ?? '';
    case 'reserved-identity':
      return ep?.labels?.find((l) => l.startsWith('reserved:')) ?? '';
    case 'workload':
      return workload ? `${ep?.namespace ?? ''}/${workload}` : '';
    case 'workload-name':
      return workload;
    case 'app':
      return label(ep, 'app.kubernetes.io/name', 'k8s-app', 'app');
  }
}

/** "client" for what a proxied pod sent, "server" for what it received (upstream's reporter). */
function reporter(f: Flow): string {
  return f.traffic_direction === 'EGRESS' ? 'client' : f.traffic_direction === 'INGRESS' ? 'server' : 'unknown';
}

export class L7Metrics {
  private readonly src?: Context[];
  private readonly dst?: Context[];
  private readonly dnsQuery: boolean;
  private readonly ignoreAAAA: boolean;
  private dnsQueries?: Counter;
  private dnsResponses?: Counter;
  private dnsTypes?: Counter;
  private httpRequests?: Counter;
  private httpResponses?: Counter;
  private httpDuration?: Histogram;
  private httpV2 = false;

  /** `enabled`: the L7 handlers asked for, with their options (already split at ";" and "="). */
  constructor(enabled: ReadonlyMap<L7MetricName, Readonly<Record<string, string>>>, registry: Registry) {
    if (enabled.has('http') && enabled.has('httpV2'))
      bad('hubble metrics http and httpV2 both define hubble_http_requests_total: enable one of them (httpV2)');
    let src: Context[] | undefined;
    let dst: Context[] | undefined;
    for (const [name, opts] of enabled) {
      for (const key of Object.keys(opts))
        if (!OPTION_KEYS[name].includes(key))
          bad(`hubble metric ${name}: option "${key}" is not supported (${OPTION_KEYS[name].join(', ')})`);
      // one set of contexts for all L7 handlers: upstream keeps them per handler, rarely differing
      if (opts.sourceContext) src = parseContexts(name, 'sourceContext', opts.sourceContext);
      if (opts.destinationContext) dst = parseContexts(name, 'destinationContext', opts.destinationContext);
    }
    if (src) this.src = src;
    if (dst) this.dst = dst;
    const dnsOpts = enabled.get('dns');
    this.dnsQuery = !!dnsOpts && 'query' in dnsOpts;
    this.ignoreAAAA = !!dnsOpts && 'ignoreAAAA' in dnsOpts;
    const ctx = [...(this.src ? ['source'] : []), ...(this.dst ? ['destination'] : [])];
    const q = this.dnsQuery ? ['query'] : [];
    const registers = [registry];
    if (dnsOpts) {
      this.dnsQueries = new Counter({
        name: 'hubble_dns_queries_total',
        help: 'Number of DNS queries observed',
        labelNames: [...ctx, 'rcode', 'qtypes', 'ips_returned', ...q],
        registers,
      });
      this.dnsResponses = new Counter({
        name: 'hubble_dns_responses_total',
        help: 'Number of DNS responses observed',
        labelNames: [...ctx, 'rcode', 'qtypes', 'ips_returned', ...q],
        registers,
      });
      this.dnsTypes = new Counter({
        name: 'hubble_dns_response_types_total',
        help: 'Number of DNS response types',
        labelNames: [...ctx, 'type', 'qtypes', ...q],
        registers,
      });
    }
    const v1 = enabled.has('http');
    this.httpV2 = enabled.has('httpV2');
    if (v1 || this.httpV2) {
      this.httpRequests = new Counter({
        name: 'hubble_http_requests_total',
        help: v1 ? 'Count of HTTP requests' : 'Count of HTTP requests by their responses',
        labelNames: v1
          ? [...ctx, 'method', 'protocol', 'reporter']
          : [...ctx, 'method', 'protocol', 'status', 'reporter'],
        registers,
      });
      if (v1)
        this.httpResponses = new Counter({
          name: 'hubble_http_responses_total',
          help: 'Count of HTTP responses',
          labelNames: [...ctx, 'method', 'status', 'reporter'],
          registers,
        });
      this.httpDuration = new Histogram({
        name: 'hubble_http_request_duration_seconds',
        help: 'Quantiles of HTTP request duration in seconds',
        labelNames: [...ctx, 'method', 'reporter'],
        buckets: DURATION_BUCKETS,
        registers,
      });
    }
  }

  private context(f: Flow): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.src) out.source = contextValue(this.src, f.source, f.IP?.source, f.source_names);
    if (this.dst) out.destination = contextValue(this.dst, f.destination, f.IP?.destination, f.destination_names);
    return out;
  }

  /** One L7 flow (others are ignored). */
  observe(f: Flow): void {
    const l7 = f.l7;
    if (!l7) return;
    if (l7.dns && this.dnsQueries) this.dns(f);
    else if (l7.http && this.httpRequests) this.http(f);
  }

  private dns(f: Flow): void {
    const d = f.l7!.dns!;
    const qtypesList = d.qtypes ?? [];
    if (this.ignoreAAAA && qtypesList.length === 1 && qtypesList[0] === 'AAAA') return;
    const qtypes = qtypesList.join(',');
    const labels = this.context(f);
    const query = this.dnsQuery ? { query: d.query ?? '' } : {};
    const ips_returned = String(d.ips?.length ?? 0);
    // upstream: what policy refused (query or answer) is a query with rcode "Policy denied"
    if (f.verdict === 'DROPPED' || f.l7!.type !== 'RESPONSE') {
      const rcode = f.verdict === 'DROPPED' ? 'Policy denied' : '';
      this.dnsQueries!.inc({ ...labels, rcode, qtypes, ips_returned, ...query });
      return;
    }
    const rcode = RCODE_LABELS[d.rcode ?? 0] ?? '';
    this.dnsResponses!.inc({ ...labels, rcode, qtypes, ips_returned, ...query });
    for (const type of d.rrtypes ?? []) this.dnsTypes!.inc({ ...labels, type, qtypes, ...query });
  }

  private http(f: Flow): void {
    const h = f.l7!.http!;
    const labels = { ...this.context(f), method: h.method ?? '', reporter: reporter(f) };
    const response = f.l7!.type === 'RESPONSE';
    if (!this.httpV2 && !response) {
      this.httpRequests!.inc({ ...labels, protocol: h.protocol ?? '' });
      return;
    }
    if (!response) return; // httpV2 counts a request once its status is known
    const status = String(h.code ?? 0);
    if (this.httpV2) this.httpRequests!.inc({ ...labels, protocol: h.protocol ?? '', status });
    else this.httpResponses!.inc({ ...labels, status });
    this.httpDuration!.observe(labels, Number(f.l7!.latency_ns ?? 0) / 1e9);
  }
}
