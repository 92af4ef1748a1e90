// Ports and protocols as policy map keys: protocol numbers, port ranges split into LPM prefixes
// (as upstream's policymap NewKey: the port may be partly wildcarded only with a protocol set), named ports.
import type { PortProtocol } from '../crds/policy-rule.js';

/** IANA protocol numbers used in policy map keys; 0 = any protocol (with every port). */
export const Proto = { ANY: 0, ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, SCTP: 132 } as const;
export type ProtoName = 'TCP' | 'UDP' | 'SCTP';

/** `ANY` with a port expands to these: a protocol can be wildcarded only with every port. */
export const ANY_EXPANDS_TO: readonly number[] = [Proto.TCP, Proto.UDP, Proto.SCTP];

export function protoNumber(name: string | undefined): number | undefined {
  switch ((name ?? 'ANY').toUpperCase()) {
    case 'ANY':
      return Proto.ANY;
    case 'TCP':
      return Proto.TCP;
    case 'UDP':
      return Proto.UDP;
    case 'SCTP':
      return Proto.SCTP;
    case 'ICMP':
      return Proto.ICMP;
    case 'ICMPV6':
      return Proto.ICMPV6;
    default:
      return undefined;
  }
}

export function protoName(n: number): string {
  const hit = Object.entries(Proto).find(([, v]) => v === n);
  return hit ? hit[0] : String(n);
}

/** A port prefix: the top `prefixLen` bits of the 16-bit port are fixed (0 = every port). */
export interface PortPrefix {
  readonly port: number;
  readonly prefixLen: number;
}

export const ALL_PORTS: PortPrefix = { port: 0, prefixLen: 0 };

/** Splits `start..end` (inclusive) into the fewest aligned prefixes, lowest first. */
export function rangeToPrefixes(start: number, end: number): PortPrefix[] {
  const out: PortPrefix[] = [];
  let lo = Math.max(0, Math.min(start, end));
  const hi = Math.min(65535, Math.max(start, end));
  while (lo <= hi) {
    let size = 1;
    let len = 16;
    // Grow the block while it stays aligned at `lo` and inside the range.
    while (len > 0 && lo % (size * 2) === 0 && lo + size * 2 - 1 <= hi) {
      size *= 2;
      len--;
    }
    out.push({ port: lo, prefixLen: len });
    lo += size;
  }
  return out;
}

/** True when `outer` covers every port of `inner`. */
export function prefixCovers(outer: PortPrefix, inner: PortPrefix): boolean {
  if (outer.prefixLen > inner.prefixLen) return false;
  const shift = 16 - outer.prefixLen;
  return outer.prefixLen === 0 || outer.port >>> shift === inner.port >>> shift;
}

export function prefixHasPort(p: PortPrefix, port: number): boolean {
  return prefixCovers(p, { port, prefixLen: 16 });
}

/** One L4 match of a rule: numeric (protocol + port prefixes) or a named port. */
export type PortSpec =
  | { readonly kind: 'numeric'; readonly proto: number; readonly prefixes: readonly PortPrefix[] }
  | { readonly kind: 'named'; readonly proto: number; readonly name: string };

/** Every protocol, every port. */
export const ALL_TRAFFIC: PortSpec = { kind: 'numeric', proto: Proto.ANY, prefixes: [ALL_PORTS] };

/** A container port of a pod, the target of a named port. */
export interface ContainerPort {
  readonly port: number;
  readonly protocol?: ProtoName;
}
/** Named ports of one pod: name → port (a pod's names are unique). */
export type NamedPorts = Readonly<Record<string, ContainerPort>>;
/** Named ports across the cluster (egress): a name may map to several ports. */
export type ClusterNamedPorts = Readonly<Record<string, readonly ContainerPort[]>>;

/**
 * Compiles one `ports[]` entry. Port 0 or absent = every port; `endPort` makes a range (ignored
 * for named ports); ANY with a port expands to TCP, UDP and SCTP. Undefined = unusable input.
 */
export function compilePortProtocol(pp: PortProtocol): PortSpec[] | undefined {
  const proto = protoNumber(pp.protocol);
  if (proto === undefined) return undefined;
  const text = pp.port === undefined || pp.port === null ? '0' : String(pp.port).trim();
  if (text === '' || !/^[0-9]+$/.test(text)) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(text)) return undefined;
    return [{ kind: 'named', proto, name: text }];
  }
  const port = Number(text);
  if (!Number.isInteger(port) || port > 65535) return undefined;
  const end = typeof pp.endPort === 'number' && Number.isInteger(pp.endPort) ? pp.endPort : undefined;
  if (port === 0) {
    // Every port: ANY becomes the full wildcard, a named protocol keeps its number.
    return [{ kind: 'numeric', proto, prefixes: [ALL_PORTS] }];
  }
  const prefixes =
    end !== undefined && end > port ? rangeToPrefixes(port, Math.min(end, 65535)) : [{ port, prefixLen: 16 }];
  const protos = proto === Proto.ANY ? ANY_EXPANDS_TO : [proto];
  return protos.map((p) => ({ kind: 'numeric', proto: p, prefixes }));
}

/** ICMP fields (`{type, family}`) as port specs: the type sits in the port field, exact. */
export function icmpSpec(type: number, family: 'IPv4' | 'IPv6' | undefined): PortSpec {
  return {
    kind: 'numeric',
    proto: family === 'IPv6' ? Proto.ICMPV6 : Proto.ICMP,
    prefixes: [{ port: type, prefixLen: 16 }],
  };
}

function namedTargets(spec: Extract<PortSpec, { kind: 'named' }>, ports: readonly ContainerPort[]): PortSpec[] {
  const out: PortSpec[] = [];
  for (const cp of ports) {
    const p = protoNumber(cp.protocol ?? 'TCP');
    if (p === undefined || !Number.isInteger(cp.port) || cp.port < 1 || cp.port > 65535) continue;
    if (spec.proto !== Proto.ANY && spec.proto !== p) continue;
    out.push({ kind: 'numeric', proto: p, prefixes: [{ port: cp.port, prefixLen: 16 }] });
  }
  return out;
}

/** Resolves a named port against one pod's ports (ingress: the selected pod). */
export function resolveNamed(spec: PortSpec, ports: NamedPorts | undefined): PortSpec[] {
  if (spec.kind === 'numeric') return [spec];
  const cp = ports?.[spec.name];
  return cp ? namedTargets(spec, [cp]) : [];
}

/** Resolves a named port against the cluster's named ports (egress: any destination pod). */
export function resolveNamedCluster(spec: PortSpec, ports: ClusterNamedPorts | undefined): PortSpec[] {
  if (spec.kind === 'numeric') return [spec];
  return namedTargets(spec, ports?.[spec.name] ?? []);
}

/** Does a (resolved) spec match one packet? */
export function specMatches(spec: PortSpec, proto: number, port: number): boolean {
  if (spec.kind !== 'numeric') return false;
  if (spec.proto === Proto.ANY) return true;
  return spec.proto === proto && spec.prefixes.some((p) => prefixHasPort(p, port));
}

/** A stable signature of named ports (endpoints with equal ones share a resolved policy). */
export function namedPortsSignature(ports: NamedPorts | undefined): string {
  if (!ports) return '';
  return Object.keys(ports)
    .sort()
    .map((k) => `${k}=${ports[k]?.port}/${ports[k]?.protocol ?? 'TCP'}`)
    .join(',');
}
