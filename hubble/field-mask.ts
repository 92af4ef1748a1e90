// GetFlowsRequest.field_mask: return only the listed flow fields ("source.pod_name", "verdict"),
// which upstream clients use to cut bandwidth. Paths use the proto field names; an unknown path
// is refused rather than silently returning less than asked.
import { HubbleError, HubbleErrorCode } from './errors.js';
import { fieldNumbers } from './proto.js';
import type { Flow } from './types.js';

/** message-typed Flow fields and the message each one holds, for path validation */
const NESTED: Record<string, string> = {
  ethernet: 'flow.Ethernet',
  IP: 'flow.IP',
  l4: 'flow.Layer4',
  source: 'flow.Endpoint',
  destination: 'flow.Endpoint',
  event_type: 'flow.CiliumEventType',
  interface: 'flow.NetworkInterface',
  'l4.TCP': 'flow.TCP',
  'l4.UDP': 'flow.UDP',
  'l4.SCTP': 'flow.SCTP',
  'l4.ICMPv4': 'flow.ICMPv4',
  'l4.ICMPv6': 'flow.ICMPv6',
  'l4.TCP.flags': 'flow.TCPFlags',
};

function validate(path: string): string[] {
  const parts = path.split('.');
  let msg = 'flow.Flow';
  let prefix = '';
  for (const p of parts) {
    if (!(p in fieldNumbers(msg)))
      throw new HubbleError(HubbleErrorCode.BadRequest, `field mask path "${path}": no field "${p}" in ${msg}`);
    prefix = prefix ? `${prefix}.${p}` : p;
    msg = NESTED[prefix] ?? '';
    if (!msg && p !== parts[parts.length - 1])
      throw new HubbleError(HubbleErrorCode.BadRequest, `field mask path "${path}": "${p}" is not a message`);
  }
  return parts;
}

/** Compiles a mask into a projection; undefined when the mask is empty (keep whole flows). */
export function compileFieldMask(paths: readonly string[] | undefined): ((f: Flow) => Flow) | undefined {
  if (!paths?.length) return undefined;
  const split = paths.map(validate);
  return (f) => {
    const out: Record<string, unknown> = {};
    for (const parts of split) {
      let src: unknown = f;
      for (const p of parts) src = src === undefined ? undefined : (src as Record<string, unknown>)[p];
      if (src === undefined) continue;
      let dst = out;
      for (let i = 0; i < parts.length - 1; i++) dst = (dst[parts[i]!] ??= {}) as Record<string, unknown>;
      dst[parts[parts.length - 1]!] = src;
    }
    return out as Flow;
  };
}
