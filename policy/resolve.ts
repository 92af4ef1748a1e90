// A resolved policy: the rules that select one identity turned into map entries, shared by every
// endpoint with that identity (and the same named ports). It keeps, per (direction, peer) group,
// how many rule × peer × port tuples allow or deny each key, so that a peer identity joining or
// leaving a selection, or one rule coming or going, touches only the groups it names.
import { l4Compact } from './cell-key.js';
import { CellStore, type CellArena } from './cell-store.js';
import { EMPTY_DELTA } from './packed-delta.js';
import { ALLOW_ALL_KEY, type EntryDelta, type MapEntry } from './entries.js';
import type { IdentityInfo } from './identities.js';
import { l4Covers, mergeL7, type L7Rules, type L7Table, type L7TableFilter } from './l7-table.js';
import { l7Index, type L7Parser, type L7PortRule, type PortRuleDNS, type PortRuleHTTP } from './l7.js';
import { ANY_IDENTITY, ReservedIdentity } from './identities.js';
import { resolveNamed, resolveNamedCluster, type ClusterNamedPorts, type NamedPorts, type PortSpec } from './ports.js';
import { DIRECTIONS, type Direction, type PeerRule, type PolicyRule } from './rule-model.js';
import type { SelectorCache } from './selector-cache.js';
import { selects, withRequirements, type Requirement, type Selector } from './selector.js';

export type EnforcementMode = 'default' | 'always' | 'never';

/** What a resolved policy reads from the engine around it. */
export interface ResolveEnv {
  readonly cache: SelectorCache;
  readonly clusterNamedPorts: ClusterNamedPorts;
  readonly mode: EnforcementMode;
  /** allow-localhost: the local host always reaches its endpoints (kubelet probes). */
  readonly allowLocalhost: boolean;
  /** Called when a filter starts or stops using a selector (the engine's reverse index). */
  readonly onFilter: (filter: Filter, added: boolean) => void;
  /** The typed-array memory the cell stores of the engine share. */
  readonly cells: CellArena;
}

/** One peer selector of one peer rule, with its ports resolved: the unit of contribution. */
export interface Filter {
  readonly policy: ResolvedPolicy;
  readonly rule: PolicyRule;
  readonly peer: PeerRule;
  readonly selector: Selector;
  /** For an endpoint peer: its selector before the subject's from/toRequires were ANDed in. */
  readonly base: Selector | undefined;
  /** Compact L4 keys (cell-key.ts `l4Compact`). */
  readonly l4: readonly number[];
  /** Keys this filter redirects to a proxy, by parser index (l7.ts `l7Index`). */
  readonly l7: readonly { readonly parser: number; readonly l4: readonly number[]; readonly rule: L7PortRule }[];
}

/** What the proxy enforces on one redirected connection (policy/l7.ts). */
export interface L7Verdict {
  readonly parser: L7Parser;
  /** A rule allowing the peer on that port without L7 rules: every request is allowed (upstream's wildcard). */
  readonly allowAll: boolean;
  readonly http: readonly PortRuleHTTP[];
  readonly dns: readonly PortRuleDNS[];
}

/** Reserved identities that are never a local endpoint, so never a policy subject. */
const NOT_SUBJECTS = ['world', 'world-ipv4', 'world-ipv6', 'remote-node', 'kube-apiserver', 'unmanaged'];

/** Can this identity be the subject of a rule (an endpoint on some node)? CIDRs and world cannot. */
export function canBeSubject(info: IdentityInfo): boolean {
  return subjectKind(info) !== 'none';
}

/** Per identity: not a subject, the host (node rules), or an endpoint (endpoint rules). Cached. */
const kinds = new WeakMap<IdentityInfo, 'none' | 'host' | 'endpoint'>();
function subjectKind(info: IdentityInfo): 'none' | 'host' | 'endpoint' {
  let k = kinds.get(info);
  if (k === undefined) {
    if (info.labels.has('reserved', 'host')) k = 'host';
    else
      k = info.prefixes.length === 0 && !NOT_SUBJECTS.some((n) => info.labels.has('reserved', n)) ? 'endpoint' : 'none';
    kinds.set(info, k);
  }
  return k;
}

/** Does a rule apply to this identity? Host-firewall rules apply to the host identity only. */
export function ruleSelects(rule: PolicyRule, subject: IdentityInfo): boolean {
  const k = subjectKind(subject);
  if (k === 'none' || rule.node !== (k === 'host')) return false;
  return selects(rule.subject, subject);
}

function l4Keys(specs: readonly PortSpec[]): number[] {
  const seen = new Set<number>();
  for (const s of specs) {
    if (s.kind !== 'numeric') continue;
    for (const p of s.prefixes) seen.add(l4Compact(s.proto, p.port, p.prefixLen));
  }
  return [...seen];
}

