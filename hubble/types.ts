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
  l7?: { type?: string; http?: { code?: number; method?: string; url?: string }; dns?: { query?: string } };
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
