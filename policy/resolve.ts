// A resolved policy: the rules that select one identity turned into map entries, shared by every
// endpoint with that identity (and the same named ports). It keeps, per (direction, peer) group,
// how many rule × peer × port tuples allow or deny each key, so that a peer identity joining or
// leaving a selection, or one rule coming or going, touches only the groups it names.
import { ALLOW_ALL_KEY, covers, groupNumber, l4Number, type EntryDelta, type L4Key, type MapEntry } from './entries.js';
import type { IdentityInfo } from './identities.js';
import { ANY_IDENTITY, ReservedIdentity } from './identities.js';
import { resolveNamed, resolveNamedCluster, type ClusterNamedPorts, type NamedPorts, type PortPrefix, type PortSpec } from './ports.js';
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
  readonly l4: readonly NumberedKey[];
}

/** An L4 key with its number (the contribution map key). */
export interface NumberedKey extends L4Key {
  readonly num: number;
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

/**
 * One (direction, peer identity) group: L4 key number → packed cell. A cell packs how many
 * rule × peer × port tuples allow and deny the key and what the map holds for it, in one
 * number, because a cluster has millions of them: `((deny * 2^20 + allow) * 4) + state`,
 * state 0 = no entry, 1 = allow, 2 = deny.
 */
type Group = number[];
// A group is a flat array of (key, cell) pairs: groups are tiny and there are millions of them,
// so a linear scan beats a Map in both time and memory.

function cellIndex(g: Group, num: number): number {
  for (let i = 0; i < g.length; i += 2) if (g[i] === num) return i;
  return -1;
}

function addToCell(g: Group, num: number, step: number): void {
  const i = cellIndex(g, num);
  if (i < 0) g.push(num, step);
  else g[i + 1] = (g[i + 1] ?? 0) + step;
}

const COUNT = 1 << 20;
const cellAllow = (v: number): number => Math.floor(v / 4) % COUNT;
const cellDeny = (v: number): number => Math.floor(v / 4 / COUNT);
const cellState = (v: number): number => v % 4;
const cell = (allow: number, deny: number, state: number): number => (deny * COUNT + allow) * 4 + state;

const groupDirection = (gk: number): Direction => (gk % 2 === 1 ? 'egress' : 'ingress');
const groupIdentity = (gk: number): number => Math.floor(gk / 2);
/** L4 keys and port prefixes are interned: millions of entries share a few thousand of them. */
const interned = new Map<number, { key: L4Key; prefix: PortPrefix }>();
function internOf(num: number): { key: L4Key; prefix: PortPrefix } {
  let i = interned.get(num);
  if (!i) {
    const port = (num >>> 5) & 0xffff;
    const len = num & 31;
    i = { key: { proto: num >>> 21, port, len }, prefix: { port, prefixLen: len } };
    interned.set(num, i);
  }
  return i;
}
const keyOf = (num: number): L4Key => internOf(num).key;

function entryOf(gk: number, num: number, state: number): MapEntry {
  return { identity: groupIdentity(gk), direction: groupDirection(gk), protocol: num >>> 21, portPrefix: internOf(num).prefix, verdict: state === 2 ? 'deny' : 'allow' };
}

function l4Keys(specs: readonly PortSpec[]): NumberedKey[] {
  const seen = new Map<number, NumberedKey>();
  for (const s of specs) {
    if (s.kind !== 'numeric') continue;
    for (const p of s.prefixes) {
      const num = l4Number(s.proto, p.port, p.prefixLen);
      seen.set(num, { proto: s.proto, port: p.port, len: p.prefixLen, num });
    }
  }
  return [...seen.values()];
}

const ALLOW_ALL: NumberedKey = { ...ALLOW_ALL_KEY, num: l4Number(ALLOW_ALL_KEY.proto, ALLOW_ALL_KEY.port, ALLOW_ALL_KEY.len) };

export class ResolvedPolicy {
  readonly rules = new Map<string, PolicyRule>();
  private readonly filters = new Map<string, Filter[]>();
  private requires: Record<Direction, Requirement[]> = { ingress: [], egress: [] };
  private readonly enforcing: Record<Direction, number> = { ingress: 0, egress: 0 };
  private readonly allowAll: Record<Direction, boolean> = { ingress: false, egress: false };
  private readonly groups = new Map<number, Group>();
  private touched = new Set<number>();
  /** The map as a list, kept until the next change (endpoints sharing the policy reuse it). */
  private entryList: readonly MapEntry[] | undefined = [];
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
    for (const [gk, g] of this.groups) {
      for (let i = 1; i < g.length; i += 2) g[i] = cell(0, 0, cellState(g[i] ?? 0));
      this.touched.add(gk);
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
      this.bump(this.group('ingress', ReservedIdentity.host), ALLOW_ALL, false, 1);
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
    const { added, removed } = this.pending;
    for (const gk of this.touched) {
      const g = this.groups.get(gk);
      if (!g) continue;
      let denies: L4Key[] | undefined;
      for (let i = 0; i < g.length; i += 2) if (cellDeny(g[i + 1] ?? 0) > 0) (denies ??= []).push(keyOf(g[i] ?? 0));
      let w = 0;
      for (let i = 0; i < g.length; i += 2) {
        const k = g[i] ?? 0;
        const v = g[i + 1] ?? 0;
        const allow = cellAllow(v);
        const deny = cellDeny(v);
        const old = cellState(v);
        const state = deny > 0 ? 2 : allow > 0 && !(denies && denies.some((d) => covers(d, keyOf(k)))) ? 1 : 0;
        if (state !== old) {
          if (old !== 0) removed.push(entryOf(gk, k, old));
          if (state !== 0) added.push(entryOf(gk, k, state));
        }
        if (allow === 0 && deny === 0) continue;
        g[w++] = k;
        g[w++] = cell(allow, deny, state);
      }
      g.length = w;
      if (g.length === 0) this.groups.delete(gk);
    }
    this.touched = new Set();
    this.pending = { added: [], removed: [] };
    if (added.length + removed.length > 0) this.entryList = this.entryList?.length === 0 && removed.length === 0 ? added : undefined;
    return { added, removed };
  }

