// The agent's side of the policy engine: feeds it typed events, programs the resulting per-
// endpoint policies into the datapath (each replaced atomically), keeps the node-local CIDR
// identities for the ipcache, and remembers each policy's status for its `Valid` condition.
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
    const inPlace = new Map<number, EntryDelta>();
    for (const out of this.engine.apply(events)) {
      switch (out.type) {
        case 'endpoint-delta': {
          const own = this.engine.endpointIdentity(out.endpoint);
          // an endpoint whose own identity changed gets new rules: a whole-map swap
          if (churnOnly && !this.dirty.has(out.endpoint) && own !== undefined && !churned.has(own))
            inPlace.set(out.endpoint, out);
          else this.dirty.add(out.endpoint);
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

  private applyInPlace(deltas: ReadonlyMap<number, EntryDelta>): void {
    if (deltas.size === 0) return;
    const started = performance.now();
    const done: number[] = [];
    for (const [id, delta] of deltas) {
      try {
        const write = { mode: 'delta', added: delta.added, removed: delta.removed } as const;
        const r = this.datapath.writePolicy(new Map([[id, write]])).get(id)!;
        if (r.added || r.updated || r.removed) this.deltasApplied++;
        done.push(id);
      } catch (e) {
        // the map may be partly written: a whole swap from the engine's state repairs it
        this.o.log.error(
          { endpoint: id, err: (e as Error).message },
          "applying a policy delta failed; the endpoint's whole map is rewritten",
        );
        this.dirty.add(id);
      }
    }
    this.o.onRegenerated?.(done, performance.now() - started);
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
