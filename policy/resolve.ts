// A resolved policy: the rules that select one identity turned into map entries, shared by every
// endpoint with that identity (and the same named ports). It keeps, per (direction, peer) group,
// how many rule × peer × port tuples allow or deny each key, so that a peer identity joining or
// leaving a selection, or one rule coming or going, touches only the groups it names.
import {
  ALLOW_ALL_KEY,
  groupText,
  l4Text,
  makeEntry,
  resolveGroup,
  type Contribution,
  type EntryDelta,
  type L4Key,
  type MapEntry,
  type Verdict,
} from './entries.js';
import type { IdentityInfo } from './identities.js';
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
}

/** One peer selector of one peer rule, with its ports resolved: the unit of contribution. */
export interface Filter {
  readonly policy: ResolvedPolicy;
  readonly rule: PolicyRule;
  readonly peer: PeerRule;
  readonly selector: Selector;
  readonly l4: readonly L4Key[];
}

/** Reserved identities that are never a local endpoint, so never a policy subject. */
const NOT_SUBJECTS = ['world', 'world-ipv4', 'world-ipv6', 'remote-node', 'kube-apiserver', 'unmanaged'];

/** Can this identity be the subject of a rule (an endpoint on some node)? CIDRs and world cannot. */
export function canBeSubject(info: IdentityInfo): boolean {
  if (info.labels.has('reserved', 'host')) return true;
  return info.prefixes.length === 0 && !NOT_SUBJECTS.some((n) => info.labels.has('reserved', n));
}

/** Does a rule apply to this identity? Host-firewall rules apply to the host identity only. */
export function ruleSelects(rule: PolicyRule, subject: IdentityInfo): boolean {
  if (!canBeSubject(subject)) return false;
  const isHost = subject.labels.has('reserved', 'host');
  return rule.node === isHost && selects(rule.subject, subject);
}

interface Group {
  readonly direction: Direction;
  readonly identity: number;
  readonly contribs: Map<string, Contribution>;
  final: Map<string, { key: L4Key; verdict: Verdict }>;
}

function l4Keys(specs: readonly PortSpec[]): L4Key[] {
  const seen = new Map<string, L4Key>();
  for (const s of specs) {
    if (s.kind !== 'numeric') continue;
    for (const p of s.prefixes) seen.set(l4Text(s.proto, p.port, p.prefixLen), { proto: s.proto, port: p.port, len: p.prefixLen });
  }
  return [...seen.values()];
}

export class ResolvedPolicy {
  readonly rules = new Map<string, PolicyRule>();
  private readonly filters = new Map<string, Filter[]>();
  private requires: Record<Direction, Requirement[]> = { ingress: [], egress: [] };
  private readonly enforcing: Record<Direction, number> = { ingress: 0, egress: 0 };
  private readonly allowAll: Record<Direction, boolean> = { ingress: false, egress: false };
  private readonly groups = new Map<string, Group>();
  private touched = new Set<string>();
  private pending: { added: MapEntry[]; removed: MapEntry[] } = { added: [], removed: [] };

  constructor(
    readonly key: string,
    readonly subject: IdentityInfo,
    readonly namedPorts: NamedPorts | undefined,
    private readonly env: ResolveEnv,
  ) {}

  /** Builds from scratch with these rules (those that select the subject are kept). */
  rebuild(rules: Iterable<PolicyRule>): EntryDelta {
    for (const id of [...this.filters.keys()]) this.dropFilters(id);
    this.rules.clear();
    for (const g of this.groups.values()) {
      for (const c of g.contribs.values()) c.allow = c.deny = 0;
      this.touched.add(groupText(g.direction, g.identity));
    }
    this.enforcing.ingress = this.enforcing.egress = 0;
    for (const r of rules) if (ruleSelects(r, this.subject)) this.rules.set(r.id, r);
    this.requires = this.collectRequires();
    for (const r of this.rules.values()) this.addRuleFilters(r);
    for (const d of DIRECTIONS) {
      this.allowAll[d] = false;
      this.syncAllowAll(d);
    }
    if (this.env.allowLocalhost && !this.subject.labels.has('reserved', 'host')) {
      this.bump('ingress', ReservedIdentity.host, ALLOW_ALL_KEY, false, 1);
    }
    return this.flush();
  }

  /** Adds a rule that selects the subject; a rule with requirements rebuilds everything. */
  addRule(rule: PolicyRule): EntryDelta {
    if (rule.requires.ingress.length + rule.requires.egress.length > 0) return this.rebuild([...this.rules.values(), rule]);
    this.rules.set(rule.id, rule);
    this.addRuleFilters(rule);
    for (const d of DIRECTIONS) this.syncAllowAll(d);
    return this.flush();
  }

