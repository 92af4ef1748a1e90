// The one drop-reason table: every DROP_* the programs return (datapath/bpf/lxc.h, negative in C,
// upstream bpf/lib/common.h), by absolute value, with the two names each has upstream: Hubble's
// `flow.DropReason` enum name (api/v1/flow/flow.proto) and the text the agent's metrics label
// with (pkg/monitor/api/drop.go). Upstream's header says the numbers "are shared with
// pkg/monitor/api/drop.go and api/v1/flow/flow.proto"; test/datapath/codecs.test.ts holds this
// table to the C header and to flow.proto.
import { Drop } from './constants.js';

export interface DropReason {
  /** the C #define */
  readonly define: string;
  /** Hubble's flow.DropReason name (a flow's drop_reason_desc) */
  readonly hubble: string;
  /** upstream's text, the `reason` label of cilium_drop_count_total */
  readonly metric: string;
}

const row = (define: string, hubble: string, metric: string): DropReason => ({ define, hubble, metric });

export const DROP_REASONS: ReadonlyMap<number, DropReason> = new Map([
  [-Drop.invalidSip, row('DROP_INVALID_SIP', 'INVALID_SOURCE_IP', 'Invalid source ip')],
  [-Drop.policy, row('DROP_POLICY', 'POLICY_DENIED', 'Policy denied')],
  [-Drop.invalid, row('DROP_INVALID', 'INVALID_PACKET_DROPPED', 'Invalid packet')],
  [-Drop.ctInvalidHdr, row('DROP_CT_INVALID_HDR', 'CT_TRUNCATED_OR_INVALID_HEADER', 'CT: Truncated or invalid header')],
  [-Drop.unknownL3, row('DROP_UNKNOWN_L3', 'UNSUPPORTED_L3_PROTOCOL', 'Unsupported L3 protocol')],
  [-Drop.unknownL4, row('DROP_UNKNOWN_L4', 'UNKNOWN_L4_PROTOCOL', 'Unknown L4 protocol')],
  [-Drop.unroutable, row('DROP_UNROUTABLE', 'STALE_OR_UNROUTABLE_IP', 'Stale or unroutable IP')],
  [-Drop.ctCreateFailed, row('DROP_CT_CREATE_FAILED', 'CT_MAP_INSERTION_FAILED', 'CT: Map insertion failed')],
  [-Drop.invalidExthdr, row('DROP_INVALID_EXTHDR', 'INVALID_IPV6_EXTENSION_HEADER', 'Invalid IPv6 extension header')],
  [-Drop.fragNoSupport, row('DROP_FRAG_NOSUPPORT', 'IP_FRAGMENTATION_NOT_SUPPORTED', 'IP fragmentation not supported')],
  [-Drop.noService, row('DROP_NO_SERVICE', 'SERVICE_BACKEND_NOT_FOUND', 'Service backend not found')],
  [
    -Drop.noConfig,
    row(
      'DROP_NO_CONFIG',
      'NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION',
      'No configuration available to perform policy decision',
    ),
  ],
  [-Drop.natNoMapping, row('DROP_NAT_NO_MAPPING', 'NO_MAPPING_FOR_NAT_MASQUERADE', 'No mapping for NAT masquerade')],
  [-Drop.invalidIdentity, row('DROP_INVALID_IDENTITY', 'INVALID_IDENTITY', 'Invalid identity')],
  [-Drop.writeError, row('DROP_WRITE_ERROR', 'ERROR_WRITING_TO_PACKET', 'Error writing to packet')],
  [-Drop.noTunnelKey, row('DROP_NO_TUNNEL_KEY', 'ERROR_RETRIEVING_TUNNEL_KEY', 'Error retrieving tunnel key')],
  [-Drop.proxyLookupFailed, row('DROP_PROXY_LOOKUP_FAILED', 'SOCKET_LOOKUP_FAILED', 'Proxy lookup failed')],
  [-Drop.proxySetFailed, row('DROP_PROXY_SET_FAILED', 'SOCKET_ASSIGN_FAILED', 'Proxy assignment failed')],
  [
    -Drop.proxyUnknownProto,
    row(
      'DROP_PROXY_UNKNOWN_PROTO',
      'PROXY_REDIRECTION_NOT_SUPPORTED_FOR_PROTOCOL',
      'Proxy redirection not supported for protocol',
    ),
  ],
  [-Drop.policyDeny, row('DROP_POLICY_DENY', 'POLICY_DENY', 'Policy denied by denylist')],
]);

/** Hubble's DropReason name for a reason (either sign); unknown numbers keep their value visible. */
export function dropReasonName(reason: number): string {
  return DROP_REASONS.get(Math.abs(reason))?.hubble ?? `DROP_REASON_${Math.abs(reason)}`;
}

/** The metrics label for |DROP_*| (upstream prints an unknown reason as its number). */
export function dropReasonMetric(reason: number): string {
  return DROP_REASONS.get(Math.abs(reason))?.metric ?? String(Math.abs(reason));
}
