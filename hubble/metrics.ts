// Hubble's Prometheus metrics under upstream's names (docs: observability/metrics, Hubble), enabled by a list in the
// shape of upstream's `hubble-metrics` option ("drop,tcp,flow,port-distribution,policy,icmp,dns,httpV2";
// "name:key=value;…" options: the L7 handlers' are read by l7-metrics.ts, the others' are
// accepted and ignored: their labels are upstream's defaults).
// hubble_lost_events_total is always on: a loss must never be silent.
import { Counter, Gauge, Registry } from 'prom-client';
import { HubbleError, HubbleErrorCode } from './errors.js';
import { L7_METRICS, L7Metrics, type L7MetricName } from './l7-metrics.js';
import type { Flow, LostEventSource } from './types.js';

export const SUPPORTED_METRICS = ['flow', 'drop', 'tcp', 'port-distribution', 'policy', 'icmp', ...L7_METRICS] as const;
export type MetricName = (typeof SUPPORTED_METRICS)[number];

/** Upstream handlers cilium-ts does not serve (no Kafka parser; flows-to-world not written yet). */
export const UNSUPPORTED_UPSTREAM_METRICS = ['kafka', 'flows-to-world'] as const;

/** Option keys as upstream spells them; a list may write them in any case (upstream lowercases). */
const OPTION_KEYS = ['query', 'ignoreAAAA', 'sourceContext', 'destinationContext', 'exemplars', 'labelsContext'];

/**
 * The options written after each name: "dns:query;ignoreAAAA" → dns → { query: '', ignoreAAAA: '' },
 * "httpV2:exemplars=true;sourceContext=pod" → httpV2 → { exemplars: 'true', sourceContext: 'pod' }.
 */
export function parseMetricOptions(list: string | readonly string[]): Map<string, Record<string, string>> {
  const items = typeof list === 'string' ? list.split(/[,\s]+/) : list;
  const out = new Map<string, Record<string, string>>();
  for (const raw of items) {
    const colon = raw.indexOf(':');
    const name = (colon < 0 ? raw : raw.slice(0, colon)).trim();
    if (!name) continue;
    const opts: Record<string, string> = {};
    if (colon >= 0)
      for (const part of raw.slice(colon + 1).split(';')) {
        if (!part.trim()) continue;
        const eq = part.indexOf('=');
        const key = (eq < 0 ? part : part.slice(0, eq)).trim();
        const canonical = OPTION_KEYS.find((k) => k.toLowerCase() === key.toLowerCase()) ?? key;
        opts[canonical] = eq < 0 ? '' : part.slice(eq + 1).trim();
      }
    out.set(name, opts);
  }
  return out;
}

/** The upstream names in a list that cilium-ts cannot serve (the agent warns about them). */
export function unsupportedMetrics(list: string | readonly string[]): string[] {
  const items = typeof list === 'string' ? list.split(/[,\s]+/) : list;
  return items
    .map((raw) => raw.split(':')[0]!.trim())
    .filter((n) => (UNSUPPORTED_UPSTREAM_METRICS as readonly string[]).includes(n));
}

/**
 * Parses "drop,tcp,flow:sourceContext=namespace" (commas or spaces) into metric names. Upstream's
 * L7 handlers (dns, httpV2, …) are skipped, reported by unsupportedMetrics(), so a config written
 * for upstream still starts the agent; any other unknown name is an error (a typo must not pass).
 */
export function parseMetricsList(list: string | readonly string[]): MetricName[] {
  const items = typeof list === 'string' ? list.split(/[,\s]+/) : list;
  const out: MetricName[] = [];
  for (const raw of items) {
    const name = raw.split(':')[0]!.trim();
    if (!name || (UNSUPPORTED_UPSTREAM_METRICS as readonly string[]).includes(name)) continue;
    if (!(SUPPORTED_METRICS as readonly string[]).includes(name)) {
      throw new HubbleError(
        HubbleErrorCode.BadMetric,
        `unsupported hubble metric "${name}" (supported: ${SUPPORTED_METRICS.join(', ')})`,
      );
    }
    if (!out.includes(name as MetricName)) out.push(name as MetricName);
  }
  return out;
}

