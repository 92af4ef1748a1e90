// The policy engine: typed events in (identities, policies, endpoints), typed outputs out
// (map deltas, per endpoint or per group of endpoints sharing a resolved policy; CIDR identities
// for the ipcache; policy status). It owns the selector cache and one resolved policy per
// (identity, named ports), shared by endpoints.
import type { NotEnforced, PolicyProblem } from './errors.js';
import { PolicyErrorCode, problem } from './errors.js';
import { CellArena } from './cell-store.js';
import { EndpointDelta, EndpointGroupDelta, netDeltas } from './endpoint-delta.js';
import { applyDelta, diffEntries, sortEntries, type EntryDelta, type MapEntry } from './entries.js';
import { CidrIdentityAllocator } from './cidr-identities.js';
import { FqdnIdentities, type FqdnIdentityChange } from './fqdn-identities.js';
import type { NameDelta } from './fqdn-selections.js';
import { identityInfo, prefixText, reservedIdentities, type IdentityInfo } from './identities.js';
import { DEFAULT_CLUSTER_NAME, LabelSet } from './labels.js';
import { ClusterNamedPortsTable } from './cluster-named-ports.js';
import { namedPortsSignature, type ClusterNamedPorts, type NamedPorts } from './ports.js';
import {
  ResolvedPolicy,
  ruleSelects,
  type EnforcementMode,
  type Filter,
  type L7Verdict,
  type ResolveEnv,
} from './resolve.js';
import type { L7Table } from './l7-table.js';
import { ResolvedIndex } from './resolved-index.js';
import { RuleIndex } from './rule-index.js';
import type { Direction, PolicyRule, TranslatedPolicy } from './rule-model.js';
import { SelectorCache } from './selector-cache.js';
import { deltaSize } from './packed-delta.js';

export interface EngineOptions {
  /** `default`: default deny per direction once a rule selects the endpoint; `always`; `never`. */
  enforcement: EnforcementMode;
  clusterName: string;
  /** Add the reserved identities (host, world, …) at start. */
  reservedIdentities: boolean;
  /** allow-localhost (upstream default): the local host reaches every local endpoint. */
  allowLocalhost: boolean;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  enforcement: 'default',
  clusterName: DEFAULT_CLUSTER_NAME,
  reservedIdentities: true,
  allowLocalhost: true,
};

/** A local endpoint: its numeric id, its security identity and its container ports. */
export interface EndpointSpec {
  readonly id: number;
  readonly identity: number;
  readonly namedPorts?: NamedPorts;
}

export type PolicyEvent =
  | {
      readonly type: 'identity-upserted';
      readonly id: number;
      readonly labels: LabelSet | Readonly<Record<string, string>>;
    }
  | { readonly type: 'identity-removed'; readonly id: number }
  | { readonly type: 'policy-upserted'; readonly policy: TranslatedPolicy }
  | { readonly type: 'policy-removed'; readonly key: string }
  | { readonly type: 'endpoint-upserted'; readonly endpoint: EndpointSpec }
  | { readonly type: 'endpoint-removed'; readonly id: number }
  | { readonly type: 'cluster-named-ports'; readonly ports: ClusterNamedPorts }
  /** The FQDN cache's deltas: names gained or lost IPs (what toFQDNs selectors select). */
  | { readonly type: 'fqdn-names'; readonly deltas: readonly NameDelta[] };

/** What `apply()` returns: one `endpoint-delta` per changed endpoint, and the other outputs. */
export type PolicyOutput = EndpointDelta | OtherOutput;

/**
 * What `applyGrouped()` returns: the endpoints of one resolved policy that took the same net delta
 * as one `endpoints-delta`, an endpoint that moved in the batch as its own `endpoint-delta`.
 */
export type GroupedPolicyOutput = EndpointDelta | EndpointGroupDelta | OtherOutput;

type OtherOutput =
  | { readonly type: 'cidr-identity-added'; readonly identity: number; readonly prefix: string }
  | { readonly type: 'cidr-identity-removed'; readonly identity: number; readonly prefix: string }
  | {
      readonly type: 'policy-status';
      readonly key: string;
      readonly notEnforced: readonly NotEnforced[];
      readonly problems: readonly PolicyProblem[];
    }
  | { readonly type: 'problem'; readonly problem: PolicyProblem };

