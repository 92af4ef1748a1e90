// How `hubble observe` prints responses: compact (one line), dict (key: value blocks), table,
// json (the flow) and jsonpb (the whole response in protobuf's JSON mapping: lowerCamelCase
// names, RFC 3339 times, wrappers unwrapped, 64-bit integers as strings).
import { l7Summary } from './l7-parser.js';
import type { Endpoint, Flow, GetFlowsResponse, Timestamp } from './types.js';

export type OutputFormat = 'compact' | 'dict' | 'json' | 'jsonpb' | 'table';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['compact', 'dict', 'json', 'jsonpb', 'table'];

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "Nov 25 14:40:32.123" in UTC, as upstream's compact time (StampMilli). */
export function stampMilli(t: Timestamp | undefined): string {
  if (!t) return 'N/A';
  const d = new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6));
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${MONTHS[d.getUTCMonth()]} ${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}`;
}

function rfc3339(t: Timestamp): string {
  const ms = Number(t.seconds) * 1000;
  const base = new Date(ms).toISOString().slice(0, 19);
  const nanos = t.nanos ?? 0;
  return nanos ? `${base}.${String(nanos).padStart(9, '0').replace(/0+$/, '')}Z` : `${base}Z`;
}

function port(f: Flow, side: 'source_port' | 'destination_port'): number | undefined {
  const l4 = f.l4;
  return (l4?.TCP ?? l4?.UDP ?? l4?.SCTP)?.[side];
}

function endpoint(ep: Endpoint | undefined, ip: string | undefined, p: number | undefined, names?: string[]): string {
  // upstream's host: the pod, else the DNS names learned for the address, else the address
  let name = ep?.pod_name ? `${ep.namespace}/${ep.pod_name}` : names?.length ? names.join(',') : (ip ?? '');
  if (!ep?.pod_name && ep?.labels?.some((l) => l.startsWith('reserved:')))
    name = `${ip ?? ''} (${ep.labels.find((l) => l.startsWith('reserved:'))!.slice(9)})`;
  if (p !== undefined) name = ip?.includes(':') && !ep?.pod_name ? `[${name}]:${p}` : `${name}:${p}`;
  return ep?.identity ? `${name} (ID:${ep.identity})` : name;
}

const TYPE_NAME: Record<number, string> = { 1: 'drop', 4: 'trace', 5: 'policy-verdict' };

function eventType(f: Flow): string {
  const l7 = f.l7;
  if (l7) {
    // upstream: http-request, http-response, dns-request proxy, dns-response proxy
    const kind = (l7.type ?? 'UNKNOWN_L7_TYPE').toLowerCase();
    if (l7.http) return `http-${kind}`;
    if (l7.dns) return `dns-${kind} ${l7.dns.observation_source ?? ''}`.trimEnd();
    if (l7.kafka) return `kafka-${kind}`;
    return `l7-${kind}`;
  }
  const t = f.event_type?.type ?? 0;
  if (t === 4)
    return f.trace_observation_point === 'TO_ENDPOINT'
      ? 'to-endpoint'
      : f.trace_observation_point === 'FROM_ENDPOINT'
        ? 'from-endpoint'
        : 'trace';
  if (t === 5)
    return `policy-verdict:${['none', 'L3-Only', 'L3-L4', 'L4-Only', 'all', 'L3-Proto', 'Proto-Only'][f.policy_match_type ?? 0] ?? 'unknown'} ${f.traffic_direction ?? ''}`.trim();
  return TYPE_NAME[t] ?? 'unknown';
}

function summary(f: Flow): string {
  const l7 = l7Summary(f);
  if (l7 !== undefined) return l7;
  const l4 = f.l4;
  if (l4?.TCP) {
    const flags = Object.entries(l4.TCP.flags ?? {})
      .filter(([, v]) => v)
      .map(([k]) => k);
    return `TCP Flags: ${flags.join(', ')}`;
  }
  if (l4?.UDP) return 'UDP';
  if (l4?.SCTP) return 'SCTP';
  if (l4?.ICMPv4) return `ICMPv4 ${icmpName(l4.ICMPv4.type, false)}`;
  if (l4?.ICMPv6) return `ICMPv6 ${icmpName(l4.ICMPv6.type, true)}`;
  return '';
}

function icmpName(type: number, v6: boolean): string {
  const v4: Record<number, string> = {
    0: 'EchoReply',
    3: 'DestinationUnreachable',
    8: 'EchoRequest',
    11: 'TimeExceeded',
  };
  const six: Record<number, string> = {
    1: 'DestinationUnreachable',
    2: 'PacketTooBig',
    3: 'TimeExceeded',
    128: 'EchoRequest',
    129: 'EchoReply',
    135: 'NeighborSolicitation',
    136: 'NeighborAdvertisement',
  };
  return (v6 ? six : v4)[type] ?? `Type${type}`;
}

function verdictText(f: Flow): string {
  const v = f.verdict ?? 'VERDICT_UNKNOWN';
  return v === 'DROPPED' && f.drop_reason_desc ? `DROPPED (${f.drop_reason_desc})` : v;
}

function arrow(f: Flow): string {
  if (f.is_reply === undefined) return '<>';
  return f.is_reply.value ? '<-' : '->';
}

/** One non-flow response as text (lost events, node status), the same in every text format. */
function special(r: GetFlowsResponse): string | undefined {
  if (r.lost_events)
    return `EVENTS LOST: ${r.lost_events.source} CPU(${r.lost_events.cpu?.value ?? 'unknown'}) ${r.lost_events.num_events_lost}`;
  if (r.node_status)
    return `${r.node_status.state_change}: ${r.node_status.node_names.join(', ')}${r.node_status.message ? ` (${r.node_status.message})` : ''}`;
  return undefined;
}

export function formatCompact(r: GetFlowsResponse, printNode = false): string {
  const s = special(r);
  if (s !== undefined) return s;
  const f = r.flow!;
  const node = printNode ? ` [${r.node_name ?? f.node_name ?? ''}]` : '';
  const src = endpoint(f.source, f.IP?.source, port(f, 'source_port'), f.source_names);
  const dst = endpoint(f.destination, f.IP?.destination, port(f, 'destination_port'), f.destination_names);
  // upstream turns a reply around: the client stays on the left, the arrow points to it
  const [left, right] = f.is_reply?.value ? [dst, src] : [src, dst];
  return `${stampMilli(f.time)}${node}: ${left} ${arrow(f)} ${right} ${eventType(f)} ${verdictText(f)} (${summary(f)})`;
}

export function formatDict(r: GetFlowsResponse): string {
  const s = special(r);
  if (s !== undefined) return `  EVENT: ${s}\n------------`;
  const f = r.flow!;
  const rows: [string, string][] = [
    ['TIMESTAMP', stampMilli(f.time)],
    ['NODE', r.node_name ?? f.node_name ?? ''],
    ['SOURCE', endpoint(f.source, f.IP?.source, port(f, 'source_port'), f.source_names)],
    ['SOURCE LABELS', (f.source?.labels ?? []).join(', ')],
    ['DESTINATION', endpoint(f.destination, f.IP?.destination, port(f, 'destination_port'), f.destination_names)],
    ['DESTINATION LABELS', (f.destination?.labels ?? []).join(', ')],
    ['TYPE', eventType(f)],
    ['VERDICT', f.verdict ?? 'VERDICT_UNKNOWN'],
  ];
  if (f.drop_reason_desc) rows.push(['DROP REASON', f.drop_reason_desc]);
  rows.push(['SUMMARY', summary(f)]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return `${rows.map(([k, v]) => `${k.padStart(w)}: ${v}`).join('\n')}\n------------`;
}

export const TABLE_HEADER = ['TIMESTAMP', 'NODE', 'SOURCE', 'DESTINATION', 'TYPE', 'VERDICT', 'SUMMARY'];

export function tableRow(r: GetFlowsResponse): string[] {
  const s = special(r);
  if (s !== undefined) return [stampMilli(r.time), r.node_name ?? '', s, '', '', '', ''];
  const f = r.flow!;
  return [
    stampMilli(f.time),
    r.node_name ?? f.node_name ?? '',
    endpoint(f.source, f.IP?.source, port(f, 'source_port'), f.source_names),
    endpoint(f.destination, f.IP?.destination, port(f, 'destination_port'), f.destination_names),
    eventType(f),
    verdictText(f),
    summary(f),
  ];
}

/** Rows padded to their widest cell (a table printed once the stream ends). */
export function formatTable(rows: string[][]): string {
  const all = [TABLE_HEADER, ...rows];
  const widths = TABLE_HEADER.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

const WRAPPERS = new Set(['is_reply', 'cpu', 'num_connected_nodes', 'num_unavailable_nodes']);
const INT64 = new Set([
  'num_events_lost',
  'num_flows',
  'max_flows',
  'seen_flows',
  'uptime_ns',
  'socket_cookie',
  'cgroup_id',
  'latency_ns',
]);

function camel(k: string): string {
  return k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** protobuf's canonical JSON mapping of our plain objects. */
export function toProtoJson(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => toProtoJson(x, key));
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ((key === 'time' || key === 'since' || key === 'until') && 'seconds' in o)
      return rfc3339(o as unknown as Timestamp);
    if (WRAPPERS.has(key) && 'value' in o) return o.value;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) {
      // proto-loader's oneof discriminators are not fields
      if (
        x === undefined ||
        k === 'response_types' ||
        (key === 'l4' && k === 'protocol') ||
        (key === 'l7' && k === 'record') ||
        (key === 'agent_event' && k === 'event')
      )
        continue;
      out[camel(k)] = INT64.has(k) ? String(x) : toProtoJson(x, k);
    }
    return out;
  }
  return v;
}

export function formatJson(r: GetFlowsResponse, wholeResponse: boolean): string {
  return JSON.stringify(toProtoJson(wholeResponse ? r : (r.flow ?? r)));
}
