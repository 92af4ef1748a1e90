// The selector cache: every selector in use → the identities it selects, kept up to date
// incrementally as identities come and go. Both directions are indexed by `key=value` so that
// neither a new identity nor a new selector scans everything.
import type { IdentityInfo } from './identities.js';
import { ANY_IDENTITY } from './identities.js';
import { selects, type Requirement, type Selector } from './selector.js';

/** One selection change: `identity` joined (`added`) or left the selection of `selector`. */
export interface SelectionChange {
  readonly selector: string;
  readonly identity: number;
  readonly added: boolean;
}

interface Cached {
  readonly sel: Selector;
  readonly selected: Set<number>;
  refs: number;
}

const EMPTY: ReadonlySet<number> = new Set();

function labelKeys(info: IdentityInfo): string[] {
  return [...info.labels].map((l) => `${l.key}=${l.value}`);
}

export class SelectorCache {
  private readonly identities = new Map<number, IdentityInfo>();
  /** `key=value` (any source) → identities carrying it. */
  private readonly identityIndex = new Map<string, Set<number>>();
  /** Identities that stand for prefixes (CIDR and world): the only ones CIDR selectors test. */
  private readonly prefixed = new Set<number>();
  private readonly selectors = new Map<string, Cached>();
  /** `key=value` → label selectors anchored on it. */
  private readonly anchorIndex = new Map<string, Set<string>>();
  /** Label selectors without an anchor, and CIDR selectors: tested against every new identity. */
  private readonly scanLabels = new Set<string>();
  private readonly scanCidr = new Set<string>();

  get identityCount(): number {
    return this.identities.size;
  }
  get selectorCount(): number {
    return this.selectors.size;
  }

  identity(id: number): IdentityInfo | undefined {
    return this.identities.get(id);
  }

  allIdentities(): IterableIterator<IdentityInfo> {
    return this.identities.values();
  }

  /** Identities selected by a cached selector; the wildcard selects {0} ("any"). */
  selected(key: string): ReadonlySet<number> {
    return this.selectors.get(key)?.selected ?? EMPTY;
  }

  /** Takes a reference on a selector, computing its selection the first time. */
  addSelector(sel: Selector): ReadonlySet<number> {
    const have = this.selectors.get(sel.key);
    if (have) {
      have.refs++;
      return have.selected;
    }
    const selected = new Set<number>();
    if (sel.kind === 'wildcard') selected.add(ANY_IDENTITY);
    else if (sel.kind === 'labels') {
      const seed = this.smallestIn(sel.reqs);
      if (seed) {
        for (const a of seed) {
          for (const id of this.identityIndex.get(a) ?? []) {
            const info = this.identities.get(id);
            if (info && selects(sel, info)) selected.add(id);
          }
        }
      } else {
        for (const info of this.identities.values()) if (selects(sel, info)) selected.add(info.id);
      }
      if (sel.anchors) for (const a of sel.anchors) addTo(this.anchorIndex, a, sel.key);
      else this.scanLabels.add(sel.key);
    } else if (sel.kind === 'cidr') {
      for (const id of this.prefixed) {
        const info = this.identities.get(id);
        if (info && selects(sel, info)) selected.add(id);
      }
      this.scanCidr.add(sel.key);
    }
    this.selectors.set(sel.key, { sel, selected, refs: 1 });
    return selected;
  }

  /**
   * The index keys of the `In` requirement that names the fewest identities now (every selected
   * identity carries one of them): where a new selector's selection is computed from.
   */
  private smallestIn(reqs: readonly Requirement[]): string[] | undefined {
    let best: string[] | undefined;
    let bestSize = Infinity;
    for (const r of reqs) {
      if (r.op !== 'In' || r.values.length === 0) continue;
      const keys = r.values.map((v) => `${r.key}=${v}`);
      let size = 0;
      for (const k of keys) size += this.identityIndex.get(k)?.size ?? 0;
      if (size < bestSize) {
        best = keys;
        bestSize = size;
      }
    }
    return best;
  }

  /** Drops a reference; the selector is forgotten with its last one. */
  removeSelector(key: string): void {
    const have = this.selectors.get(key);
    if (!have || --have.refs > 0) return;
    this.selectors.delete(key);
    const sel = have.sel;
    if (sel.kind === 'labels') {
      if (sel.anchors) for (const a of sel.anchors) removeFrom(this.anchorIndex, a, key);
      else this.scanLabels.delete(key);
    } else if (sel.kind === 'cidr') this.scanCidr.delete(key);
  }

  private matchingSelectors(info: IdentityInfo): Set<string> {
    const out = new Set<string>();
    const test = (key: string) => {
      const c = this.selectors.get(key);
      if (c && selects(c.sel, info)) out.add(key);
    };
    for (const lk of labelKeys(info)) for (const key of this.anchorIndex.get(lk) ?? []) test(key);
    for (const key of this.scanLabels) test(key);
    if (info.prefixes.length > 0) for (const key of this.scanCidr) test(key);
    return out;
  }

  /** Adds or relabels an identity; returns the selections it joined and left. */
  upsertIdentity(info: IdentityInfo): SelectionChange[] {
    const before = this.identities.has(info.id) ? this.matchingSelectorsOf(info.id) : new Set<string>();
    if (this.identities.has(info.id)) this.unindex(info.id);
    this.identities.set(info.id, info);
    for (const lk of labelKeys(info)) addTo(this.identityIndex, lk, info.id);
    if (info.prefixes.length > 0) this.prefixed.add(info.id);
    const after = this.matchingSelectors(info);
    const changes: SelectionChange[] = [];
    for (const key of before) {
      if (after.has(key)) continue;
      this.selectors.get(key)?.selected.delete(info.id);
      changes.push({ selector: key, identity: info.id, added: false });
    }
    for (const key of after) {
      if (before.has(key)) continue;
      this.selectors.get(key)?.selected.add(info.id);
      changes.push({ selector: key, identity: info.id, added: true });
    }
    return changes;
  }

  /** Removes an identity; returns the selections it left. */
  removeIdentity(id: number): SelectionChange[] {
    if (!this.identities.has(id)) return [];
    const before = this.matchingSelectorsOf(id);
    this.unindex(id);
    this.identities.delete(id);
    const changes: SelectionChange[] = [];
    for (const key of before) {
      this.selectors.get(key)?.selected.delete(id);
      changes.push({ selector: key, identity: id, added: false });
    }
    return changes;
  }

  private matchingSelectorsOf(id: number): Set<string> {
    const info = this.identities.get(id);
    return info ? this.matchingSelectors(info) : new Set();
  }

  private unindex(id: number): void {
    const info = this.identities.get(id);
    if (!info) return;
    for (const lk of labelKeys(info)) removeFrom(this.identityIndex, lk, id);
    this.prefixed.delete(id);
  }
}

function addTo<K, V>(index: Map<K, Set<V>>, k: K, v: V): void {
  const s = index.get(k);
  if (s) s.add(v);
  else index.set(k, new Set([v]));
}

function removeFrom<K, V>(index: Map<K, Set<V>>, k: K, v: V): void {
  const s = index.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) index.delete(k);
}
