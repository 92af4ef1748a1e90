// A small cluster as the API holds it (CiliumIdentities, CiliumEndpoints, policies) and flows as
// the agents' Hubble records them, for what-if's unit tests: the demo app of hack/demo.ts.
import { parse } from 'yaml';
import type { CiliumEndpoint, CiliumIdentity } from '../../crds/index.js';
import {
  BACKEND_FROM_FRONTEND as BACKEND_FROM_FRONTEND_YAML,
  FRONTEND_DENY_INTRUDER as FRONTEND_DENY_INTRUDER_YAML,
} from '../../hack/demo-app.js';
import type { Flow } from '../../hubble/types.js';
import { endpointLabels, type PolicyObject } from '../../policy/index.js';
import type { ClusterState } from '../../whatif/index.js';

export interface Pod {
  ns: string;
  name: string;
  app: string;
  ip: string;
  identity: number;
  namedPorts?: { name: string; port: number; protocol?: 'TCP' | 'UDP' }[];
}

const TEAM: Record<string, string> = { shop: 'shop', data: 'data' };

export const PODS: Pod[] = [
  { ns: 'shop', name: 'frontend', app: 'frontend', ip: '10.200.0.10', identity: 1001 },
  { ns: 'shop', name: 'backend', app: 'backend', ip: '10.200.1.10', identity: 1002 },
  { ns: 'shop', name: 'intruder', app: 'intruder', ip: '10.200.0.11', identity: 1003 },
  {
    ns: 'data',
    name: 'db',
    app: 'db',
    ip: '10.200.1.11',
    identity: 1004,
    namedPorts: [
      { name: 'pg', port: 5432 },
      { name: 'http', port: 8080 },
    ],
  },
  { ns: 'data', name: 'reporting', app: 'reporting', ip: '10.200.0.12', identity: 1005 },
];

export const pod = (key: string): Pod => {
  const p = PODS.find((x) => `${x.ns}/${x.name}` === key);
  if (!p) throw new Error(`no pod ${key}`);
  return p;
};

function labelsOf(p: Pod) {
  return endpointLabels({
    podLabels: { app: p.app },
    namespace: p.ns,
    namespaceLabels: { team: TEAM[p.ns]!, 'kubernetes.io/metadata.name': p.ns },
    serviceAccount: 'default',
  });
}

export function identities(pods = PODS): CiliumIdentity[] {
  return pods.map((p) => ({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumIdentity',
    metadata: { name: String(p.identity) },
    'security-labels': labelsOf(p).toRecord(),
  }));
}

export function endpoints(pods = PODS): CiliumEndpoint[] {
  return pods.map((p) => ({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumEndpoint',
    metadata: { name: p.name, namespace: p.ns },
    status: {
      id: 100 + p.identity - 1000,
      identity: { id: p.identity, labels: [...labelsOf(p)].map((l) => `${l.source}:${l.key}=${l.value}`) },
      networking: { addressing: [{ ipv4: p.ip }] },
      state: 'ready',
      ...(p.namedPorts ? { 'named-ports': p.namedPorts } : {}),
    },
  }));
}

export function state(policies: PolicyObject[]): ClusterState {
  return { policies, identities: identities(), endpoints: endpoints() };
}

/** The demo's policies (hack/demo-app.ts), as objects. */
export const BACKEND_FROM_FRONTEND: PolicyObject = {
  kind: 'CiliumNetworkPolicy',
  object: parse(BACKEND_FROM_FRONTEND_YAML) as never,
};
export const FRONTEND_DENY_INTRUDER: PolicyObject = {
  kind: 'CiliumNetworkPolicy',
  object: parse(FRONTEND_DENY_INTRUDER_YAML) as never,
};

export interface FlowOptions {
  verdict?: 'FORWARDED' | 'DROPPED';
  dropReason?: number;
  point?: 'EGRESS' | 'INGRESS';
  reply?: boolean;
  /** policy-verdict (5, default), trace (4) or drop (1) */
  eventType?: number;
  protocol?: 'TCP' | 'UDP';
  sourcePort?: number;
}

function endpointOf(p: Pod | { ip: string; identity: number; labels: string[] }): Flow['source'] {
  if ('ns' in p)
    return {
      ID: 100 + p.identity - 1000,
      identity: p.identity,
      namespace: p.ns,
      pod_name: p.name,
      labels: [...labelsOf(p)].map((l) => `${l.source}:${l.key}=${l.value}`),
    };
  return { identity: p.identity, labels: p.labels };
}

/** One flow as the agent's parser makes it (hubble/parser.ts). */
export function flow(
  from: string | { ip: string; identity: number; labels: string[] },
  to: string | { ip: string; identity: number; labels: string[] },
  port: number,
  o: FlowOptions = {},
): Flow {
  const src = typeof from === 'string' ? pod(from) : from;
  const dst = typeof to === 'string' ? pod(to) : to;
  const verdict = o.verdict ?? (o.dropReason ? 'DROPPED' : 'FORWARDED');
  const sport = o.sourcePort ?? 40000;
  const [a, b] = o.reply ? [dst, src] : [src, dst];
  const ports = o.reply
    ? { source_port: port, destination_port: sport }
    : { source_port: sport, destination_port: port };
  const l4 =
    o.protocol === 'UDP' ? { UDP: ports } : { TCP: { ...ports, flags: o.reply ? { ACK: true } : { SYN: true } } };
  const f: Flow = {
    verdict,
    IP: { source: a.ip, destination: b.ip, ipVersion: 'IPv4' },
    l4,
    source: endpointOf(a),
    destination: endpointOf(b),
    Type: 'L3_L4',
    traffic_direction: o.point ?? 'EGRESS',
    event_type: { type: o.eventType ?? (verdict === 'DROPPED' ? 1 : 5), sub_type: 0 },
    is_reply: { value: !!o.reply },
  };
  if (verdict === 'DROPPED') f.drop_reason = o.dropReason ?? 133;
  return f;
}

/** Both observation points of an allowed connection (what the datapath reports for a new one). */
export function allowed(from: string, to: string, port: number): Flow[] {
  return [flow(from, to, port, { point: 'EGRESS' }), flow(from, to, port, { point: 'INGRESS' })];
}
