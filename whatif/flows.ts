// Hubble flows as what-if reads them: a saved `hubble observe -o json` file (one flow per line, our
// camelCase protojson, upstream's snake_case, or `{flow: …}` responses) turned into hubble/'s Flow
// type, and each Flow into an Observation — one connection seen at one point with its verdict.
import type { Flow } from '../hubble/types.js';
import { WhatIfError, WhatIfErrorCode } from './errors.js';

/** DROP_POLICY (-133) and DROP_POLICY_DENY (-181), upstream bpf/lib/common.h: the policy's own drops. */
export const POLICY_DROP_REASONS: ReadonlySet<number> = new Set([133, 181]);
/** CILIUM_NOTIFY_POLICY_VERDICT (upstream bpf/lib/common.h): the event that records a policy decision. */
const POLICY_VERDICT_EVENT = 5;
const PROTO = { TCP: 6, UDP: 17, SCTP: 132, ICMPv4: 1, ICMPv6: 58 } as const;

/** One side of a connection as the flow names it. */
export interface FlowSide {
  readonly ip: string;
  readonly identity: number;
  readonly namespace?: string;
  readonly pod?: string;
  readonly labels: readonly string[];
}

/** Why a flow was not re-decided. */
export type SkipReason = 'no-ip' | 'no-l4' | 'not-a-policy-drop' | 'other-verdict';

/**
 * A flow turned around to its connection: `source` opened it, `destination:port` accepted it
 * (a reply's sides are swapped back). `recorded` is the verdict at `point` when the policy
 * decided there; replies and established-connection traces carry no policy decision.
 */
export interface Observation {
  readonly index: number;
  readonly source: FlowSide;
  readonly destination: FlowSide;
  readonly protocol: number;
  /** Destination port; for ICMP the type (as policy map keys hold it). */
  readonly port: number;
  readonly point: 'egress' | 'ingress' | undefined;
  readonly recorded: 'allowed' | 'dropped';
  /** The flow records the policy's decision at `point` (a policy-verdict event or a policy drop). */
  readonly decided: boolean;
  readonly reply: boolean;
}

const camelToSnake = (k: string): string =>
  /^[a-z]/.test(k) ? k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase() : k;

/** protojson (camelCase or proto names) → hubble/'s plain Flow shape. */
function normalize(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => normalize(x, key));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[camelToSnake(k)] = normalize(x, camelToSnake(k));
    return out;
  }
  if (key === 'is_reply' && typeof v === 'boolean') return { value: v };
  return v;
}

/** Parses a saved flow file: JSON lines (or one JSON array) of flows or GetFlows responses. */
export function parseFlowFile(text: string): Flow[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  const items: unknown[] = [];
  if (trimmed.startsWith('[')) {
    try {
      items.push(...(JSON.parse(trimmed) as unknown[]));
    } catch (e) {
      throw new WhatIfError(WhatIfErrorCode.BadFlows, `flow file: not JSON: ${(e as Error).message}`, { cause: e });
    }
  } else {
    trimmed.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      try {
        items.push(JSON.parse(line));
      } catch (e) {
        throw new WhatIfError(WhatIfErrorCode.BadFlows, `flow file line ${i + 1}: not JSON: ${(e as Error).message}`, {
          cause: e,
        });
      }
    });
  }
  const flows: Flow[] = [];
  for (const item of items) {
    const n = normalize(item) as Record<string, unknown>;
    // `hubble observe -o jsonpb` (and upstream's -o json) wrap the flow in a response; node status and lost events have none.
    const flow = (
      n.flow && typeof n.flow === 'object' ? n.flow : 'response_types' in n || 'node_status' in n ? undefined : n
    ) as Flow | undefined;
    if (flow) flows.push(flow);
  }
  return flows;
}

function side(e: Flow['source'], ip: string): FlowSide {
  return {
    ip,
    identity: Number(e?.identity ?? 0),
    namespace: e?.namespace || undefined,
    pod: e?.pod_name || undefined,
    labels: e?.labels ?? [],
  };
}

/** The connection one flow belongs to, or why it cannot be re-decided. */
export function observe(flow: Flow, index: number): Observation | SkipReason {
  if (!flow.IP?.source || !flow.IP.destination) return 'no-ip';
  const l4 = flow.l4;
  let protocol: number;
  let sport = 0;
  let dport = 0;
  if (l4?.TCP) [protocol, sport, dport] = [PROTO.TCP, l4.TCP.source_port, l4.TCP.destination_port];
  else if (l4?.UDP) [protocol, sport, dport] = [PROTO.UDP, l4.UDP.source_port, l4.UDP.destination_port];
  else if (l4?.SCTP) [protocol, sport, dport] = [PROTO.SCTP, l4.SCTP.source_port, l4.SCTP.destination_port];
  else if (l4?.ICMPv4) [protocol, dport] = [PROTO.ICMPv4, l4.ICMPv4.type];
  else if (l4?.ICMPv6) [protocol, dport] = [PROTO.ICMPv6, l4.ICMPv6.type];
  else return 'no-l4';
  let recorded: Observation['recorded'];
  if (flow.verdict === 'FORWARDED') recorded = 'allowed';
  else if (flow.verdict === 'DROPPED') {
    if (!POLICY_DROP_REASONS.has(Number(flow.drop_reason ?? 0))) return 'not-a-policy-drop';
    recorded = 'dropped';
  } else return 'other-verdict';
  const reply = flow.is_reply?.value ?? flow.reply ?? false;
  const src = side(flow.source, flow.IP.source);
  const dst = side(flow.destination, flow.IP.destination);
  const point =
    flow.traffic_direction === 'EGRESS' ? 'egress' : flow.traffic_direction === 'INGRESS' ? 'ingress' : undefined;
  return {
    index,
    source: reply ? dst : src,
    destination: reply ? src : dst,
    protocol,
    port: reply ? replyPort(protocol, sport, dport) : dport,
    point,
    recorded,
    decided: !reply && (recorded === 'dropped' || flow.event_type?.type === POLICY_VERDICT_EVENT),
    reply,
  };
}

/** The connection's port seen from a reply: the source port, or the ICMP echo request type for an echo reply. */
function replyPort(protocol: number, sport: number, icmpType: number): number {
  if (protocol === PROTO.ICMPv4) return icmpType === 0 ? 8 : icmpType;
  if (protocol === PROTO.ICMPv6) return icmpType === 129 ? 128 : icmpType;
  return sport;
}