interface EndpointState {
  spec: EndpointSpec;
  policy: ResolvedPolicy | undefined;
}

export class PolicyEngine {
  readonly options: EngineOptions;
  private readonly cache = new SelectorCache();
  private readonly cidr = new CidrIdentityAllocator();
  private readonly fqdn = new FqdnIdentities(this.cidr);
  private readonly policies = new Map<string, TranslatedPolicy>();
  private readonly rules = new RuleIndex();
  private readonly resolved = new ResolvedIndex();
  private readonly endpoints = new Map<number, EndpointState>();
  /** Selector key → filters using it (the reverse index for selection changes). */
  private readonly filtersBySelector = new Map<string, Set<Filter>>();
  private readonly namedPorts = new ClusterNamedPortsTable();
  private readonly env: ResolveEnv;
  /**
   * The deltas of one batch per resolved policy: its endpoints that stayed in it for the whole batch
   * share them (netted once, one group output). An endpoint's share of a policy change is then no
   * work per endpoint, which a new agent process's first changes pay for before V8 compiles them.
   */
  private policyPending = new Map<ResolvedPolicy, EntryDelta[]>();
  /**
   * The deltas of one batch per endpoint that moved (attached, detached, moved to another resolved
   * policy): the deltas of the policy it left until then, its own, then those of its new policy.
   */
  private moved = new Map<number, EntryDelta[]>();
  /** The endpoints that moved into each resolved policy in this batch (they take its later deltas). */
  private movedInto = new Map<ResolvedPolicy, Set<number>>();
  private readonly touchedScratch: ResolvedPolicy[] = [];
  private touchMark = 0;
  private outputs: OtherOutput[] = [];

  constructor(options: Partial<EngineOptions> = {}) {
    this.options = { ...DEFAULT_ENGINE_OPTIONS, ...options };
    const namedPorts = (): ClusterNamedPorts => this.namedPorts.table;
    this.env = {
      cache: this.cache,
      get clusterNamedPorts() {
        return namedPorts();
      },
      mode: this.options.enforcement,
      allowLocalhost: this.options.allowLocalhost,
      cells: new CellArena(),
      onFilter: (f, added) => {
        let s = this.filtersBySelector.get(f.selector.key);
        if (added) {
          if (!s) this.filtersBySelector.set(f.selector.key, (s = new Set()));
          s.add(f);
        } else if (s) {
          s.delete(f);
          if (s.size === 0) this.filtersBySelector.delete(f.selector.key);
        }
      },
    };
    if (this.options.reservedIdentities) for (const info of reservedIdentities()) this.cache.upsertIdentity(info);
  }

  /**
   * Feeds the DNS proxy's name deltas: each IP a toFQDNs selector newly selects gets its CIDR
   * identity (`cidr-identity-added`, for the ipcache) and the map entries of the rules naming the
   * selector, in the same outputs; IPs no selector selects any more lose both.
   */
  applyFqdnDeltas(deltas: readonly NameDelta[]): PolicyOutput[] {
    return this.apply([{ type: 'fqdn-names', deltas }]);
  }

  /** Applies a batch of events; returns the outputs, one net delta per changed endpoint. */
  apply(events: Iterable<PolicyEvent>): PolicyOutput[] {
    const out: PolicyOutput[] = [];
    for (const o of this.applyGrouped(events)) {
      if (o.type !== 'endpoints-delta') out.push(o);
      else for (const id of o.endpoints) out.push(new EndpointDelta(id, o.delta));
    }
    return out;
  }

