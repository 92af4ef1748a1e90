// The agent's side of the policy engine: feeds it typed events, programs the resulting per-
// endpoint policies into the datapath (swapped whole, or in place where that is safe: apply()),
// keeps the node-local CIDR identities for the ipcache, and remembers each policy's status for
// its `Valid` condition.
// Until the gate opens (every cache synced after a start), nothing reaches the datapath: a
// restarted agent must not program a half-known world over a correct pinned state.
import type { Logger } from 'pino';
import type { Datapath, PolicyWrite } from '../../datapath/datapath.js';
import {
  PolicyEngine,
  type EnforcementMode,
  type EntryDelta,
  type MapEntry,
  type NotEnforced,
  type PolicyEvent,
  type PolicyProblem,
} from '../../policy/index.js';

export interface PolicyStatus {
  notEnforced: readonly NotEnforced[];
  problems: readonly PolicyProblem[];
}

export interface PolicyHubOptions {
  enforcement: EnforcementMode;
  clusterName: string;
  log: Logger;
  /** Called after the ipcache-relevant state (CIDR identities) changed. */
  onCidrIdentities: () => void;
  /** Called after endpoint policies were written, with the endpoints programmed (metrics, CEPs). */
  onRegenerated?: (endpoints: readonly number[], ms: number) => void;
}

/** Only allows added, or only allows removed: every intermediate map gives each packet its old or its new verdict. */
function monotone(d: EntryDelta): boolean {
  const { added, removed } = d;
  if (added.length === 0) return removed.length > 0 && removed.every((e) => e.verdict === 'allow');
  return removed.length === 0 && added.every((e) => e.verdict === 'allow');
}

export class PolicyHub {
  readonly engine: PolicyEngine;
  /** prefix → node-local CIDR identity. */
  readonly cidrIdentities = new Map<string, number>();
  readonly statuses = new Map<string, PolicyStatus>();
  private readonly dirty = new Set<number>();
  /** Endpoint policy maps actually rewritten (not no-ops), since the counter was last reset. */
  mapsRewritten = 0;
  /** Endpoint policy maps changed in place by an identity-churn delta, since the counter was last reset. */
  deltasApplied = 0;
  private open = false;

  constructor(
    private readonly datapath: Datapath,
    private readonly o: PolicyHubOptions,
  ) {
    this.engine = new PolicyEngine({ enforcement: o.enforcement, clusterName: o.clusterName });
  }

  get gateOpen(): boolean {
    return this.open;
  }

