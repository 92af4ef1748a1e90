// Datapath events as JS sees them: decoded from the ring buffer (kernel backend) or produced by
// the sim. These types are what hubble/ consumes; field names follow upstream's monitor structs
// (pkg/monitor/datapath_{drop,trace,policy}.go), reasons are Hubble's DropReason numbers (absolute values).
import { dropNotify, policyVerdictNotify, traceNotify } from './codecs.js';
import { NotifyType } from './constants.js';
import { dropReasonName } from './drop-reasons.js';

interface EventBase {
  /** endpoint id (CiliumEndpoint status.id) the event was observed at */
  source: number;
  hash: number;
  /** original packet length */
  lenOrig: number;
  ipv6: boolean;
  /** the first bytes of the packet (up to 128), starting at the Ethernet header */
  data: Uint8Array;
}

export interface DropEvent extends EventBase {
  type: 'drop';
  /** |DROP_*|: Hubble DropReason */
  reason: number;
  reasonName: string;
  srcLabel: number;
  dstLabel: number;
  ifindex: number;
}

export interface TraceEvent extends EventBase {
  type: 'trace';
  /** TRACE_TO_LXC 0 | TRACE_FROM_LXC 5 */
  obsPoint: number;
  /** conntrack state: CT_NEW 0, CT_ESTABLISHED 1 (a close began), … */
  reason: number;
  srcLabel: number;
  dstLabel: number;
  dstId: number;
  ifindex: number;
}

export interface PolicyVerdictEvent extends EventBase {
  type: 'policy-verdict';
  /** 0 allowed, < 0 DROP_* */
  verdict: number;
  direction: 'ingress' | 'egress';
  /** POLICY_MATCH_* */
  matchType: number;
  remoteLabel: number;
  dstPort: number;
  proto: number;
  authType: number;
  cookie: number;
}

export interface UnknownEvent {
  type: 'unknown';
  raw: Uint8Array;
}

export type DatapathEvent = DropEvent | TraceEvent | PolicyVerdictEvent | UnknownEvent;

/** Decodes one ring-buffer record. */
export function decodeEvent(raw: Uint8Array): DatapathEvent {
  switch (raw[0]) {
    case NotifyType.drop: {
      if (raw.length < dropNotify.size) break;
      const e = dropNotify.decode(raw);
      return {
        type: 'drop',
        source: e.source,
        hash: e.hash,
        lenOrig: e.lenOrig,
        ipv6: (e.flags & 1) !== 0,
        data: e.data.slice(0, e.lenCap),
        reason: e.subtype,
        reasonName: dropReasonName(e.subtype),
        srcLabel: e.srcLabel,
        dstLabel: e.dstLabel,
        ifindex: e.ifindex,
      };
    }
    case NotifyType.trace: {
      if (raw.length < traceNotify.size) break;
      const e = traceNotify.decode(raw);
      return {
        type: 'trace',
        source: e.source,
        hash: e.hash,
        lenOrig: e.lenOrig,
        ipv6: (e.flags & 1) !== 0,
        data: e.data.slice(0, e.lenCap),
        obsPoint: e.obsPoint,
        reason: e.reason,
        srcLabel: e.srcLabel,
        dstLabel: e.dstLabel,
        dstId: e.dstId,
        ifindex: e.ifindex,
      };
    }
    case NotifyType.policyVerdict: {
      if (raw.length < policyVerdictNotify.size) break;
      const e = policyVerdictNotify.decode(raw);
      return {
        type: 'policy-verdict',
        source: e.source,
        hash: e.hash,
        lenOrig: e.lenOrig,
        ipv6: (e.flags & 4) !== 0,
        data: e.data.slice(0, e.lenCap),
        verdict: e.verdict,
        direction: (e.flags & 3) === 2 ? 'egress' : 'ingress',
        matchType: (e.flags >> 3) & 7,
        remoteLabel: e.remoteLabel,
        dstPort: e.dstPort,
        proto: e.proto,
        authType: e.authType,
        cookie: e.cookie,
      };
    }
  }
  return { type: 'unknown', raw };
}
