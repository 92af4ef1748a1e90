// Policy trace (`cilium-dbg policy trace`): for a source, a destination, a port and a protocol,
// the verdict and the rules that decided it. Evaluated from the rules directly, not from the map
// entries, so that tests can hold the two against each other.
import type { IdentityInfo } from './identities.js';
import { identityInfo } from './identities.js';
import { LabelSet } from './labels.js';
import {
  protoName,
  protoNumber,
  resolveNamed,
  resolveNamedCluster,
  specMatches,
  type ClusterNamedPorts,
  type NamedPorts,
} from './ports.js';
import { ruleSelects, type EnforcementMode } from './resolve.js';
import { DIRECTIONS, type Direction, type PolicyRule, type RuleRef } from './rule-model.js';
import { selects, withRequirements, type Requirement } from './selector.js';

export type TracePeer =
  { readonly identity: number } | { readonly labels: LabelSet | Readonly<Record<string, string>> | readonly string[] };

export interface TraceRequest {
  readonly source: TracePeer;
  readonly destination: TracePeer;
  readonly port: number;
  /** TCP, UDP, SCTP, ICMP, ICMPv6 or a protocol number; ICMP types go in `port`. */
  readonly protocol: string | number;
  /** The destination pod's named ports (ingress rules with named ports resolve against them). */
  readonly destinationNamedPorts?: NamedPorts;
}

export type TraceVerdict = 'allow' | 'deny' | 'drop';

export interface DirectionTrace {
  readonly direction: Direction;
  /** Rules selecting the subject of this direction (destination on ingress, source on egress). */
  readonly selectedBy: readonly RuleRef[];
  readonly enforced: boolean;
  readonly allowedBy: readonly RuleRef[];
  readonly deniedBy: readonly RuleRef[];
  readonly verdict: TraceVerdict;
}

export interface TraceResult {
  /** deny if either side denies, drop if either side default-denies, else allow. */
  readonly verdict: TraceVerdict;
  readonly egress: DirectionTrace;
  readonly ingress: DirectionTrace;
  readonly lines: readonly string[];
}

/** What trace reads from the engine. */
export interface TraceSource {
  allRules(): Iterable<PolicyRule>;
  identity(id: number): IdentityInfo | undefined;
  readonly options: { readonly enforcement: EnforcementMode; readonly allowLocalhost: boolean };
  /** The cluster named-port table egress named ports resolve against. */
  clusterNamedPortsTable?(): ClusterNamedPorts;
}

function peerInfo(p: TracePeer, src: TraceSource): IdentityInfo | undefined {
  if ('identity' in p) return src.identity(p.identity);
  const labels =
    p.labels instanceof LabelSet
      ? p.labels
      : Array.isArray(p.labels)
        ? LabelSet.fromStrings(p.labels as string[])
        : LabelSet.fromRecord(p.labels as Record<string, string>);
  return identityInfo(-1, labels);
}

const refText = (r: RuleRef): string => `${r.policy} ${r.path}`;

function traceDirection(
  direction: Direction,
  subject: IdentityInfo,
  peer: IdentityInfo,
  proto: number,
  port: number,
  req: TraceRequest,
  rules: readonly PolicyRule[],
  mode: EnforcementMode,
  clusterNamedPorts: ClusterNamedPorts,
  allowLocalhost: boolean,
): DirectionTrace {
  const selecting = rules.filter((r) => ruleSelects(r, subject));
  const requires: Requirement[] = selecting.flatMap((r) => r.requires[direction]);
  const enforced = mode === 'always' || (mode === 'default' && selecting.some((r) => r.defaultDeny[direction]));
  const allowedBy: RuleRef[] = [];
  const deniedBy: RuleRef[] = [];
  if (mode !== 'never') {
    for (const r of selecting) {
      for (const pr of r.peerRules) {
        if (pr.direction !== direction) continue;
        const peerHit =
          pr.endpoints.some((s) => selects(withRequirements(s, requires), peer)) ||
          pr.others.some((s) => selects(s, peer));
        if (!peerHit) continue;
        const specs = pr.ports.flatMap((s) =>
          // As the maps do: ingress resolves against the selected pod, egress against the cluster.
          direction === 'ingress'
            ? resolveNamed(s, req.destinationNamedPorts)
            : resolveNamedCluster(s, clusterNamedPorts),
        );
        if (!specs.some((s) => specMatches(s, proto, port))) continue;
        (pr.deny ? deniedBy : allowedBy).push(pr.ref);
      }
    }
  }
  if (
    direction === 'ingress' &&
    allowLocalhost &&
    peer.labels.has('reserved', 'host') &&
    !subject.labels.has('reserved', 'host')
  ) {
    allowedBy.push({ policy: 'allow-localhost', path: '' });
  }
  const verdict: TraceVerdict = deniedBy.length > 0 ? 'deny' : !enforced || allowedBy.length > 0 ? 'allow' : 'drop';
  return { direction, selectedBy: selecting.map((r) => r.ref), enforced, allowedBy, deniedBy, verdict };
}

/** Traces one packet from source to destination through both sides' policies. */
export function tracePolicy(
  src: TraceSource,
  req: TraceRequest,
  clusterNamedPorts: ClusterNamedPorts = src.clusterNamedPortsTable?.() ?? {},
): TraceResult {
  const proto = typeof req.protocol === 'number' ? req.protocol : (protoNumber(req.protocol) ?? -1);
  const from = peerInfo(req.source, src);
  const to = peerInfo(req.destination, src);
  const rules = [...src.allRules()];
  const mode = src.options.enforcement;
  const unknown = (direction: Direction): DirectionTrace => ({
    direction,
    selectedBy: [],
    enforced: true,
    allowedBy: [],
    deniedBy: [],
    verdict: 'drop',
  });
  // An unknown identity is never treated as allowed: identities are cluster-wide, a miss fails closed.
  const egress =
    from && to
      ? traceDirection(
          'egress',
          from,
          to,
          proto,
          req.port,
          req,
          rules,
          mode,
          clusterNamedPorts,
          src.options.allowLocalhost,
        )
      : unknown('egress');
  const ingress =
    from && to
      ? traceDirection(
          'ingress',
          to,
          from,
          proto,
          req.port,
          req,
          rules,
          mode,
          clusterNamedPorts,
          src.options.allowLocalhost,
        )
      : unknown('ingress');
  const sides = [egress, ingress];
  const verdict: TraceVerdict = sides.some((s) => s.verdict === 'deny')
    ? 'deny'
    : sides.some((s) => s.verdict === 'drop')
      ? 'drop'
      : 'allow';
  const lines: string[] = [
    `Tracing ${from?.labels.toString() ?? '(unknown source)'} => ${to?.labels.toString() ?? '(unknown destination)'} ${protoName(proto)}/${req.port}`,
  ];
  for (const d of DIRECTIONS) {
    const t = d === 'egress' ? egress : ingress;
    lines.push(
      `${d}: ${t.selectedBy.length} rule(s) select the ${d === 'egress' ? 'source' : 'destination'}; default deny ${t.enforced ? 'on' : 'off'}`,
    );
    for (const r of t.deniedBy) lines.push(`  denied by ${refText(r)}`);
    for (const r of t.allowedBy) lines.push(`  allowed by ${refText(r)}`);
    lines.push(`  ${d} verdict: ${t.verdict}`);
  }
  lines.push(`Final verdict: ${verdict.toUpperCase()}`);
  return { verdict, egress, ingress, lines };
}