  /**
   * Applies a batch of events, like apply(), with the endpoints of one resolved policy that took
   * the same net delta as one output (they share the delta object; the datapath writes it once per
   * map). Each endpoint is in at most one output of a batch.
   */
  applyGrouped(events: Iterable<PolicyEvent>): GroupedPolicyOutput[] {
    for (const ev of events) this.applyOne(ev);
    const out: GroupedPolicyOutput[] = this.outputs;
    // endpoints that moved with the same deltas in the same order share one netting
    const netted = new Map<EntryDelta, { list: EntryDelta[]; net: EntryDelta; size: number }[]>();
    for (const [endpoint, list] of this.moved) {
      if (list.length === 0) continue;
      if (list.length === 1) {
        if (deltaSize(list[0]!) > 0) out.push(new EndpointDelta(endpoint, list[0]!));
        continue;
      }
      let same = netted.get(list[0]!);
      if (!same) netted.set(list[0]!, (same = []));
      let hit = same.find((n) => n.list.length === list.length && n.list.every((d, i) => d === list[i]));
      if (!hit) {
        const net = netDeltas(list);
        same.push((hit = { list, net, size: deltaSize(net) }));
      }
      if (hit.size > 0) out.push(new EndpointDelta(endpoint, hit.net));
    }
    for (const [policy, list] of this.policyPending) {
      const r = this.resolved.get(policy.key);
      if (!r || r.policy !== policy) continue;
      const endpoints = this.movedInto.has(policy)
        ? [...r.endpoints].filter((id) => !this.moved.has(id))
        : [...r.endpoints];
      if (endpoints.length === 0) continue;
      const net = list.length === 1 ? list[0]! : netDeltas(list);
      if (deltaSize(net) > 0) out.push(new EndpointGroupDelta(endpoints, policy.subject.id, net));
    }
    this.policyPending = new Map();
    this.moved = new Map();
    this.movedInto = new Map();
    this.outputs = [];
    return out;
  }

  private applyOne(ev: PolicyEvent): void {
    switch (ev.type) {
      case 'identity-upserted': {
        const labels = ev.labels instanceof LabelSet ? ev.labels : LabelSet.fromRecord(ev.labels);
        this.upsertIdentity(identityInfo(ev.id, labels));
        return;
      }
      case 'identity-removed':
        this.removeIdentity(ev.id);
        return;
      case 'policy-upserted':
        this.upsertPolicy(ev.policy);
        return;
      case 'policy-removed':
        this.removePolicy(ev.key);
        return;
      case 'endpoint-upserted':
        this.upsertEndpoint(ev.endpoint);
        return;
      case 'endpoint-removed':
        this.removeEndpoint(ev.id);
        return;
      case 'cluster-named-ports':
        this.namedPorts.setFed(ev.ports);
        this.namedPortsChanged();
        return;
      case 'fqdn-names':
        this.fqdnChanged(this.fqdn.applyDeltas(ev.deltas));
        return;
    }
  }

  /** FQDN identities into the selector cache (toFQDNs peers select them by their `fqdn:` labels) and the outputs. */
  private fqdnChanged(changes: readonly FqdnIdentityChange[]): void {
    for (const c of changes) {
      if (c.type === 'exhausted' || c.type === 'bad-ip') {
        const code = c.type === 'exhausted' ? PolicyErrorCode.CidrIdentitiesExhausted : PolicyErrorCode.BadCidr;
        const why = c.type === 'exhausted' ? 'no CIDR identity left for the learned IP' : 'not an IP address';
        this.outputs.push({ type: 'problem', problem: problem(code, 'toFQDNs', c.ip, `${c.ip}: ${why}`) });
        continue;
      }
      if (c.type === 'removed') this.selectionChanges(this.cache.removeIdentity(c.info.id));
      else this.selectionChanges(this.cache.upsertIdentity(c.info));
      if (c.type === 'added' || c.type === 'removed')
        this.outputs.push({ type: `cidr-identity-${c.type}`, identity: c.info.id, prefix: c.prefix });
    }
  }

  // ---- identities -------------------------------------------------------------------------

  private upsertIdentity(info: IdentityInfo): void {
    const old = this.cache.identity(info.id);
    const relabelled = old !== undefined && old.labels.toString() !== info.labels.toString();
    this.selectionChanges(this.cache.upsertIdentity(info));
    // Endpoints of a relabelled identity get the rules that select its new labels.
    if (relabelled) {
      for (const [key, r] of [...this.resolved.entries()]) {
        if (r.policy.subject.id !== info.id) continue;
        this.replaceResolved(key, r.endpoints);
      }
    }
    for (const ep of this.endpoints.values()) if (ep.spec.identity === info.id && !ep.policy) this.attach(ep);
  }

  private removeIdentity(id: number): void {
    for (const ep of this.endpoints.values()) if (ep.spec.identity === id && ep.policy) this.detach(ep);
    this.selectionChanges(this.cache.removeIdentity(id));
  }

