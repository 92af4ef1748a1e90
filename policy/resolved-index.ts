// The engine's resolved policies (one per identity × named ports, shared by its endpoints), indexed
// by their subject's labels so that a new rule visits only the resolved policies it may select.
import type { ResolvedPolicy } from './resolve.js';
import type { PolicyRule } from './rule-model.js';

export interface Resolved {
  readonly policy: ResolvedPolicy;
  readonly endpoints: Set<number>;
  /** Creation order: candidates are visited in it, so outputs do not depend on index order. */
  readonly seq: number;
}

export class ResolvedIndex {
  private readonly byKey = new Map<string, Resolved>();
  /** Subject label (`key=value`, any source) → resolved policies whose subject carries it, so a new rule tests only likely ones. */
  private readonly byLabel = new Map<string, Set<Resolved>>();
  private seq = 0;

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): Resolved | undefined {
    return this.byKey.get(key);
  }

  values(): IterableIterator<Resolved> {
    return this.byKey.values();
  }

  entries(): IterableIterator<[string, Resolved]> {
    return this.byKey.entries();
  }

  /** A new entry for `policy` (no endpoints yet), in creation order. */
  create(key: string, policy: ResolvedPolicy): Resolved {
    const r: Resolved = { policy, endpoints: new Set(), seq: this.seq++ };
    this.set(key, r);
    return r;
  }

  delete(key: string): void {
    this.set(key, undefined);
  }

  /** Resolved policies a rule may select (a superset, in creation order): those carrying one of its subject's anchors. */
  forRule(r: PolicyRule): Iterable<Resolved> {
    const anchors = r.subject.kind === 'labels' ? r.subject.anchors : undefined;
    if (!anchors) return this.byKey.values();
    const out: Resolved[] = [];
    for (const a of anchors) for (const rp of this.byLabel.get(a) ?? []) out.push(rp);
    if (anchors.length > 1) return [...new Set(out)].sort((a, b) => a.seq - b.seq);
    return out.sort((a, b) => a.seq - b.seq);
  }

  private set(key: string, r: Resolved | undefined): void {
    const old = this.byKey.get(key);
    if (old) for (const l of old.policy.subject.labels) removeFrom(this.byLabel, `${l.key}=${l.value}`, old);
    if (!r) {
      this.byKey.delete(key);
      return;
    }
    this.byKey.set(key, r);
    for (const l of r.policy.subject.labels) {
      const k = `${l.key}=${l.value}`;
      let set = this.byLabel.get(k);
      if (!set) this.byLabel.set(k, (set = new Set()));
      set.add(r);
    }
  }
}

function removeFrom<K, V>(index: Map<K, Set<V>>, k: K, v: V): void {
  const s = index.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) index.delete(k);
}
