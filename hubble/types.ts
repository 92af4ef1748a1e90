// The Hubble messages as plain objects, in the shape @grpc/proto-loader produces and accepts with
// keepCase, enums as names and 64-bit integers as numbers (proto.ts). Field names are the proto's
// (hence `IP`, `Type`, `ID`); the flow ring, filters, metrics and the CLI all share these types.

export interface Timestamp {
  seconds: number;
  nanos: number;
}

export type Verdict =
  'VERDICT_UNKNOWN' | 'FORWARDED' | 'DROPPED' | 'ERROR' | 'AUDIT' | 'REDIRECTED' | 'TRACED' | 'TRANSLATED';
export type TrafficDirection = 'TRAFFIC_DIRECTION_UNKNOWN' | 'INGRESS' | 'EGRESS';
export type IPVersion = 'IP_NOT_USED' | 'IPv4' | 'IPv6';
export type LostEventSource =
  'UNKNOWN_LOST_EVENT_SOURCE' | 'PERF_EVENT_RING_BUFFER' | 'OBSERVER_EVENTS_QUEUE' | 'HUBBLE_RING_BUFFER';
export type NodeState = 'UNKNOWN_NODE_STATE' | 'NODE_CONNECTED' | 'NODE_UNAVAILABLE' | 'NODE_GONE' | 'NODE_ERROR';

export interface Workload {
  name: string;
  kind: string;
}

export interface Endpoint {
  ID?: number;
  identity?: number;
  namespace?: string;
  labels?: string[];
  pod_name?: string;
  workloads?: Workload[];
}

export interface TCPFlags {
  FIN?: boolean;
  SYN?: boolean;
  RST?: boolean;
  PSH?: boolean;
  ACK?: boolean;
  URG?: boolean;
  ECE?: boolean;
  CWR?: boolean;
  NS?: boolean;
}

export interface Ports {
  source_port: number;
  destination_port: number;
}

/** flow.Service */
export interface Service {
  name: string;
  namespace: string;
}

export interface Layer4 {
  TCP?: Ports & { flags?: TCPFlags };
  UDP?: Ports;
  SCTP?: Ports;
  ICMPv4?: { type: number; code: number };
  ICMPv6?: { type: number; code: number };
  protocol?: 'TCP' | 'UDP' | 'SCTP' | 'ICMPv4' | 'ICMPv6';
}

export type L7FlowType = 'UNKNOWN_L7_TYPE' | 'REQUEST' | 'RESPONSE' | 'SAMPLE';

/** flow.DNS (a query, or the answer to it) */
export interface DNS {
  query?: string;
  ips?: string[];
  ttl?: number;
  cnames?: string[];
  observation_source?: string;
  rcode?: number;
  qtypes?: string[];
  rrtypes?: string[];
}

export interface HTTPHeader {
  key: string;
  value: string;
}

/** flow.HTTP */
export interface HTTP {
  code?: number;
  method?: string;
  url?: string;
  protocol?: string;
  headers?: HTTPHeader[];
}

/** flow.Layer7: one of dns (100), http (101), kafka (102); `record` is proto-loader's oneof name */
export interface Layer7 {
  type?: L7FlowType;
  latency_ns?: number;
  dns?: DNS;
  http?: HTTP;
  kafka?: { error_code?: number; api_version?: number; api_key?: string; correlation_id?: number; topic?: string };
  record?: 'dns' | 'http' | 'kafka';
}

export interface Flow {
  time?: Timestamp;
  uuid?: string;
  verdict?: Verdict;
  drop_reason?: number;
  ethernet?: { source: string; destination: string };
  IP?: { source: string; destination: string; ipVersion: IPVersion; encrypted?: boolean };
  l4?: Layer4;
  source?: Endpoint;
  destination?: Endpoint;
  Type?: 'UNKNOWN_TYPE' | 'L3_L4' | 'L7' | 'SOCK';
  node_name?: string;
  source_names?: string[];
  destination_names?: string[];
  /** the Service whose frontend (or, cilium-ts, backend) the source / destination address:port is */
  source_service?: Service;
  destination_service?: Service;
  l7?: Layer7;
  event_type?: { type: number; sub_type: number };
  traffic_direction?: TrafficDirection;
  policy_match_type?: number;
  trace_observation_point?: string;
  drop_reason_desc?: string;
  is_reply?: { value: boolean };
  interface?: { index: number; name?: string };
  proxy_port?: number;
  reply?: boolean;
  Summary?: string;
}

export interface LostEvent {
  source: LostEventSource;
  num_events_lost: number;
  cpu?: { value: number };
}

export interface NodeStatusEvent {
  state_change: NodeState;
  node_names: string[];
  message?: string;
}

export interface GetFlowsResponse {
  flow?: Flow;
  node_status?: NodeStatusEvent;
  lost_events?: LostEvent;
  response_types?: 'flow' | 'node_status' | 'lost_events';
  node_name?: string;
  time?: Timestamp;
}

export interface EventTypeFilter {
  type: number;
  match_sub_type?: boolean;
  sub_type?: number;
}