  private selectionChanges(changes: ReturnType<SelectorCache['upsertIdentity']>): void {
    // Resolved policies to flush, each once (marked with this pass's number: no Set per change).
    const touched = this.touchedScratch;
    const mark = ++this.touchMark;
    for (const c of changes) {
      for (const f of this.filtersBySelector.get(c.selector) ?? []) {
        f.policy.selectionChanged(f, c.identity, c.added);
        if (f.policy.mark !== mark) {
          f.policy.mark = mark;
          touched.push(f.policy);
        }
      }
    }
    for (const p of touched) this.emit(p, p.flush());
    touched.length = 0;
  }

  // ---- policies ---------------------------------------------------------------------------

  private upsertPolicy(policy: TranslatedPolicy): void {
    // New CIDR identities first (stable numbers when a policy is re-applied), then rules.
    for (const p of policy.prefixes) {
      const got = this.cidr.acquire(p);
      if (!got) {
        this.outputs.push({
          type: 'problem',
          problem: problem(
            PolicyErrorCode.CidrIdentitiesExhausted,
            policy.key,
            'prefixes',
            `no CIDR identity left for ${prefixText(p)}`,
          ),
        });
        continue;
      }
      if (got.created) {
        this.outputs.push({
          type: 'cidr-identity-added',
          identity: got.info.id,
          prefix: prefixText(got.info.prefixes[0] ?? p),
        });
        this.selectionChanges(this.cache.upsertIdentity(got.info));
      }
    }
    this.fqdnChanged(this.fqdn.addSelectors(policy.fqdnSelectors ?? []));
    const old = this.policies.get(policy.key);
    this.policies.set(policy.key, policy);
    if (old) this.dropRules(old);
    for (const r of policy.rules) {
      this.rules.add(r);
      for (const { policy: rp } of this.resolved.forRule(r))
        if (ruleSelects(r, rp.subject)) this.emit(rp, rp.addRule(r));
    }
    if (old) this.releasePrefixes(old);
    if (old) this.fqdnChanged(this.fqdn.removeSelectors(old.fqdnSelectors ?? []));
    this.outputs.push({
      type: 'policy-status',
      key: policy.key,
      notEnforced: policy.notEnforced,
      problems: policy.problems,
    });
  }

  private removePolicy(key: string): void {
    const old = this.policies.get(key);
    if (!old) return;
    this.policies.delete(key);
    this.dropRules(old);
    this.releasePrefixes(old);
    this.fqdnChanged(this.fqdn.removeSelectors(old.fqdnSelectors ?? []));
  }

  private dropRules(policy: TranslatedPolicy): void {
    for (const r of policy.rules) {
      this.rules.remove(r);
      for (const { policy: rp } of this.resolved.forRule(r)) if (rp.rules.has(r.id)) this.emit(rp, rp.removeRule(r.id));
    }
  }

  private releasePrefixes(policy: TranslatedPolicy): void {
    for (const p of policy.prefixes) {
      const gone = this.cidr.release(p);
      if (!gone) continue;
      this.selectionChanges(this.cache.removeIdentity(gone.id));
      this.outputs.push({
        type: 'cidr-identity-removed',
        identity: gone.id,
        prefix: prefixText(gone.prefixes[0] ?? p),
      });
    }
  }

  // ---- endpoints --------------------------------------------------------------------------

  private upsertEndpoint(spec: EndpointSpec): void {
    const ep = this.endpoints.get(spec.id);
    if (namedPortsSignature(ep?.spec.namedPorts) !== namedPortsSignature(spec.namedPorts)) {
      const a = this.namedPorts.count(ep?.spec.namedPorts, -1);
      const b = this.namedPorts.count(spec.namedPorts, 1);
      if (a || b) this.namedPortsChanged();
    }
    if (!ep) {
      const fresh: EndpointState = { spec, policy: undefined };
      this.endpoints.set(spec.id, fresh);
      this.moving(fresh);
      this.attach(fresh);
      return;
    }
    const sameKey = ep.policy && ep.policy.key === this.resolvedKey(spec);
    ep.spec = spec;
    if (sameKey) return;
    this.moving(ep);
    const before = ep.policy?.entries() ?? [];
    this.release(ep);
    ep.policy = undefined;
    this.attach(ep, before);
  }

