// Shared, read-only parts of flows. The ring holds up to 65,535 flows; every object a flow owns
// survives young-generation GC and is later collected from the old generation, which made GC a
// third of observe()'s time. Most parts of a flow repeat (addresses, endpoints, flags, event
// types), so the parser takes them from here: one object per distinct value, not per flow.
// Nothing may mutate a flow's parts (flows are also shared by every GetFlows stream).
import type { EndpointInfo } from './resolver.js';
import type { Endpoint, Flow, Layer4 } from './types.js';

/**
 * Entries per table before it is emptied and refilled: bounds memory on a node that sees many
 * distinct addresses (a cleared table only costs re-creating what is still in use).
 */
export const INTERN_TABLE_LIMIT = 16_384;

type TcpFlags = NonNullable<NonNullable<Layer4['TCP']>['flags']>;

class BoundedMap<K, V> extends Map<K, V> {
  remember(k: K, v: V): V {
    if (this.size >= INTERN_TABLE_LIMIT) this.clear();
    this.set(k, v);
    return v;
  }
}

const hex = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

const FLAG_BITS: [number, keyof TcpFlags][] = [
  [0x01, 'FIN'],
  [0x02, 'SYN'],
  [0x04, 'RST'],
  [0x08, 'PSH'],
  [0x10, 'ACK'],
  [0x20, 'URG'],
  [0x40, 'ECE'],
  [0x80, 'CWR'],
];

export class FlowInterner {
  private readonly ipv4s = new BoundedMap<number, string>();
  private readonly macs = new BoundedMap<number, string>();
  private readonly pairs = new BoundedMap<string, Map<string, { source: string; destination: string }>>();
  private readonly ips = new BoundedMap<string, Map<string, NonNullable<Flow['IP']>>>();
  private readonly flags = new Map<number, TcpFlags>();
  private readonly eventTypes = new Map<number, NonNullable<Flow['event_type']>>();
  private readonly interfaces = new BoundedMap<number, NonNullable<Flow['interface']>>();
  private readonly byInfo = new WeakMap<EndpointInfo, { identity: number; ep: Endpoint; seen: EndpointInfo }>();
  private readonly byIdentity = new BoundedMap<number, Endpoint>();
  readonly replyTrue = { value: true };
  readonly replyFalse = { value: false };

  ipv4(b: Uint8Array, off: number): string {
    const key = ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
    return this.ipv4s.get(key) ?? this.ipv4s.remember(key, `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`);
  }

  mac(b: Uint8Array, off: number): string {
    // 48 bits fit a double exactly
    const key =
      ((b[off]! << 8) | b[off + 1]!) * 2 ** 32 +
      (((b[off + 2]! << 24) | (b[off + 3]! << 16)) >>> 0) +
      ((b[off + 4]! << 8) | b[off + 5]!);
    return (
      this.macs.get(key) ??
      this.macs.remember(
        key,
        `${hex[b[off]!]}:${hex[b[off + 1]!]}:${hex[b[off + 2]!]}:${hex[b[off + 3]!]}:${hex[b[off + 4]!]}:${hex[b[off + 5]!]}`,
      )
    );
  }

  ethernet(source: string, destination: string): { source: string; destination: string } {
    const bySrc = this.pairs.get(source) ?? this.pairs.remember(source, new Map());
    let e = bySrc.get(destination);
    if (!e) {
      if (bySrc.size >= INTERN_TABLE_LIMIT) bySrc.clear();
      e = { source, destination };
      bySrc.set(destination, e);
    }
    return e;
  }

  ip(source: string, destination: string, ipVersion: 'IPv4' | 'IPv6'): NonNullable<Flow['IP']> {
    const bySrc = this.ips.get(source) ?? this.ips.remember(source, new Map());
    let e = bySrc.get(destination);
    if (!e) {
      if (bySrc.size >= INTERN_TABLE_LIMIT) bySrc.clear();
      e = { source, destination, ipVersion };
      bySrc.set(destination, e);
    }
    return e;
  }

  tcpFlags(f: number, offByte: number): TcpFlags {
    const key = f | ((offByte & 0x01) << 8);
    let flags = this.flags.get(key);
    if (!flags) {
      flags = {};
      for (const [bit, name] of FLAG_BITS) if (f & bit) flags[name] = true;
      if (offByte & 0x01) flags.NS = true;
      this.flags.set(key, flags);
    }
    return flags;
  }

  eventType(type: number, subType: number): NonNullable<Flow['event_type']> {
    const key = type * 65536 + subType;
    let t = this.eventTypes.get(key);
    if (!t) {
      t = { type, sub_type: subType };
      // sub types are small (drop reasons, observation points); guard against a flood anyway
      if (this.eventTypes.size >= INTERN_TABLE_LIMIT) this.eventTypes.clear();
      this.eventTypes.set(key, t);
    }
    return t;
  }

  iface(index: number): NonNullable<Flow['interface']> {
    return this.interfaces.get(index) ?? this.interfaces.remember(index, { index });
  }

  /** A pod's Endpoint; re-made when the resolver's record changed (compared field by field). */
  endpointOf(info: EndpointInfo, identity: number): Endpoint {
    const id = info.identity || identity;
    const hit = this.byInfo.get(info);
    if (hit && hit.identity === id && sameInfo(hit.seen, info)) return hit.ep;
    const ep: Endpoint = {
      ID: info.id,
      identity: id,
      namespace: info.namespace,
      labels: info.labels,
      pod_name: info.podName,
    };
    if (info.workloads?.length) ep.workloads = info.workloads;
    this.byInfo.set(info, { identity: id, ep, seen: { ...info } });
    return ep;
  }

  /** An identity-only Endpoint (a pod the resolver does not know, a reserved identity). */
  endpointOfIdentity(identity: number, labels: string[]): Endpoint {
    const hit = this.byIdentity.get(identity);
    if (hit && hit.labels === labels) return hit;
    return this.byIdentity.remember(identity, { identity, labels });
  }
}

function sameInfo(a: EndpointInfo, b: EndpointInfo): boolean {
  return (
    a.id === b.id &&
    a.identity === b.identity &&
    a.namespace === b.namespace &&
    a.labels === b.labels &&
    a.podName === b.podName &&
    a.workloads === b.workloads
  );
}