  /**
   * Feeds the engine; endpoints whose maps changed are reprogrammed. `program` names endpoints to
   * program even without a change (a new endpoint whose map must exist).
   *
   * Identity churn — pods with new label sets coming and going anywhere in the cluster — changes
   * a few entries in many endpoints' maps (a new identity: ~200 entries over ~170 endpoints in
   * the policy benchmark's cluster). Those deltas are written in place (a `delta` write: no
   * map rebuilt, no RCU grace period), each entry switching atomically; entries of different peer
   * identities do not interact, so no packet sees a verdict that neither state gives. Everything
   * else — policies, an endpoint's own identity or named ports — swaps whole maps, so no packet
   * meets half of a new rule set.
   *
   * A delta that only adds allows, or only removes allows, is written in place too, whatever
   * caused it (a policy created or deleted, say): between the old map and the new one every
   * packet's verdict is the old one or the new one (denies win and none changes; an allow only
   * appears or disappears), as upstream writes its policy maps incrementally. Swapping 1,000
   * maps (create, fill, one batched switch, one RCU grace period) cost most of a policy change
   * at 1,000 endpoints; in place it is one write per distinct map, the endpoints sharing the
   * engine's delta object written as one group.
   */
  apply(events: PolicyEvent[], program: readonly number[] = []): void {
    for (const id of program) this.dirty.add(id);
    let cidrChanged = false;
    const identityIds = events.flatMap((e) =>
      e.type === 'identity-upserted' || e.type === 'identity-removed' ? [e.id] : [],
    );
    // FQDN deltas are churn too: learned IPs' identities joining or leaving toFQDNs selections
    const fqdn = events.filter((e) => e.type === 'fqdn-names').length;
    const churnOnly = this.open && events.length > 0 && identityIds.length + fqdn === events.length;
    const churned = new Set(identityIds);
    // the engine's delta object → the endpoints written in place with it (the endpoints of one
    // resolved policy share it: one group, written once per inner map)
    const inPlace = new Map<EntryDelta, number[]>();
    const isMonotone = new Map<EntryDelta, boolean>();
    /** Whether a delta may be written in place into the maps of endpoints of identity `own` (see above). */
    const inPlaceOk = (delta: EntryDelta, own: number | undefined): boolean => {
      if (!this.open) return false;
      let m = isMonotone.get(delta);
      if (m === undefined) isMonotone.set(delta, (m = monotone(delta)));
      // an endpoint whose own identity changed gets new rules: a whole-map swap
      return m || (churnOnly && own !== undefined && !churned.has(own));
    };
    const writeInPlace = (delta: EntryDelta, endpoints: readonly number[]) => {
      const group = inPlace.get(delta);
      if (group) for (const id of endpoints) group.push(id);
      else inPlace.set(delta, [...endpoints]);
    };
    for (const out of this.engine.applyGrouped(events)) {
      switch (out.type) {
        case 'endpoints-delta': {
          // the endpoints of one resolved policy: one identity, one delta
          const { endpoints, delta } = out;
          if (!inPlaceOk(delta, out.identity)) {
            for (const id of endpoints) this.dirty.add(id);
            break;
          }
          // endpoints already due for a whole-map swap stay so
          const free = this.dirty.size === 0 ? endpoints : endpoints.filter((id) => !this.dirty.has(id));
          if (free.length) writeInPlace(delta, free);
          break;
        }
        case 'endpoint-delta': {
          const { endpoint, delta } = out;
          if (!this.dirty.has(endpoint) && inPlaceOk(delta, this.engine.endpointIdentity(endpoint)))
            writeInPlace(delta, [endpoint]);
          else this.dirty.add(endpoint);
          break;
        }
        case 'cidr-identity-added':
          this.cidrIdentities.set(out.prefix, out.identity);
          cidrChanged = true;
          break;
        case 'cidr-identity-removed':
          if (this.cidrIdentities.get(out.prefix) === out.identity) this.cidrIdentities.delete(out.prefix);
          cidrChanged = true;
          break;
        case 'policy-status':
          this.statuses.set(out.key, { notEnforced: out.notEnforced, problems: out.problems });
          break;
        case 'problem':
          this.o.log.warn(
            { code: out.problem.code, source: out.problem.source, field: out.problem.field },
            out.problem.message,
          );
          break;
      }
    }
    if (cidrChanged) this.o.onCidrIdentities();
    this.applyInPlace(inPlace);
    this.flush();
  }

  private applyInPlace(deltas: ReadonlyMap<EntryDelta, number[]>): void {
    if (deltas.size === 0) return;
    const started = performance.now();
    const groups = [...deltas].map(([d, endpoints]) => ({ endpoints, added: d.added, removed: d.removed }));
    const endpoints = groups.flatMap((g) => g.endpoints);
    try {
      this.deltasApplied += this.datapath.writePolicyDeltas(groups);
    } catch (e) {
      // some maps may be partly written: whole swaps from the engine's state repair them
      this.o.log.error(
        { endpoints, err: (e as Error).message },
        "applying policy deltas failed; the endpoints' whole maps are rewritten",
      );
      for (const id of endpoints) this.dirty.add(id);
      return;
    }
    this.o.onRegenerated?.(endpoints, performance.now() - started);
  }

  /** Opens the gate and programs every endpoint once (a no-op for maps that are already right). */
  openGate(endpointIds: Iterable<number>): void {
    this.open = true;
    for (const id of endpointIds) this.dirty.add(id);
    this.flush();
  }

  entries(endpointId: number): MapEntry[] {
    return this.engine.endpointEntries(endpointId);
  }

  /** Whether a direction of an endpoint is in default deny (the engine's own record). */
  enforcing(endpointId: number, direction: 'ingress' | 'egress'): boolean {
    return this.engine.enforced(endpointId, direction);
  }

  private flush(): void {
    if (!this.open || this.dirty.size === 0) return;
    const started = performance.now();
    const ids = [...this.dirty];
    this.dirty.clear();
    const known = new Set(this.engine.endpointIds());
    const updates = new Map<number, PolicyWrite>();
    for (const id of ids)
      if (known.has(id)) updates.set(id, { mode: 'swap', entries: this.engine.endpointEntries(id) });
    try {
      // One batched switch for all endpoints: one RCU grace period instead of one per endpoint.
      for (const r of this.datapath.writePolicy(updates).values())
        if (r.replaced || r.added || r.updated || r.removed) this.mapsRewritten++;
    } catch (e) {
      this.o.log.error(
        { endpoints: [...updates.keys()], err: (e as Error).message },
        'programming endpoint policies failed; will retry on the next change',
      );
      for (const id of updates.keys()) this.dirty.add(id);
    }
    this.o.onRegenerated?.([...updates.keys()], performance.now() - started);
  }
}