  private removeEndpoint(id: number): void {
    const ep = this.endpoints.get(id);
    if (!ep) return;
    if (ep.policy) this.detach(ep);
    this.endpoints.delete(id);
    if (this.namedPorts.count(ep.spec.namedPorts, -1)) this.namedPortsChanged();
  }

  /** Recomputes the cluster table; rebuilds the resolved policies with egress named ports. */
  private namedPortsChanged(): void {
    this.namedPorts.recompute();
    for (const r of this.resolved.values()) {
      if (usesEgressNamedPorts(r.policy))
        this.emit(r.policy, r.policy.rebuild(this.rules.candidates(r.policy.subject)));
    }
  }

  private resolvedKey(spec: EndpointSpec): string {
    return `${spec.identity}|${namedPortsSignature(spec.namedPorts)}`;
  }

  /** Attaches an endpoint to its (possibly new) resolved policy; `before` = its map until now. */
  private attach(ep: EndpointState, before: readonly MapEntry[] = []): void {
    const info = this.cache.identity(ep.spec.identity);
    if (!info) {
      if (before.length) this.emitEndpoint(ep, diffEntries(before, []));
      return; // waits for its identity
    }
    const key = this.resolvedKey(ep.spec);
    let r = this.resolved.get(key);
    let first: EntryDelta | undefined;
    if (!r) {
      const policy = new ResolvedPolicy(key, info, ep.spec.namedPorts, this.env);
      // Built from nothing: its first delta adds its whole map.
      first = policy.rebuild(this.rules.candidates(info));
      r = this.resolved.create(key, policy);
    }
    r.endpoints.add(ep.spec.id);
    ep.policy = r.policy;
    let into = this.movedInto.get(r.policy);
    if (!into) this.movedInto.set(r.policy, (into = new Set()));
    into.add(ep.spec.id);
    if (before.length === 0) this.emitEndpoint(ep, first ?? { added: r.policy.entries(), removed: [] });
    else this.emitEndpoint(ep, diffEntries(before, first?.added ?? r.policy.entries()));
  }

  private detach(ep: EndpointState): void {
    this.moving(ep);
    const before = ep.policy?.entries() ?? [];
    this.release(ep);
    ep.policy = undefined;
    this.emitEndpoint(ep, { added: [], removed: before });
  }

  private release(ep: EndpointState): void {
    if (!ep.policy) return;
    const r = this.resolved.get(ep.policy.key);
    if (!r) return;
    r.endpoints.delete(ep.spec.id);
    if (r.endpoints.size === 0) {
      r.policy.dispose();
      this.resolved.delete(ep.policy.key);
    }
  }

  /** Rebuilds a resolved policy for a relabelled subject, moving its endpoints over. */
  private replaceResolved(key: string, endpoints: ReadonlySet<number>): void {
    const r = this.resolved.get(key);
    if (!r) return;
    const before = r.policy.entries();
    r.policy.dispose();
    this.resolved.delete(key);
    for (const id of endpoints) {
      const ep = this.endpoints.get(id);
      if (!ep) continue;
      this.moving(ep);
      ep.policy = undefined;
      this.attach(ep, before);
    }
  }

  // ---- outputs ----------------------------------------------------------------------------

  /** A delta of a resolved policy: its endpoints' share (theirs to net at the end of the batch). */
  private emit(policy: ResolvedPolicy, delta: EntryDelta): void {
    if (deltaSize(delta) === 0) return;
    const r = this.resolved.get(policy.key);
    if (!r || r.policy !== policy) return;
    let list = this.policyPending.get(policy);
    if (!list) this.policyPending.set(policy, (list = []));
    list.push(delta);
    const into = this.movedInto.get(policy);
    if (into) for (const id of into) if (this.endpoints.get(id)?.policy === policy) this.moved.get(id)?.push(delta);
  }

  /**
   * An endpoint leaves its group for the rest of the batch (call it before it leaves its resolved
   * policy): its deltas start with those its policy had in this batch until now.
   */
  private moving(ep: EndpointState): void {
    if (this.moved.has(ep.spec.id)) return;
    const inherited = ep.policy ? this.policyPending.get(ep.policy) : undefined;
    this.moved.set(ep.spec.id, inherited ? [...inherited] : []);
  }

