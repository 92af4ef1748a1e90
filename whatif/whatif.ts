// The what-if check, pure: recent flows + the cluster's state + a proposed change in, a report
// out. Every flow is turned back into its connection and decided twice by the agents' engine —
// with today's policies and with the change applied in memory — through the same policy map
// lookups the datapath does; connections whose decision changes are explained by policy trace.
import type { Flow } from '../hubble/types.js';
import { protoName, tracePolicy, type PolicyEvent, type RuleRef } from '../policy/index.js';
import { agentTranslate, ClusterModel, type ClusterState, type Direction, type PathDecision } from './cluster.js';
import { observe, type FlowSide, type Observation, type SkipReason } from './flows.js';
import { keyOf, type ProposedChanges } from './proposal.js';
import { WhatIfError, WhatIfErrorCode } from './errors.js';

export interface WhatIfOptions {
  /** Only flows with a side in this namespace (as `hubble observe --namespace`). */
  readonly namespace?: string;
}

export interface WhatIfSummary {
  /** Flows given. */
  readonly flows: number;
  /** Flows re-decided (the others are in `skipped`). */
  readonly examined: number;
  readonly unchanged: number;
  readonly newlyDropped: number;
  readonly newlyAllowed: number;
  /**
   * Flows whose recorded verdict differs from what today's policies decide at the same point
   * (recorded before a policy change, or an engine/datapath disagreement). Each change is
   * measured against today's decision, so these do not count as changed by the proposal.
   */
  readonly stale: number;
  readonly skipped: Readonly<Partial<Record<SkipReason | 'other-namespace', number>>>;
}

/** One connection (source → destination:port) whose decision the change flips. */
export interface ConnectionChange {
  readonly source: string;
  readonly destination: string;
  readonly port: number;
  readonly protocol: string;
  readonly before: 'allowed' | 'dropped';
  readonly after: 'allowed' | 'dropped';
  /** The side whose decision flips: where it is now dropped, or where it was dropped. */
  readonly direction: Direction;
  /** The rules that now decide it (deny rules, or the allow rules that now let it through). */
  readonly decidedBy: readonly RuleRef[];
  /** One line: "denied by …", "no rule allows: default deny", "allowed by …", … */
  readonly reason: string;
  readonly sourceIdentity: number;
  readonly destinationIdentity: number;
  /** How many of the flows belong to this connection. */
  readonly flows: number;
}

export interface WhatIfReport {
  readonly summary: WhatIfSummary;
  /** Newly dropped first, then newly allowed; each sorted by source, destination, port. */
  readonly changes: readonly ConnectionChange[];
  /** True when a connection allowed today would be dropped: the GitOps gate fails. */
  readonly breaking: boolean;
  /** Policies of the current state that the agents refuse (not enforced today). */
  readonly refusedPolicies: readonly string[];
}

/** A readable name of one side: `namespace/pod`, else the reserved identity's name (with the IP for world/CIDR peers). */
function sideName(s: FlowSide, model: ClusterModel): string {
  const ep = model.endpointOf(s);
  if (ep) return ep.name;
  if (s.pod) return `${s.namespace ?? ''}/${s.pod}`;
  const reserved = s.labels.find((l) => l.startsWith('reserved:'))?.slice('reserved:'.length);
  if (reserved && reserved !== 'world' && !reserved.startsWith('world-')) return reserved;
  if (reserved || s.identity === 0 || s.identity >= 1 << 24) return `world ${s.ip}`;
  return `identity ${s.identity} ${s.ip}`;
}

const refText = (r: RuleRef): string => (r.path ? `${r.policy} ${r.path}` : r.policy);

function explain(model: ClusterModel, o: Observation, before: PathDecision, after: PathDecision): ConnectionChange {
  const direction = (after.verdict === 'dropped' ? after.at : before.at) ?? 'ingress';
  const dstEp = model.endpointOf(o.destination);
  const trace = tracePolicy(model.engine, {
    source: { identity: after.sourceIdentity },
    destination: { identity: after.destinationIdentity },
    port: o.port,
    protocol: o.protocol,
    destinationNamedPorts: dstEp?.namedPorts,
  })[direction];
  const subject = direction === 'egress' ? 'source' : 'destination';
  let decidedBy: readonly RuleRef[];
  let reason: string;
  if (after.verdict === 'dropped') {
    decidedBy = trace.deniedBy;
    reason = decidedBy.length
      ? `denied by ${decidedBy.map(refText).join(', ')}`
      : `no rule allows: default deny (${direction} of the ${subject})`;
  } else {
    decidedBy = trace.allowedBy;
    reason = decidedBy.length
      ? `allowed by ${decidedBy.map(refText).join(', ')}`
      : `no policy selects the ${subject} for ${direction}: not enforced`;
  }
  return {
    source: sideName(o.source, model),
    destination: sideName(o.destination, model),
    port: o.port,
    protocol: protoName(o.protocol),
    before: before.verdict,
    after: after.verdict,
    direction,
    decidedBy,
    reason,
    sourceIdentity: after.sourceIdentity,
    destinationIdentity: after.destinationIdentity,
    flows: 0,
  };
}

