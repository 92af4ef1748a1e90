// The engine's rules, indexed by their subject's anchors (`key=value` labels every subject they
// select must carry), so that a new resolved policy tests only the rules likely to select it.
import type { IdentityInfo } from './identities.js';
import type { PolicyRule } from './rule-model.js';

export class RuleIndex {
  private readonly rules = new Map<string, PolicyRule>();
  /** Subject anchor (`key=value`) → rules, so a new resolved policy tests only likely rules. */
  private readonly byAnchor = new Map<string, Set<PolicyRule>>();
  private readonly unanchored = new Set<PolicyRule>();
  private readonly order = new Map<string, number>();
  private seq = 0;

  add(r: PolicyRule): void {
    this.rules.set(r.id, r);
    this.order.set(r.id, this.seq++);
    this.index(r, true);
  }

  remove(r: PolicyRule): void {
    this.rules.delete(r.id);
    this.order.delete(r.id);
    this.index(r, false);
  }

  values(): IterableIterator<PolicyRule> {
    return this.rules.values();
  }

  /** Rules that may select this identity (a superset; ResolvedPolicy checks each). */
  candidates(info: IdentityInfo): PolicyRule[] {
    const out = new Set<PolicyRule>(this.unanchored);
    for (const l of info.labels) for (const r of this.byAnchor.get(`${l.key}=${l.value}`) ?? []) out.add(r);
    // Keep the order rules arrived in, so results do not depend on label order.
    return [...out].sort((a, b) => (this.order.get(a.id) ?? 0) - (this.order.get(b.id) ?? 0));
  }

  private index(r: PolicyRule, add: boolean): void {
    const anchors = r.subject.kind === 'labels' ? r.subject.anchors : undefined;
    if (!anchors) {
      if (add) this.unanchored.add(r);
      else this.unanchored.delete(r);
      return;
    }
    for (const a of anchors) {
      let set = this.byAnchor.get(a);
      if (add) {
        if (!set) this.byAnchor.set(a, (set = new Set()));
        set.add(r);
      } else if (set) {
        set.delete(r);
        if (set.size === 0) this.byAnchor.delete(a);
      }
    }
  }
}