  /** Every entry of the map, unsorted; shared until the next change, so never mutate it. */
  entries(): readonly MapEntry[] {
    if (this.entryList) return this.entryList;
    const out: MapEntry[] = [];
    for (const [gk, g] of this.groups) {
      for (let i = 0; i < g.length; i += 2) {
        const state = cellState(g[i + 1] ?? 0);
        if (state !== 0) out.push(entryOf(gk, g[i] ?? 0, state));
      }
    }
    this.entryList = out;
    return out;
  }

  get entryCount(): number {
    let n = 0;
    for (const g of this.groups.values()) for (let i = 1; i < g.length; i += 2) if (cellState(g[i] ?? 0) !== 0) n++;
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
    const gk = groupNumber(direction, identity);
    let g = this.groups.get(gk);
    if (!g) {
      g = [];
      this.groups.set(gk, g);
    }
    this.touched.add(gk);
    return g;
  }

  private bump(g: Group, key: NumberedKey, deny: boolean, sign: number): void {
    addToCell(g, key.num, sign * (deny ? COUNT * 4 : 4));
  }

  private contribute(f: Filter, identity: number, sign: number): void {
    const g = this.group(f.peer.direction, identity);
    const step = sign * (f.peer.deny ? COUNT * 4 : 4);
    for (const key of f.l4) addToCell(g, key.num, step);
  }

  /** A direction not in default deny allows everything (deny entries still apply). */
  private syncAllowAll(d: Direction): void {
    const want = !this.enforced(d);
    if (want === this.allowAll[d]) return;
    this.allowAll[d] = want;
    this.bump(this.group(d, ANY_IDENTITY), ALLOW_ALL, false, want ? 1 : -1);
  }
}