const ALLOW_ALL = [l4Compact(ALLOW_ALL_KEY.proto, ALLOW_ALL_KEY.port, ALLOW_ALL_KEY.len)];

export class ResolvedPolicy {
  readonly rules = new Map<string, PolicyRule>();
  private readonly filters = new Map<string, Filter[]>();
  private requires: Record<Direction, Requirement[]> = { ingress: [], egress: [] };
  private readonly enforcing: Record<Direction, number> = { ingress: 0, egress: 0 };
  private readonly allowAll: Record<Direction, boolean> = { ingress: false, egress: false };
  private readonly cells: CellStore;
  /** The engine's mark while it collects policies to flush (engine.ts selectionChanges). */
  mark = 0;

  constructor(
    readonly key: string,
    readonly subject: IdentityInfo,
    readonly namedPorts: NamedPorts | undefined,
    private readonly env: ResolveEnv,
  ) {
    this.cells = new CellStore(env.cells);
  }

  /** Builds from scratch with these rules (those that select the subject are kept). */
  rebuild(rules: Iterable<PolicyRule>): EntryDelta {
    for (const id of [...this.filters.keys()]) this.dropFilters(id);
    this.rules.clear();
    this.cells.zeroAll();
    this.enforcing.ingress = this.enforcing.egress = 0;
    for (const r of rules) if (ruleSelects(r, this.subject)) this.rules.set(r.id, r);
    this.requires = this.collectRequires();
    for (const r of this.rules.values()) this.addRuleFilters(r);
    for (const d of DIRECTIONS) {
      this.allowAll[d] = false;
      this.syncAllowAll(d);
    }
    if (this.env.allowLocalhost && !this.subject.labels.has('reserved', 'host')) {
      this.cells.add('ingress', ReservedIdentity.host, ALLOW_ALL, false, 1);
    }
    return this.flush();
  }

  /**
   * Adds a rule that selects the subject. A rule with requirements (from/toRequires) narrows
   * every endpoint peer of its direction: those filters move to their new selectors (CIDR and
   * entity peers, and the other direction, are untouched).
   */
  addRule(rule: PolicyRule): EntryDelta {
    this.rules.set(rule.id, rule);
    this.requirementsChanged(rule);
    this.addRuleFilters(rule);
    for (const d of DIRECTIONS) this.syncAllowAll(d);
    return this.flush();
  }

  removeRule(ruleId: string): EntryDelta {
    const rule = this.rules.get(ruleId);
    if (!rule) return EMPTY_DELTA;
    this.rules.delete(ruleId);
    this.dropFilters(ruleId);
    for (const d of DIRECTIONS) if (rule.defaultDeny[d]) this.enforcing[d]--;
    this.requirementsChanged(rule);
    for (const d of DIRECTIONS) this.syncAllowAll(d);
    return this.flush();
  }

  /** After `rule` (with requirements) came or went: re-derive endpoint peers' selectors in its directions. */
  private requirementsChanged(rule: PolicyRule): void {
    const dirs = DIRECTIONS.filter((d) => rule.requires[d].length > 0);
    if (dirs.length === 0) return;
    this.requires = this.collectRequires();
    if (this.env.mode === 'never') return;
    for (const [id, list] of this.filters) {
      if (!list.some((f) => f.base && dirs.includes(f.peer.direction))) continue;
      const next = list.map((f) => {
        if (!f.base || !dirs.includes(f.peer.direction)) return f;
        const selector = withRequirements(f.base, this.requires[f.peer.direction]);
        if (selector.key === f.selector.key) return f;
        const g: Filter = { ...f, selector };
        // The new reference first: a selector shared with the old one keeps its cached selection.
        this.env.cache.addSelector(selector);
        this.env.onFilter(g, true);
        this.cells.addMany(g.peer.direction, this.env.cache.selected(selector.key), g.l4, g.peer.deny, 1);
        this.cells.addMany(f.peer.direction, this.env.cache.selected(f.selector.key), f.l4, f.peer.deny, -1);
        this.env.onFilter(f, false);
        this.env.cache.removeSelector(f.selector.key);
        return g;
      });
      this.filters.set(id, next);
    }
  }

  /** A peer identity joined or left the selection of a filter's selector. */
  selectionChanged(filter: Filter, identity: number, added: boolean): void {
    this.contribute(filter, identity, added ? 1 : -1);
  }

  /** Applies pending contributions and returns the entries that changed. */
  flush(): EntryDelta {
    return this.cells.flush();
  }

  /** Every entry of the map (fresh objects, not retained here), unsorted. */
  entries(): readonly MapEntry[] {
    return this.cells.entries();
  }

  get entryCount(): number {
    return this.cells.count();
  }

  enforced(direction: Direction): boolean {
    return this.env.mode === 'always' || (this.env.mode === 'default' && this.enforcing[direction] > 0);
  }