/** The engine events of a proposed change; a deletion of a policy the cluster lacks is refused. */
function changeEvents(model: ClusterModel, state: ClusterState, changes: ProposedChanges): PolicyEvent[] {
  const have = new Set(state.policies.map(keyOf));
  const events: PolicyEvent[] = [];
  for (const ref of changes.delete ?? []) {
    const key = keyOf(ref);
    if (!have.has(key))
      throw new WhatIfError(WhatIfErrorCode.NotFound, `cannot delete ${key}: the cluster has no such policy`);
    events.push({ type: 'policy-removed', key });
  }
  for (const p of changes.apply ?? []) {
    const t = agentTranslate(p, model.clusterName);
    // A policy the agents would refuse replaces the stored one and enforces nothing (checkProposed refuses it first).
    events.push(t ? { type: 'policy-upserted', policy: t } : { type: 'policy-removed', key: keyOf(p) });
  }
  return events;
}

/** Flows of one connection share a decision: the sides (IP, recorded identity, pod) and the L4 key. */
const connKey = (o: Observation): string =>
  `${o.source.ip} ${o.source.identity} ${o.source.pod ?? ''} ${o.destination.ip} ${o.destination.identity} ${o.destination.pod ?? ''} ${o.protocol} ${o.port}`;

/**
 * Replays `flows` against the cluster's policies and against them with `changes` applied, in
 * memory. Pure: nothing is read or written outside the arguments.
 */
export function whatIf(
  flows: readonly Flow[],
  state: ClusterState,
  changes: ProposedChanges,
  options: WhatIfOptions = {},
): WhatIfReport {
  const model = new ClusterModel(state);
  const skipped: Partial<Record<SkipReason | 'other-namespace', number>> = {};
  const observations: Observation[] = [];
  flows.forEach((f, i) => {
    const o = observe(f, i);
    if (typeof o === 'string') skipped[o] = (skipped[o] ?? 0) + 1;
    else if (
      options.namespace &&
      o.source.namespace !== options.namespace &&
      o.destination.namespace !== options.namespace
    )
      skipped['other-namespace'] = (skipped['other-namespace'] ?? 0) + 1;
    else observations.push(o);
  });

  model.load(observations.flatMap((o) => [o.source, o.destination]));

  // Today: the whole path per connection, and the recorded point's own decision (stale check).
  const before = new Map<string, PathDecision>();
  const keys = observations.map(connKey);
  let stale = 0;
  observations.forEach((o, i) => {
    const k = keys[i]!;
    if (!before.has(k)) before.set(k, model.decidePath(o.source, o.destination, o.protocol, o.port));
    if (o.decided && o.point) {
      const now =
        model.decideAt(o.point, o.source, o.destination, o.protocol, o.port) === 'allow' ? 'allowed' : 'dropped';
      if (now !== o.recorded) stale++;
    }
  });

  model.apply(changeEvents(model, state, changes));

  const after = new Map<string, PathDecision>();
  const groups = new Map<string, ConnectionChange & { flows: number }>();
  let newlyDropped = 0;
  let newlyAllowed = 0;
  observations.forEach((o, i) => {
    const k = keys[i]!;
    let a = after.get(k);
    if (!a) after.set(k, (a = model.decidePath(o.source, o.destination, o.protocol, o.port)));
    const b = before.get(k)!;
    if (a.verdict === b.verdict) return;
    if (a.verdict === 'dropped') newlyDropped++;
    else newlyAllowed++;
    const gk = `${sideName(o.source, model)}\0${sideName(o.destination, model)}\0${o.protocol}\0${o.port}`;
    let g = groups.get(gk);
    if (!g) groups.set(gk, (g = { ...explain(model, o, b, a), flows: 0 }));
    g.flows++;
  });

  const changes_ = [...groups.values()].sort(
    (x, y) =>
      (x.after === y.after ? 0 : x.after === 'dropped' ? -1 : 1) ||
      x.source.localeCompare(y.source) ||
      x.destination.localeCompare(y.destination) ||
      x.port - y.port,
  );
  return {
    summary: {
      flows: flows.length,
      examined: observations.length,
      unchanged: observations.length - newlyDropped - newlyAllowed,
      newlyDropped,
      newlyAllowed,
      stale,
      skipped,
    },
    changes: changes_,
    breaking: newlyDropped > 0,
    refusedPolicies: model.refused,
  };
}
