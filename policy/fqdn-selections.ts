// What each `toFQDNs` selector selects: the IPs learned for the names it matches. The DNS proxy's
// cache reports names gaining and losing IPs; this turns those deltas into per-selector deltas, so
// the agent can give each newly selected IP a CIDR identity (a /32 or /128, upstream's "IPs learned
// this way get node-local CIDR identities", pkg/fqdn/namemanager) before the DNS answer is
// released, and drop it when the last name holding it expires. Pure: no clock, no I/O.
import { compileFqdnSelector, toFqdn, type FqdnSelector } from './fqdn-selector.js';

/** A name gained (`ipsAdded`) or lost (`ipsExpired`) IPs: the FQDN cache's event, structurally. */
export type NameDelta = { type: 'ipsAdded' | 'ipsExpired'; name: string; ips: readonly string[] };

/** A selector (by its canonical key) now selects `added` and no longer selects `removed`. */
export interface SelectionDelta {
  selector: string;
  added: string[];
  removed: string[];
}

interface Selection {
  matches: (name: string) => boolean;
  /** IP → how many matching names hold it */
  ips: Map<string, number>;
  /** how many policies use the selector */
  refs: number;
}

export class FqdnSelections {
  private readonly names = new Map<string, Set<string>>();
  private readonly selections = new Map<string, Selection>();

  /**
   * Takes a reference on a selector; returns its key and the IPs it selects from names already
   * known (a selector added after the lookup selects at once), or the reason it is invalid.
   */
  add(selector: FqdnSelector): { ok: true; key: string; ips: string[] } | { ok: false; reason: string } {
    const c = compileFqdnSelector(selector);
    if (!c.ok) return c;
    const have = this.selections.get(c.key);
    if (have) {
      have.refs++;
      return { ok: true, key: c.key, ips: [...have.ips.keys()].sort() };
    }
    const sel: Selection = { matches: c.matches, ips: new Map(), refs: 1 };
    for (const [name, ips] of this.names) {
      if (!sel.matches(name)) continue;
      for (const ip of ips) sel.ips.set(ip, (sel.ips.get(ip) ?? 0) + 1);
    }
    this.selections.set(c.key, sel);
    return { ok: true, key: c.key, ips: [...sel.ips.keys()].sort() };
  }

  /** Drops a reference; when it was the last, returns the IPs the selector no longer selects. */
  remove(key: string): string[] {
    const sel = this.selections.get(key);
    if (!sel) return [];
    if (--sel.refs > 0) return [];
    this.selections.delete(key);
    return [...sel.ips.keys()].sort();
  }

  /** The IPs a selector selects now, sorted. */
  selected(key: string): string[] {
    return [...(this.selections.get(key)?.ips.keys() ?? [])].sort();
  }

  /** Applies one name delta; returns the selectors whose selection changed. */
  apply(delta: NameDelta): SelectionDelta[] {
    const name = toFqdn(delta.name);
    let held = this.names.get(name);
    const changed: string[] = [];
    if (delta.type === 'ipsAdded') {
      if (!held) this.names.set(name, (held = new Set()));
      for (const ip of delta.ips) {
        if (held.has(ip)) continue;
        held.add(ip);
        changed.push(ip);
      }
    } else if (held) {
      for (const ip of delta.ips) if (held.delete(ip)) changed.push(ip);
      if (held.size === 0) this.names.delete(name);
    }
    if (changed.length === 0) return [];
    const out: SelectionDelta[] = [];
    for (const [key, sel] of this.selections) {
      if (!sel.matches(name)) continue;
      const d: SelectionDelta = { selector: key, added: [], removed: [] };
      for (const ip of changed) {
        const n = sel.ips.get(ip) ?? 0;
        if (delta.type === 'ipsAdded') {
          sel.ips.set(ip, n + 1);
          if (n === 0) d.added.push(ip);
        } else if (n <= 1) {
          sel.ips.delete(ip);
          d.removed.push(ip);
        } else {
          sel.ips.set(ip, n - 1);
        }
      }
      if (d.added.length || d.removed.length) out.push(d);
    }
    return out;
  }
}