const EVENT_TYPE_NAME: Record<number, string> = { 1: 'Drop', 4: 'Trace', 5: 'PolicyVerdict', 129: 'L7' };
const SUBTYPE_NAME: Record<string, string> = { TO_ENDPOINT: 'to-endpoint', FROM_ENDPOINT: 'from-endpoint' };
const MATCH_NAME: Record<number, string> = {
  0: 'none',
  1: 'l3-only',
  2: 'l3-l4',
  3: 'l4-only',
  4: 'all',
  5: 'l3-proto',
  6: 'proto-only',
};

/** "80" for 80, without a new string per flow */
const PORT_NAMES: string[] = [];
function portName(n: number): string {
  return (PORT_NAMES[n] ??= String(n));
}

function l4Protocol(f: Flow): string {
  const l4 = f.l4;
  if (!l4) return 'unknown';
  if (l4.TCP) return 'TCP';
  if (l4.UDP) return 'UDP';
  if (l4.SCTP) return 'SCTP';
  if (l4.ICMPv4) return 'ICMPv4';
  if (l4.ICMPv6) return 'ICMPv6';
  return 'unknown';
}

interface Cell {
  labels: Record<string, string>;
  pending: number;
}

/**
 * A counter counted in plain numbers and handed to prom-client when scraped: prom-client hashes
 * the label object on every inc() (also through a labels() child), which made metrics a third of
 * observe(); flows repeat few label sets. Label values go in labelNames order, at most three.
 */
class CachedCounter<L extends string> {
  private readonly cells = new Map<string, Map<string, Map<string, Cell>>>();
  private readonly all: Cell[] = [];
  readonly counter: Counter<L>;
  constructor(
    name: string,
    help: string,
    private readonly labelNames: L[],
    registry: Registry,
  ) {
    const all = this.all;
    this.counter = new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        for (const c of all)
          if (c.pending) {
            this.inc(c.labels as Record<L, string>, c.pending);
            c.pending = 0;
          }
      },
    });
  }
  inc(n: number, a: string, b = '', c = ''): void {
    let l1 = this.cells.get(a);
    if (!l1) this.cells.set(a, (l1 = new Map()));
    let l2 = l1.get(b);
    if (!l2) l1.set(b, (l2 = new Map()));
    let cell = l2.get(c);
    if (!cell) {
      const values = [a, b, c];
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]!));
      cell = { labels, pending: 0 };
      l2.set(c, cell);
      this.all.push(cell);
    }
    cell.pending += n;
  }
}

export class HubbleMetrics {
  readonly registry: Registry;
  private readonly enabled: Set<MetricName>;
  private readonly lost: CachedCounter<'source'>;
  private readonly flows?: CachedCounter<'type' | 'subtype' | 'verdict'>;
  private readonly drops?: CachedCounter<'reason' | 'protocol'>;
  private readonly tcp?: CachedCounter<'flag' | 'family'>;
  private readonly ports?: CachedCounter<'protocol' | 'port'>;
  private readonly policy?: CachedCounter<'direction' | 'match' | 'action'>;
  private readonly icmp?: CachedCounter<'family' | 'type'>;
  private readonly l7?: L7Metrics;
  private readonly follows: Gauge;
  private readonly followsRejected: Counter;