  /** A delta of one endpoint that moved (see moving()). */
  private emitEndpoint(ep: EndpointState, delta: EntryDelta): void {
    if (deltaSize(delta) === 0) return;
    let list = this.moved.get(ep.spec.id);
    if (!list) this.moved.set(ep.spec.id, (list = []));
    list.push(delta);
  }

  // ---- queries ----------------------------------------------------------------------------

  /** The full map of one endpoint, sorted (what a fresh map would hold). */
  endpointEntries(id: number): MapEntry[] {
    return sortEntries([...(this.endpoints.get(id)?.policy?.entries() ?? [])]);
  }

  /** The L7 rules the proxy enforces on an endpoint's redirected connection (ResolvedPolicy.l7Rules). */
  l7Rules(endpointId: number, direction: Direction, peer: number, proto: number, port: number): L7Verdict | undefined {
    return this.endpoints.get(endpointId)?.policy?.l7Rules(direction, peer, proto, port);
  }

  /** What `l7Rules` reads for this endpoint, as plain data (policy/l7-table.ts); undefined without L7 rules. */
  l7Table(endpointId: number): L7Table | undefined {
    return this.endpoints.get(endpointId)?.policy?.l7Table();
  }

  /** Recomputes every endpoint's map from scratch (no cached state), for checks and restarts. */
  recomputeEndpoint(id: number): MapEntry[] {
    const ep = this.endpoints.get(id);
    const info = ep ? this.cache.identity(ep.spec.identity) : undefined;
    if (!ep || !info) return [];
    const scratch = new ResolvedPolicy('scratch', info, ep.spec.namedPorts, { ...this.env, onFilter: () => {} });
    scratch.rebuild(this.rules.values());
    const out = sortEntries([...scratch.entries()]);
    scratch.dispose();
    return out;
  }

  endpointIds(): number[] {
    return [...this.endpoints.keys()].sort((a, b) => a - b);
  }

  identity(id: number): IdentityInfo | undefined {
    return this.cache.identity(id);
  }

  identities(): IterableIterator<IdentityInfo> {
    return this.cache.allIdentities();
  }

  allRules(): IterableIterator<PolicyRule> {
    return this.rules.values();
  }

  policy(key: string): TranslatedPolicy | undefined {
    return this.policies.get(key);
  }

  /** The cluster named-port table (egress named ports). */
  clusterNamedPortsTable(): ClusterNamedPorts {
    return this.namedPorts.table;
  }

  /** Prefix → node-local CIDR identity, for the ipcache. */
  cidrIdentities(): { prefix: string; identity: number }[] {
    return this.cidr.entries();
  }

  /** The security identity an endpoint was last given (undefined: unknown endpoint). */
  endpointIdentity(endpointId: number): number | undefined {
    return this.endpoints.get(endpointId)?.spec.identity;
  }

  /** Whether an endpoint's direction is in default deny. */
  enforced(endpointId: number, direction: 'ingress' | 'egress'): boolean {
    return this.endpoints.get(endpointId)?.policy?.enforced(direction) ?? false;
  }

  stats(): { identities: number; selectors: number; resolvedPolicies: number; endpoints: number; entries: number } {
    let entries = 0;
    for (const ep of this.endpoints.values()) entries += ep.policy?.entryCount ?? 0;
    return {
      identities: this.cache.identityCount,
      selectors: this.cache.selectorCount,
      resolvedPolicies: this.resolved.size,
      endpoints: this.endpoints.size,
      entries,
    };
  }
}

function usesEgressNamedPorts(p: ResolvedPolicy): boolean {
  for (const r of p.rules.values())
    for (const pr of r.peerRules)
      if (pr.direction === 'egress' && pr.ports.some((s) => s.kind === 'named')) return true;
  return false;
}

/** Applies a list of outputs' deltas to per-endpoint map states (what datapath/ does). */
export function applyOutputs(maps: Map<number, Map<string, MapEntry>>, outputs: readonly PolicyOutput[]): void {
  for (const o of outputs) {
    if (o.type !== 'endpoint-delta') continue;
    let m = maps.get(o.endpoint);
    if (!m) maps.set(o.endpoint, (m = new Map()));
    applyDelta(m, o);
  }
}
