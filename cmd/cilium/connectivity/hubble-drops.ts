// The drop reason of a connection that should have worked, from hubble-relay: the newest DROPPED
// flow from the client's address to the target's address and port since the scenario began (for
// a Service: its backend's, which is what the datapath saw after the translation).
import { dropReasonMetric } from '../../../datapath/drop-reasons.js';
import { HubbleClient } from '../../../hubble/client.js';
import type { Flow } from '../../../hubble/types.js';

export interface DropQuery {
  key: number;
  sourceIp: string;
  destinationIp: string;
  destinationPort: number;
}

/** key → "POLICY_DENIED (ingress, node-2)"-style text, for the queries relay has a drop for. */
export async function dropReasons(server: string, queries: DropQuery[], since: Date): Promise<Map<number, string>> {
  const client = new HubbleClient(server);
  const out = new Map<number, string>();
  try {
    await client.serverStatus(3000);
    for (const q of queries) {
      const seconds = Math.floor(since.getTime() / 1000);
      let newest: Flow | undefined;
      for await (const r of client.getFlows({
        number: 20,
        since: { seconds, nanos: 0 },
        whitelist: [
          {
            source_ip: [q.sourceIp],
            destination_ip: [q.destinationIp],
            destination_port: [String(q.destinationPort)],
            verdict: ['DROPPED'],
          },
        ],
      })) {
        if (r.flow) newest = r.flow;
      }
      if (newest) out.set(q.key, describeDrop(newest));
    }
  } finally {
    client.close();
  }
  return out;
}

function describeDrop(f: Flow): string {
  const where = [f.traffic_direction?.toString().toLowerCase(), f.node_name].filter(Boolean).join(', ');
  const text = f.drop_reason ? dropReasonMetric(f.drop_reason) : undefined;
  const name = f.drop_reason_desc ?? `drop reason ${f.drop_reason ?? '?'}`;
  return `${name}${text && text !== name ? `: ${text}` : ''}${where ? ` (${where})` : ''}`;
}
