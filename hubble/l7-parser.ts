// The proxy's L7 events → flow.Flow of Type L7, as upstream's L7 ("seven") parser builds them
// from the proxy's access log: event_type 129 (monitor's MessageTypeAccessLog, `hubble observe -t
// l7`), l7.type REQUEST or RESPONSE, a response's addresses turned around (its source is the
// server) with is_reply set, requests carrying only the fields a request has (no rcode, IPs or
// status), passwords in URLs redacted. Endpoints, identities, names and Services come from the
// lookup the caller passes (the agent's resolver); nothing here does I/O.
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { FlowInterner } from './intern.js';
import { reservedIdentityLabels, type Resolver } from './resolver.js';
import {
  timestampFromMs,
  type DNS,
  type Endpoint,
  type Flow,
  type HTTP,
  type L7Event,
  type L7Peer,
  type Layer7,
  type TrafficDirection,
} from './types.js';

/** monitor's MessageTypeAccessLog: the event_type.type of every L7 flow. */
export const MESSAGE_TYPE_ACCESS_LOG = 129;

export interface L7ParserOptions {
  nodeName: string;
  /** wall clock in ms, for events without their own time */
  now: () => number;
  /** give every flow a random uuid */
  uuids: boolean;
}

const NO_LABELS: string[] = [];
const NO_PEER: L7Peer = { address: '', port: 0 };

export class L7FlowParser {
  private readonly o: L7ParserOptions;
  private readonly intern = new FlowInterner();

  constructor(o: Partial<L7ParserOptions> & Pick<L7ParserOptions, 'nodeName'>) {
    this.o = { now: Date.now, uuids: true, ...o };
  }

  /** One event as a flow; `lookup` names the endpoints behind its addresses. */
  parse(e: L7Event, lookup: Resolver): Flow {
    const reply = e.kind === 'response';
    const direction = directionOf(e, lookup);
    const client = e.source;
    const server = e.destination ?? NO_PEER;
    // the proxied endpoint is the client on egress and the server on ingress
    const clientEp = this.endpoint(client.address, direction === 'EGRESS' ? e : undefined, lookup);
    const serverEp = this.endpoint(server.address, direction === 'INGRESS' ? e : undefined, lookup);
    const [src, dst] = reply ? [server, client] : [client, server];
    const v6 = isIP(src.address) === 6 || isIP(dst.address) === 6;
    const ports = { source_port: src.port, destination_port: dst.port };
    const udp = e.protocol === 'dns' && e.transport === 'udp';
    const flow: Flow = {
      time: timestampFromMs(e.timeMs ?? this.o.now()),
      verdict: e.verdict,
      IP: this.intern.ip(src.address, dst.address, v6 ? 'IPv6' : 'IPv4'),
      l4: udp ? { UDP: ports } : { TCP: ports },
      source: reply ? serverEp : clientEp,
      destination: reply ? clientEp : serverEp,
      Type: 'L7',
      node_name: this.o.nodeName,
      l7: layer7Of(e),
      is_reply: reply ? this.intern.replyTrue : this.intern.replyFalse,
      reply,
      event_type: this.intern.eventType(MESSAGE_TYPE_ACCESS_LOG, 0),
      traffic_direction: direction,
    };
    if (this.o.uuids) flow.uuid = randomUUID();
    const srcNames = namesOf(lookup, src.address);
    if (srcNames) flow.source_names = srcNames;
    const dstNames = namesOf(lookup, dst.address);
    if (dstNames) flow.destination_names = dstNames;
    const proto = udp ? 'UDP' : 'TCP';
    const srcSvc = src.address ? lookup.serviceAt?.(src.address, src.port, proto) : undefined;
    if (srcSvc) flow.source_service = srcSvc;
    const dstSvc = dst.address ? lookup.serviceAt?.(dst.address, dst.port, proto) : undefined;
    if (dstSvc) flow.destination_service = dstSvc;
    return flow;
  }

  /** The proxied endpoint (by id) when `local` is given, else whoever holds the address. */
  private endpoint(address: string, local: L7Event | undefined, lookup: Resolver): Endpoint {
    const own = local?.endpoint;
    if (own) {
      const info = lookup.endpointById(own.id);
      if (info) return this.intern.endpointOf(info, own.identity ?? 0);
      const identity = own.identity ?? 0;
      return { ID: own.id, identity, labels: labelsOf(lookup, identity) };
    }
    const info = address ? lookup.endpointByIp(address) : undefined;
    if (info) return this.intern.endpointOf(info, 0);
    const identity = (address && lookup.identityOfIp?.(address)) || 0;
    return this.intern.endpointOfIdentity(identity, labelsOf(lookup, identity));
  }
}

function labelsOf(lookup: Resolver, identity: number): string[] {
  if (!identity) return NO_LABELS;
  return lookup.identityLabels(identity) ?? reservedIdentityLabels[identity] ?? NO_LABELS;
}

