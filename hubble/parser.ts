// DatapathEvent → flow.Flow. Ethernet, IP and L4 come from the captured bytes; verdict, drop
// reason, observation point and reply state from the event header; pod names and labels from
// the resolver. The parser never throws on packet bytes: a truncated capture yields a flow with
// what could be read (upstream does the same), because a drop of a malformed packet is exactly
// what a user wants to see.
import type { DatapathEvent } from '../datapath/events.js';
import { FlowInterner } from './intern.js';
import { reservedIdentityLabels, type EndpointInfo, type Resolver } from './resolver.js';
import { dropReasonDesc } from './proto.js';
import type { Endpoint, Flow, IPVersion, Layer4, TrafficDirection } from './types.js';
import { timestampFromMs } from './types.js';
import { FlowIds } from './uuid.js';

export interface ParserOptions {
  nodeName: string;
  resolver: Resolver;
  /** wall clock in ms; the datapath events carry no time of their own */
  now: () => number;
  /** give every flow a uuid (a UUIDv8 from a counter and the node name; hubble/uuid.ts) */
  uuids: boolean;
}

/** Monitor message types (CILIUM_NOTIFY_* in bpf/lib/common.h) as Hubble puts them in event_type.type. */
export const MessageType = { drop: 1, trace: 4, policyVerdict: 5 } as const;
/** conntrack reason of a trace event that marks a reply */
const TRACE_REASON_CT_REPLY = 2;

interface Decoded {
  ethernet?: Flow['ethernet'];
  IP?: Flow['IP'];
  l4?: Layer4;
}

export class FlowParser {
  private readonly o: ParserOptions;
  private readonly intern = new FlowInterner();
  /** where flow uuids come from (the ring stores their counter values) */
  readonly ids: FlowIds;
  constructor(o: Partial<ParserOptions> & Pick<ParserOptions, 'nodeName' | 'resolver'>) {
    this.o = { now: Date.now, uuids: true, ...o };
    this.ids = new FlowIds(this.o.nodeName);
  }

  /** Returns undefined for events that are not flows (unknown message types). */
  parse(e: DatapathEvent): Flow | undefined {
    if (e.type === 'unknown') return undefined;
    const pkt = decodePacket(e.data, this.intern);
    const flow: Flow = {
      time: timestampFromMs(this.o.now()),
      verdict: 'VERDICT_UNKNOWN',
      ...pkt,
      Type: 'L3_L4',
      node_name: this.o.nodeName,
    };
    if (this.o.uuids) flow.uuid = this.ids.next();
    const src = pkt.IP?.source;
    const dst = pkt.IP?.destination;
    const local = this.o.resolver.endpointById(e.source);
    let srcId = 0;
    let dstId = 0;
    let direction: TrafficDirection = 'TRAFFIC_DIRECTION_UNKNOWN';
    switch (e.type) {
      case 'drop': {
        flow.verdict = 'DROPPED';
        flow.drop_reason = e.reason;
        flow.drop_reason_desc = dropReasonDesc(e.reason);
        flow.event_type = this.intern.eventType(MessageType.drop, e.reason);
        flow.interface = this.intern.iface(e.ifindex);
        srcId = e.srcLabel;
        dstId = e.dstLabel;
        direction = directionOf(local, e.source, src, dst, this.o.resolver);
        break;
      }
      case 'trace': {
        flow.verdict = 'FORWARDED';
        const toEndpoint = e.obsPoint === 0;
        flow.trace_observation_point = toEndpoint
          ? 'TO_ENDPOINT'
          : e.obsPoint === 5
            ? 'FROM_ENDPOINT'
            : 'UNKNOWN_POINT';
        flow.event_type = this.intern.eventType(MessageType.trace, e.obsPoint);
        flow.interface = this.intern.iface(e.ifindex);
        const reply = e.reason === TRACE_REASON_CT_REPLY;
        flow.is_reply = reply ? this.intern.replyTrue : this.intern.replyFalse;
        flow.reply = reply;
        srcId = e.srcLabel;
        dstId = e.dstLabel;
        // a reply travels against the connection's direction, which is what traffic_direction names
        const seen: TrafficDirection = toEndpoint ? 'INGRESS' : 'EGRESS';
        direction = reply ? (seen === 'INGRESS' ? 'EGRESS' : 'INGRESS') : seen;
        break;
      }
      case 'policy-verdict': {
        flow.verdict = e.verdict < 0 ? 'DROPPED' : e.verdict > 0 ? 'REDIRECTED' : 'FORWARDED';
        if (e.verdict > 0) flow.proxy_port = e.verdict;
        if (e.verdict < 0) {
          flow.drop_reason = -e.verdict;
          flow.drop_reason_desc = dropReasonDesc(-e.verdict);
        }
        flow.event_type = this.intern.eventType(MessageType.policyVerdict, 0);
        flow.policy_match_type = e.matchType;
        direction = e.direction === 'ingress' ? 'INGRESS' : 'EGRESS';
        const localId = local?.identity ?? 0;
        srcId = direction === 'INGRESS' ? e.remoteLabel : localId;
        dstId = direction === 'INGRESS' ? localId : e.remoteLabel;
        break;
      }
    }
    flow.traffic_direction = direction;
    // the local endpoint is the source of what leaves it and the destination of what enters it
    const localIsSource =
      direction === 'EGRESS' ? !flow.is_reply?.value : direction === 'INGRESS' ? !!flow.is_reply?.value : false;
    const localIsDest =
      direction === 'INGRESS' ? !flow.is_reply?.value : direction === 'EGRESS' ? !!flow.is_reply?.value : false;
    flow.source = this.endpoint(src, srcId, localIsSource ? local : undefined);
    flow.destination = this.endpoint(dst, dstId, localIsDest ? local : undefined);
    this.services(flow);
    return flow;
  }

