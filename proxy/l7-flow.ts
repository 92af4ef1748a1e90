// The proxy's typed L7 events and their shape as Hubble's `flow.Layer7` (flow.proto: Layer7
// {type, latency_ns, dns = 100, http = 101}; DNS {query, ips, ttl, cnames, observation_source,
// rcode, qtypes, rrtypes}; HTTP {code, method, url, protocol, headers}). The agent turns an event
// into a Flow (endpoints, IPs, ports from its own tables) and feeds it to the observer.

/** An address and port as the proxy saw them. */
export interface L7Peer {
  address: string;
  port: number;
}

/** The source endpoint the agent's lookup returned for a proxied connection. */
export interface L7Endpoint {
  /** the endpoint ID (cilium-dbg endpoint list) */
  id: number;
  /** the security identity (numeric) */
  identity?: number;
}

/** A DNS query the proxy received (request) or the answer it released or made up (response). */
export interface DnsL7Event {
  protocol: 'dns';
  kind: 'request' | 'response';
  /** FORWARDED: allowed and passed on; DROPPED: refused by policy; ERROR: no answer could be had */
  verdict: 'FORWARDED' | 'DROPPED' | 'ERROR';
  transport: 'udp' | 'tcp';
  endpoint?: L7Endpoint;
  source: L7Peer;
  destination?: L7Peer;
  /** the query name, fully qualified (trailing dot), as the client wrote it */
  query: string;
  qtypes: string[];
  /** RFC 1035 response code (responses only) */
  rcode?: number;
  ips?: string[];
  /** the least TTL along the answer's chain, seconds */
  ttl?: number;
  cnames?: string[];
  rrtypes?: string[];
  /** time from the query's arrival to the response's release (responses only) */
  latencyNs?: number;
}

/** An HTTP request the proxy received (request) or the response it sent back (response). */
export interface HttpL7Event {
  protocol: 'http';
  kind: 'request' | 'response';
  verdict: 'FORWARDED' | 'DROPPED' | 'ERROR';
  endpoint?: L7Endpoint;
  source: L7Peer;
  destination?: L7Peer;
  method: string;
  /** the absolute URL as Hubble prints it (http://host/path?query) */
  url: string;
  /** `HTTP/1.1` */
  protocolVersion: string;
  /** the response status (responses only; 403 for a request policy denied) */
  code?: number;
  latencyNs?: number;
}

export type L7Event = DnsL7Event | HttpL7Event;

/** flow.Layer7 as @grpc/proto-loader takes it (keepCase, enums as names). */
export interface FlowLayer7 {
  type: 'REQUEST' | 'RESPONSE';
  latency_ns: number;
  dns?: {
    query: string;
    ips: string[];
    ttl: number;
    cnames: string[];
    observation_source: string;
    rcode: number;
    qtypes: string[];
    rrtypes: string[];
  };
  http?: { code: number; method: string; url: string; protocol: string; headers: { key: string; value: string }[] };
}

/** The Layer7 message of the flow the agent builds from `e`. */
export function toFlowLayer7(e: L7Event): FlowLayer7 {
  const base = { type: e.kind === 'request' ? 'REQUEST' : 'RESPONSE', latency_ns: e.latencyNs ?? 0 } as const;
  if (e.protocol === 'dns') {
    return {
      ...base,
      dns: {
        query: e.query,
        ips: e.ips ?? [],
        ttl: e.ttl ?? 0,
        cnames: e.cnames ?? [],
        // upstream's DNS proxy reports itself as the observation source (hubble parser: "proxy")
        observation_source: 'proxy',
        rcode: e.rcode ?? 0,
        qtypes: e.qtypes,
        rrtypes: e.rrtypes ?? [],
      },
    };
  }
  return {
    ...base,
    http: { code: e.code ?? 0, method: e.method, url: e.url, protocol: e.protocolVersion, headers: [] },
  };
}