  removeRule(ruleId: string): EntryDelta {
    const rule = this.rules.get(ruleId);
    if (!rule) return { added: [], removed: [] };
    if (rule.requires.ingress.length + rule.requires.egress.length > 0) {
      this.rules.delete(ruleId);
      return this.rebuild([...this.rules.values()]);
    }
    this.rules.delete(ruleId);
    this.dropFilters(ruleId);
    for (const d of DIRECTIONS) if (rule.defaultDeny[d]) this.enforcing[d]--;
    for (const d of DIRECTIONS) this.syncAllowAll(d);
    return this.flush();
  }

  /** A peer identity joined or left the selection of a filter's selector. */
  selectionChanged(filter: Filter, identity: number, added: boolean): void {
    this.contribute(filter, identity, added ? 1 : -1);
  }

  /** Applies pending contributions and returns the entries that changed. */
  flush(): EntryDelta {
    for (const gk of this.touched) {
      const g = this.groups.get(gk);
      if (!g) continue;
      const next = resolveGroup(g.contribs);
      for (const [k, v] of g.final) {
        const now = next.get(k);
        if (!now || now.verdict !== v.verdict) this.pending.removed.push(makeEntry(g.direction, g.identity, v.key, v.verdict));
      }
      for (const [k, v] of next) {
        const was = g.final.get(k);
        if (!was || was.verdict !== v.verdict) this.pending.added.push(makeEntry(g.direction, g.identity, v.key, v.verdict));
      }
      g.final = next;
      for (const [k, c] of g.contribs) if (c.allow === 0 && c.deny === 0) g.contribs.delete(k);
      if (g.contribs.size === 0) this.groups.delete(gk);
    }
    this.touched = new Set();
    const out = this.pending;
    this.pending = { added: [], removed: [] };
    return out;
  }

  /** Every entry of the map, unsorted. */
  entries(): MapEntry[] {
    const out: MapEntry[] = [];
    for (const g of this.groups.values()) for (const v of g.final.values()) out.push(makeEntry(g.direction, g.identity, v.key, v.verdict));
    return out;
  }

  get entryCount(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.final.size;
    return n;
  }

  enforced(direction: Direction): boolean {
    return this.env.mode === 'always' || (this.env.mode === 'default' && this.enforcing[direction] > 0);
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
      const specs = peer.ports.flatMap((s) =>
        peer.direction === 'ingress' ? resolveNamed(s, this.namedPorts) : resolveNamedCluster(s, this.env.clusterNamedPorts),
      );
      const l4 = l4Keys(specs);
      if (l4.length === 0) continue;
      const sels = [...peer.endpoints.map((s) => withRequirements(s, this.requires[peer.direction])), ...peer.others];
      for (const selector of sels) {
        if (selector.kind === 'none') continue;
        const f: Filter = { policy: this, rule, peer, selector, l4 };
        list.push(f);
        this.env.cache.addSelector(selector);
        this.env.onFilter(f, true);
        for (const id of this.env.cache.selected(selector.key)) this.contribute(f, id, 1);
      }
    }
    this.filters.set(rule.id, list);
  }

  private dropFilters(ruleId: string): void {
    for (const f of this.filters.get(ruleId) ?? []) {
      for (const id of this.env.cache.selected(f.selector.key)) this.contribute(f, id, -1);
      this.env.onFilter(f, false);
      this.env.cache.removeSelector(f.selector.key);
    }
    this.filters.delete(ruleId);
  }

  private group(direction: Direction, identity: number): Group {
    const gk = groupText(direction, identity);
    let g = this.groups.get(gk);
    if (!g) {
      g = { direction, identity, contribs: new Map(), final: new Map() };
      this.groups.set(gk, g);
    }
    this.touched.add(gk);
    return g;
  }

  private bump(direction: Direction, identity: number, key: L4Key, deny: boolean, sign: number): void {
    const g = this.group(direction, identity);
    const k = l4Text(key.proto, key.port, key.len);
    let c = g.contribs.get(k);
    if (!c) {
      c = { proto: key.proto, port: key.port, len: key.len, allow: 0, deny: 0 };
      g.contribs.set(k, c);
    }
    if (deny) c.deny += sign;
    else c.allow += sign;
  }

  private contribute(f: Filter, identity: number, sign: number): void {
    for (const key of f.l4) this.bump(f.peer.direction, identity, key, f.peer.deny, sign);
  }

  /** A direction not in default deny allows everything (deny entries still apply). */
  private syncAllowAll(d: Direction): void {
    const want = !this.enforced(d);
    if (want === this.allowAll[d]) return;
    this.allowAll[d] = want;
    this.bump(d, ANY_IDENTITY, ALLOW_ALL_KEY, false, want ? 1 : -1);
  }
}