/** Names without the trailing dot, as Hubble shows them (source_names / destination_names). */
function namesOf(lookup: Resolver, ip: string): string[] | undefined {
  const names = ip ? lookup.namesOf?.(ip) : undefined;
  if (!names?.length) return undefined;
  return names.map((n) => (n.endsWith('.') ? n.slice(0, -1) : n));
}

/** The event's direction, else the proxied endpoint's side of the connection, else UNKNOWN. */
function directionOf(e: L7Event, lookup: Resolver): TrafficDirection {
  if (e.direction) return e.direction === 'ingress' ? 'INGRESS' : 'EGRESS';
  const id = e.endpoint?.id;
  if (id === undefined) return 'TRAFFIC_DIRECTION_UNKNOWN';
  const ips = lookup.endpointById(id)?.ips;
  if (ips?.includes(e.source.address)) return 'EGRESS';
  if (e.destination && ips?.includes(e.destination.address)) return 'INGRESS';
  if (lookup.endpointByIp(e.source.address)?.id === id) return 'EGRESS';
  if (e.destination && lookup.endpointByIp(e.destination.address)?.id === id) return 'INGRESS';
  // the proxy names the endpoint whose traffic it redirected: by default the client's
  return 'EGRESS';
}

/** flow.Layer7 of an event: a request carries what a request has, a response the rest too. */
export function layer7Of(e: L7Event): Layer7 {
  const type = e.kind === 'request' ? 'REQUEST' : 'RESPONSE';
  const latency_ns = e.kind === 'response' ? (e.latencyNs ?? 0) : 0;
  if (e.protocol === 'dns') {
    // upstream's DNS proxy reports itself as the observation source (`dns-request proxy`)
    const dns: DNS = { query: e.query, observation_source: 'proxy', qtypes: e.qtypes };
    if (e.kind === 'response') {
      dns.ips = e.ips ?? [];
      dns.ttl = e.ttl ?? 0;
      dns.cnames = e.cnames ?? [];
      dns.rcode = e.rcode ?? 0;
      dns.rrtypes = e.rrtypes ?? [];
    }
    return { type, latency_ns, dns };
  }
  const http: HTTP = { method: e.method, url: redactUrl(e.url), protocol: e.protocolVersion, headers: e.headers ?? [] };
  if (e.kind === 'response') http.code = e.code ?? 0;
  return { type, latency_ns, http };
}

/** A URL's password replaced by HUBBLE_REDACTED (upstream never puts one in a flow). */
export function redactUrl(url: string): string {
  const at = url.indexOf('@');
  if (at < 0) return url;
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = 'HUBBLE_REDACTED';
    return u.toString();
  } catch {
    return url;
  }
}

/** RFC 1035 / 6895 response codes as upstream's DNS layer names them. */
const RCODE_NAMES: Record<number, string> = {
  0: 'No Error',
  1: 'Format Error',
  2: 'Server Failure',
  3: 'Non-Existent Domain',
  4: 'Not Implemented',
  5: 'Query Refused',
  6: 'Name Exists when it should not',
  7: 'RR Set Exists when it should not',
  8: 'RR Set that should exist does not',
  9: 'Server Not Authoritative for zone',
  10: 'Name not contained in zone',
};

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? 'Unknown';
}

/**
 * The summary upstream's L7 parser writes for a flow: `HTTP/1.1 GET http://…/public`,
 * `HTTP/1.1 403 0ms (GET http://…)`, `DNS Query api.example.test. A`,
 * `DNS Answer "10.0.0.1" TTL: 30 (Proxy api.example.test. A)`. Undefined for other flows.
 */
export function l7Summary(f: Flow): string | undefined {
  const l7 = f.l7;
  if (!l7) return undefined;
  const response = l7.type === 'RESPONSE';
  if (l7.http) {
    const h = l7.http;
    const request = `${h.method ?? ''} ${h.url ?? ''}`;
    if (!response) return `${h.protocol ?? ''} ${request}`;
    return `${h.protocol ?? ''} ${h.code ?? 0} ${Math.floor(Number(l7.latency_ns ?? 0) / 1e6)}ms (${request})`;
  }
  if (l7.dns) {
    const d = l7.dns;
    const qtypes = (d.qtypes ?? []).join(',');
    if (!response) return `DNS Query ${d.query ?? ''} ${qtypes}`;
    let answer: string;
    if (d.rcode) answer = `RCode: ${rcodeName(d.rcode)}`;
    else {
      const parts: string[] = [];
      if (d.ips?.length) parts.push(JSON.stringify(d.ips.join(',')));
      if (d.cnames?.length) parts.push(`CNAMEs: ${JSON.stringify(d.cnames.join(','))}`);
      answer = parts.join(' ');
    }
    const source = d.observation_source === 'proxy' ? 'Proxy' : 'Query';
    return `DNS Answer ${answer} TTL: ${d.ttl ?? 0} (${source} ${d.query ?? ''} ${qtypes})`;
  }
  return undefined;
}