  /** source_service / destination_service from the addresses and ports (upstream threefour.go). */
  private services(flow: Flow): void {
    const at = this.o.resolver.serviceAt?.bind(this.o.resolver);
    const proto = flow.l4?.TCP ? 'TCP' : flow.l4?.UDP ? 'UDP' : undefined;
    const ports = flow.l4?.TCP ?? flow.l4?.UDP;
    if (!at || !proto || !ports || !flow.IP) return;
    const s = at(flow.IP.source, ports.source_port, proto);
    if (s) flow.source_service = s;
    const d = at(flow.IP.destination, ports.destination_port, proto);
    if (d) flow.destination_service = d;
  }

  private endpoint(ip: string | undefined, identity: number, local: EndpointInfo | undefined): Endpoint {
    const info = local ?? (ip ? this.o.resolver.endpointByIp(ip) : undefined);
    if (info) return this.intern.endpointOf(info, identity);
    const labels = this.o.resolver.identityLabels(identity) ?? reservedIdentityLabels[identity] ?? NO_LABELS;
    return this.intern.endpointOfIdentity(identity, labels);
  }
}

function directionOf(
  local: EndpointInfo | undefined,
  source: number,
  src: string | undefined,
  dst: string | undefined,
  r: Resolver,
): TrafficDirection {
  // a drop event says where it happened (the endpoint), not which way: compare the endpoint's IPs
  const ips = local?.ips;
  if (ips && src && ips.includes(src)) return 'EGRESS';
  if (ips && dst && ips.includes(dst)) return 'INGRESS';
  if (src && r.endpointByIp(src)?.id === source) return 'EGRESS';
  if (dst && r.endpointByIp(dst)?.id === source) return 'INGRESS';
  return 'TRAFFIC_DIRECTION_UNKNOWN';
}

const NO_LABELS: string[] = [];
/** for decodePacket's callers outside a parser (tests, tools) */
const sharedInterner = new FlowInterner();

/** RFC 5952 text: lower case, longest zero run (≥ 2 groups) as "::". */
export function ipv6(b: Uint8Array, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[off + i * 2]! << 8) | b[off + i * 2 + 1]!);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const part = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return part(g);
  return `${part(g.slice(0, bestAt))}::${part(g.slice(bestAt + bestLen))}`;
}

const IPV6_EXT = new Set([0, 43, 60]);

/** Ethernet, IPv4/IPv6 (skipping hop-by-hop, routing and destination options) and TCP/UDP/SCTP/ICMP. */
export function decodePacket(b: Uint8Array, intern = sharedInterner): Decoded {
  const out: Decoded = {};
  if (b.length < 14) return out;
  out.ethernet = intern.ethernet(intern.mac(b, 6), intern.mac(b, 0));
  const etherType = (b[12]! << 8) | b[13]!;
  let off = 14;
  let proto: number;
  let version: IPVersion;
  if (etherType === 0x0800) {
    if (b.length < off + 20) return out;
    const ihl = (b[off]! & 0x0f) * 4;
    proto = b[off + 9]!;
    version = 'IPv4';
    out.IP = intern.ip(intern.ipv4(b, off + 12), intern.ipv4(b, off + 16), version);
    // a later fragment carries no L4 header
    if ((((b[off + 6]! & 0x1f) << 8) | b[off + 7]!) !== 0) return out;
    off += ihl;
  } else if (etherType === 0x86dd) {
    if (b.length < off + 40) return out;
    proto = b[off + 6]!;
    version = 'IPv6';
    out.IP = intern.ip(ipv6(b, off + 8), ipv6(b, off + 24), version);
    off += 40;
    while (IPV6_EXT.has(proto) && b.length >= off + 8) {
      proto = b[off]!;
      off += (b[off + 1]! + 1) * 8;
    }
  } else {
    return out;
  }
  const port = (at: number): number => (b[at]! << 8) | b[at + 1]!;
  switch (proto) {
    case 6:
      if (b.length < off + 14) return out;
      out.l4 = {
        TCP: {
          source_port: port(off),
          destination_port: port(off + 2),
          flags: intern.tcpFlags(b[off + 13]!, b[off + 12]!),
        },
      };
      break;
    case 17:
      if (b.length < off + 4) return out;
      out.l4 = { UDP: { source_port: port(off), destination_port: port(off + 2) } };
      break;
    case 132:
      if (b.length < off + 4) return out;
      out.l4 = { SCTP: { source_port: port(off), destination_port: port(off + 2) } };
      break;
    case 1:
      if (b.length < off + 2) return out;
      out.l4 = { ICMPv4: { type: b[off]!, code: b[off + 1]! } };
      break;
    case 58:
      if (b.length < off + 2) return out;
      out.l4 = { ICMPv6: { type: b[off]!, code: b[off + 1]! } };
      break;
  }
  return out;
}