  /** `options`: each metric's options (parseMetricOptions); only the L7 handlers read theirs. */
  constructor(
    enabled: readonly MetricName[] = [],
    registry = new Registry(),
    options: ReadonlyMap<string, Record<string, string>> = new Map(),
  ) {
    this.registry = registry;
    this.enabled = new Set(enabled);
    const l7 = new Map<L7MetricName, Record<string, string>>();
    for (const name of L7_METRICS) if (this.enabled.has(name)) l7.set(name, options.get(name) ?? {});
    if (l7.size) this.l7 = new L7Metrics(l7, registry);
    const c = <L extends string>(name: string, help: string, labelNames: L[]): CachedCounter<L> =>
      new CachedCounter(name, help, labelNames, registry);
    this.lost = c('hubble_lost_events_total', 'Number of lost events', ['source']);
    // cilium-ts's own (upstream has no cap): the follow streams' cap is worth watching
    this.follows = new Gauge({
      name: 'hubble_follow_streams',
      help: 'GetFlows follow streams served now',
      registers: [registry],
    });
    this.followsRejected = new Counter({
      name: 'hubble_follow_streams_rejected_total',
      help: 'GetFlows follow streams refused because the cap was reached',
      registers: [registry],
    });
    if (this.enabled.has('flow'))
      this.flows = c('hubble_flows_processed_total', 'Total number of flows processed', ['type', 'subtype', 'verdict']);
    if (this.enabled.has('drop')) this.drops = c('hubble_drop_total', 'Number of drops', ['reason', 'protocol']);
    if (this.enabled.has('tcp')) this.tcp = c('hubble_tcp_flags_total', 'TCP flag occurrences', ['flag', 'family']);
    if (this.enabled.has('port-distribution'))
      this.ports = c('hubble_port_distribution_total', 'Numbers of packets distributed by destination port', [
        'protocol',
        'port',
      ]);
    if (this.enabled.has('policy'))
      this.policy = c('hubble_policy_verdicts_total', 'Number of policy verdicts', ['direction', 'match', 'action']);
    if (this.enabled.has('icmp')) this.icmp = c('hubble_icmp_total', 'Number of ICMP messages', ['family', 'type']);
  }

  get names(): MetricName[] {
    return [...this.enabled];
  }

  followStreams(n: number): void {
    this.follows.set(n);
  }

  followStreamRejected(): void {
    this.followsRejected.inc();
  }

  lostEvents(source: LostEventSource, n: number): void {
    if (n > 0) this.lost.inc(n, source.toLowerCase());
  }

  observe(f: Flow): void {
    const verdict = f.verdict ?? 'VERDICT_UNKNOWN';
    const type = f.event_type?.type ?? 0;
    this.flows?.inc(
      1,
      EVENT_TYPE_NAME[type] ?? 'Unknown',
      f.l7
        ? f.l7.dns
          ? 'DNS'
          : f.l7.http
            ? 'HTTP'
            : f.l7.kafka
              ? 'Kafka'
              : ''
        : (SUBTYPE_NAME[f.trace_observation_point ?? ''] ?? ''),
      verdict,
    );
    // a policy denial yields a drop event and a DROPPED policy verdict: count the packet once
    if (this.drops && verdict === 'DROPPED' && type !== 5)
      this.drops.inc(1, f.drop_reason_desc ?? 'DROP_REASON_UNKNOWN', l4Protocol(f));
    const family = f.IP?.ipVersion ?? 'IP_NOT_USED';
    const tcp = f.l4?.TCP;
    if (this.tcp && tcp?.flags) {
      const fl = tcp.flags;
      const flag = fl.SYN ? (fl.ACK ? 'SYN-ACK' : 'SYN') : fl.FIN ? 'FIN' : fl.RST ? 'RST' : undefined;
      if (flag) this.tcp.inc(1, flag, family);
    }
    if (this.ports && !f.is_reply?.value) {
      const p = f.l4?.TCP ?? f.l4?.UDP ?? f.l4?.SCTP;
      if (p) this.ports.inc(1, l4Protocol(f), portName(p.destination_port));
    }
    if (this.policy && type === 5) {
      const action = verdict === 'DROPPED' ? 'dropped' : verdict === 'REDIRECTED' ? 'redirected' : 'forwarded';
      const direction =
        f.traffic_direction === 'INGRESS' ? 'ingress' : f.traffic_direction === 'EGRESS' ? 'egress' : 'unknown';
      this.policy.inc(1, direction, MATCH_NAME[f.policy_match_type ?? 0] ?? 'unknown', action);
    }
    if (this.l7 && f.l7) this.l7.observe(f);
    if (this.icmp) {
      const icmp = f.l4?.ICMPv4 ?? f.l4?.ICMPv6;
      if (icmp) this.icmp.inc(1, f.l4?.ICMPv4 ? 'IPv4' : 'IPv6', portName(icmp.type));
    }
  }
}