export interface FlowFilter {
  uuid?: string[];
  source_ip?: string[];
  source_pod?: string[];
  source_fqdn?: string[];
  source_label?: string[];
  source_service?: string[];
  source_workload?: Workload[];
  destination_ip?: string[];
  destination_pod?: string[];
  destination_fqdn?: string[];
  destination_label?: string[];
  destination_service?: string[];
  destination_workload?: Workload[];
  traffic_direction?: (TrafficDirection | number)[];
  verdict?: (Verdict | number)[];
  event_type?: EventTypeFilter[];
  http_status_code?: string[];
  protocol?: string[];
  source_port?: string[];
  destination_port?: string[];
  reply?: boolean[];
  dns_query?: string[];
  source_identity?: number[];
  destination_identity?: number[];
  http_method?: string[];
  http_path?: string[];
  http_url?: string[];
  http_header?: HTTPHeader[];
  tcp_flags?: TCPFlags[];
  node_name?: string[];
  ip_version?: (IPVersion | number)[];
  trace_id?: string[];
}

export interface GetFlowsRequest {
  number?: number;
  first?: boolean;
  follow?: boolean;
  blacklist?: FlowFilter[];
  whitelist?: FlowFilter[];
  since?: Timestamp;
  until?: Timestamp;
  field_mask?: { paths?: string[] };
  experimental?: { field_mask?: { paths?: string[] } };
}

export interface ServerStatusResponse {
  num_flows: number;
  max_flows: number;
  seen_flows: number;
  uptime_ns: number;
  num_connected_nodes?: { value: number };
  num_unavailable_nodes?: { value: number };
  unavailable_nodes?: string[];
  version: string;
  flows_rate?: number;
  lost_events?: { source: LostEventSource; count: number }[];
}

export interface Node {
  name: string;
  version?: string;
  address?: string;
  state: NodeState;
  tls?: { enabled: boolean; server_name?: string };
  uptime_ns?: number;
  num_flows?: number;
  max_flows?: number;
  seen_flows?: number;
}

export interface ChangeNotification {
  name: string;
  address: string;
  type: 'UNKNOWN' | 'PEER_ADDED' | 'PEER_DELETED' | 'PEER_UPDATED';
  tls?: { server_name: string };
}

let lastMs = NaN;
let lastTs: Timestamp = { seconds: 0, nanos: 0 };

/** The clock ticks in ms while flows arrive by the hundred per ms: they share one (read-only) object. */
export function timestampFromMs(ms: number): Timestamp {
  if (ms !== lastMs) {
    lastMs = ms;
    lastTs = { seconds: Math.floor(ms / 1000), nanos: Math.round((ms % 1000) * 1e6) };
  }
  return lastTs;
}

export function timestampToNs(t: Timestamp | undefined): number {
  if (!t) return 0;
  return Number(t.seconds) * 1e9 + (t.nanos ?? 0);
}

// The proxy's L7 events: what it saw of one DNS or HTTP message, before the agent knows the
// endpoints. proxy/ emits them; hubble/l7-parser.ts turns them into flows.

/** An address and port as the proxy saw them. */
export interface L7Peer {
  address: string;
  port: number;
}

/** The endpoint whose connection the proxy serves (the agent's redirect says which). */
export interface L7Endpoint {
  /** the endpoint ID (cilium-dbg endpoint list) */
  id: number;
  /** the security identity (numeric) */
  identity?: number;
}

interface L7EventBase {
  kind: 'request' | 'response';
  /** FORWARDED: allowed and passed on; DROPPED: refused by policy; ERROR: no answer could be had */
  verdict: 'FORWARDED' | 'DROPPED' | 'ERROR';
  endpoint?: L7Endpoint;
  /** ingress: the proxy guards `endpoint` as a server; egress: as a client. Unset: inferred from addresses. */
  direction?: 'ingress' | 'egress';
  /** the client's side of the connection (requests and responses alike) */
  source: L7Peer;
  /** the server's side: the original destination */
  destination?: L7Peer;
  /** time from the request's arrival to the response's release (responses only) */
  latencyNs?: number;
  /** when the proxy saw it, ms since the epoch; default: when Hubble takes it */
  timeMs?: number;
}

/** A DNS query the proxy received (request) or the answer it released or made up (response). */
export interface DnsL7Event extends L7EventBase {
  protocol: 'dns';
  transport: 'udp' | 'tcp';
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
}

/** An HTTP request the proxy received (request) or the response it sent back (response). */
export interface HttpL7Event extends L7EventBase {
  protocol: 'http';
  method: string;
  /** the absolute URL as Hubble prints it (http://host/path?query) */
  url: string;
  /** `HTTP/1.1` */
  protocolVersion: string;
  /** the response status (responses only; 403 for a request policy denied) */
  code?: number;
  headers?: HTTPHeader[];
}

export type L7Event = DnsL7Event | HttpL7Event;

/**
 * Byte (code-unit) order, as Go's string comparison sorts upstream's lists. Not localeCompare:
 * its first call in a process loads ICU's collator (8-30 ms on one thread).
 */
export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