  /**
   * The L7 rules for a connection the datapath redirected: the allow rules of `direction` that
   * select `peer` on (proto, port). Undefined when no rule with L7 rules covers it.
   */
  l7Rules(direction: Direction, peer: number, proto: number, port: number): L7Verdict | undefined {
    const covers = (c: number): boolean => l4Covers(c, proto, port);
    const perFilter: L7Rules[][] = [];
    for (const list of this.filters.values()) {
      for (const f of list) {
        if (f.peer.direction !== direction || f.peer.deny || !f.l4.some(covers)) continue;
        if (!this.env.cache.selected(f.selector.key).has(peer)) continue;
        perFilter.push(f.l7.filter((r) => r.l4.some(covers)).map((r) => r.rule));
      }
    }
    return mergeL7(perFilter);
  }

  /**
   * The filters `l7Rules` reads, as plain data for a proxy in another process (l7-table.ts); undefined
   * when no filter has L7 rules (nothing is redirected for this policy).
   */
  l7Table(): L7Table | undefined {
    const filters: L7TableFilter[] = [];
    let any = false;
    for (const list of this.filters.values()) {
      for (const f of list) {
        if (f.peer.deny) continue;
        if (f.l7.length) any = true;
        filters.push({
          direction: f.peer.direction,
          l4: f.l4,
          peers: [...this.env.cache.selected(f.selector.key)].sort((a, b) => a - b),
          l7: f.l7.map((r) => ({ l4: r.l4, parser: r.rule.parser, http: r.rule.http, dns: r.rule.dns })),
        });
      }
    }
    return any ? { filters } : undefined;
  }

  /** Releases every selector reference (the policy is being dropped). */
  dispose(): void {
    for (const id of [...this.filters.keys()]) this.dropFilters(id);
  }

  private collectRequires(): Record<Direction, Requirement[]> {
    const out: Record<Direction, Requirement[]> = { ingress: [], egress: [] };
    for (const r of this.rules.values()) for (const d of DIRECTIONS) out[d].push(...r.requires[d]);
    return out;
  }

  private addRuleFilters(rule: PolicyRule): void {
    for (const d of DIRECTIONS) if (rule.defaultDeny[d]) this.enforcing[d]++;
    if (this.env.mode === 'never') return;
    const list: Filter[] = [];
    for (const peer of rule.peerRules) {
      const specs = peer.ports.flatMap((s) => this.resolvePorts(peer.direction, s));
      const l4 = l4Keys(specs);
      if (l4.length === 0) continue;
      const l7 = (peer.l7 ?? []).map((r) => ({
        parser: l7Index(r.parser),
        l4: l4Keys(r.ports.flatMap((s) => this.resolvePorts(peer.direction, s))),
        rule: r,
      }));
      const sels = [
        ...peer.endpoints.map((base) => ({ base, selector: withRequirements(base, this.requires[peer.direction]) })),
        ...peer.others.map((selector) => ({ base: undefined, selector })),
      ];
      for (const { base, selector } of sels) {
        if (selector.kind === 'none') continue;
        const f: Filter = { policy: this, rule, peer, selector, base, l4, l7 };
        list.push(f);
        for (const r of l7) this.cells.addL7(peer.direction, r.l4, r.parser, 1);
        this.env.cache.addSelector(selector);
        this.env.onFilter(f, true);
        this.cells.addMany(peer.direction, this.env.cache.selected(selector.key), l4, peer.deny, 1);
      }
    }
    this.filters.set(rule.id, list);
  }

  /** Named ports resolved: ingress against the subject's container ports, egress cluster-wide. */
  private resolvePorts(direction: Direction, s: PortSpec): PortSpec[] {
    return direction === 'ingress'
      ? resolveNamed(s, this.namedPorts)
      : resolveNamedCluster(s, this.env.clusterNamedPorts);
  }

  private dropFilters(ruleId: string): void {
    for (const f of this.filters.get(ruleId) ?? []) {
      for (const r of f.l7) this.cells.addL7(f.peer.direction, r.l4, r.parser, -1);
      this.cells.addMany(f.peer.direction, this.env.cache.selected(f.selector.key), f.l4, f.peer.deny, -1);
      this.env.onFilter(f, false);
      this.env.cache.removeSelector(f.selector.key);
    }
    this.filters.delete(ruleId);
  }

  private contribute(f: Filter, identity: number, sign: number): void {
    this.cells.add(f.peer.direction, identity, f.l4, f.peer.deny, sign);
  }

  /** A direction not in default deny allows everything (deny entries still apply). */
  private syncAllowAll(d: Direction): void {
    const want = !this.enforced(d);
    if (want === this.allowAll[d]) return;
    this.allowAll[d] = want;
    this.cells.add(d, ANY_IDENTITY, ALLOW_ALL, false, want ? 1 : -1);
  }
}
