// toFQDNs peers as identities: every IP a toFQDNs selector selects gets a node-local CIDR
// identity (a /32 or /128, upstream: "IPs learned this way get node-local CIDR identities"),
// labelled `fqdn:<selector>` for each selector selecting it, as upstream's namemanager labels
// them; a toFQDNs peer is then a plain label selector on that label, so the selector cache, the
// resolved policies, trace and the from-scratch recomputation need nothing FQDN-specific. The
// identity's number stays while its labels change (no ipcache rewrite when a selector comes or
// goes); it is released when no selector selects the IP and no toCIDR names the prefix.
import { parsePrefix, type Prefix } from '../crds/cidr.js';
import type { CidrIdentityAllocator } from './cidr-identities.js';
import { FqdnSelections, type NameDelta, type SelectionDelta } from './fqdn-selections.js';
import { compileFqdnSelector, type FqdnSelector } from './fqdn-selector.js';
import type { IdentityInfo } from './identities.js';
import { prefixText } from './identities.js';
import { singleLabel, type Selector } from './selector.js';

/** The label source of the labels toFQDNs selectors put on the identities of the IPs they select. */
export const FQDN_LABEL_SOURCE = 'fqdn';

/** The peer selector of one toFQDNs entry (`key` from compileFqdnSelector): its label. */
export function fqdnPeerSelector(key: string): Selector {
  return singleLabel(FQDN_LABEL_SOURCE, key);
}

/** What the engine must do with an identity after FQDN changes. */
export type FqdnIdentityChange =
  | { readonly type: 'added'; readonly info: IdentityInfo; readonly prefix: string }
  | { readonly type: 'relabelled'; readonly info: IdentityInfo; readonly prefix: string }
  | { readonly type: 'removed'; readonly info: IdentityInfo; readonly prefix: string }
  | { readonly type: 'exhausted'; readonly ip: string }
  | { readonly type: 'bad-ip'; readonly ip: string };

interface Held {
  readonly prefix: Prefix;
  /** the selector keys selecting this IP: its `fqdn:` labels */
  readonly selectors: Set<string>;
}

export class FqdnIdentities {
  private readonly selections = new FqdnSelections();
  /** IP (as learned) → what selects it; present only while a selector does (the allocator holds one reference). */
  private readonly held = new Map<string, Held>();
  /** IPs whose selectors changed in this batch */
  private readonly touched = new Map<string, Set<string>>();

  constructor(private readonly cidr: CidrIdentityAllocator) {}

  /** Takes references on a policy's toFQDNs selectors; a selector new here selects the known IPs at once. */
  addSelectors(selectors: readonly FqdnSelector[]): FqdnIdentityChange[] {
    for (const s of selectors) {
      const r = this.selections.add(s);
      if (r.ok) this.note({ selector: r.key, added: r.ips, removed: [] });
    }
    return this.commit();
  }

  /** Drops the references a policy took; a selector's IPs lose its label with its last reference. */
  removeSelectors(selectors: readonly FqdnSelector[]): FqdnIdentityChange[] {
    for (const s of selectors) {
      const c = compileFqdnSelector(s);
      if (c.ok) this.note({ selector: c.key, added: [], removed: this.selections.remove(c.key) });
    }
    return this.commit();
  }

  /** Applies the FQDN cache's name deltas (names gaining or losing IPs). */
  applyDeltas(deltas: readonly NameDelta[]): FqdnIdentityChange[] {
    const bad: FqdnIdentityChange[] = [];
    for (const d of deltas) {
      // one spelling per address (2001:DB8:0::1 and 2001:db8::1 are one IP, one identity)
      const ips: string[] = [];
      for (const ip of d.ips) {
        const p = hostPrefix(ip);
        if (p) ips.push(addressText(p));
        else bad.push({ type: 'bad-ip', ip });
      }
      for (const sd of this.selections.apply({ type: d.type, name: d.name, ips })) this.note(sd);
    }
    return [...bad, ...this.commit()];
  }

  /** The IPs a selector (by its canonical key) selects now, sorted. */
  selected(key: string): string[] {
    return this.selections.selected(key);
  }

  private note(d: SelectionDelta): void {
    for (const ip of d.added) this.touch(ip).add(d.selector);
    for (const ip of d.removed) this.touch(ip).delete(d.selector);
  }

  /** The selector set an IP will have at the end of the batch (starting from what it has now). */
  private touch(ip: string): Set<string> {
    let s = this.touched.get(ip);
    if (!s) this.touched.set(ip, (s = new Set(this.held.get(ip)?.selectors)));
    return s;
  }

  /** One relabel per IP per batch, however many selectors changed for it. */
  private commit(): FqdnIdentityChange[] {
    const out: FqdnIdentityChange[] = [];
    for (const [ip, selectors] of this.touched) {
      const had = this.held.get(ip);
      if (had && sameSet(had.selectors, selectors)) continue;
      if (!had) {
        if (selectors.size === 0) continue;
        const prefix = hostPrefix(ip);
        if (!prefix) {
          out.push({ type: 'bad-ip', ip });
          continue;
        }
        const got = this.cidr.acquire(prefix);
        if (!got) {
          out.push({ type: 'exhausted', ip });
          continue;
        }
        this.held.set(ip, { prefix, selectors });
        const info = this.cidr.relabel(prefix, labelsOf(selectors))!;
        const text = prefixText(prefix);
        out.push(got.created ? { type: 'added', info, prefix: text } : { type: 'relabelled', info, prefix: text });
        continue;
      }
      const prefix = had.prefix;
      if (selectors.size > 0) {
        this.held.set(ip, { prefix, selectors });
        out.push({
          type: 'relabelled',
          info: this.cidr.relabel(prefix, labelsOf(selectors))!,
          prefix: prefixText(prefix),
        });
        continue;
      }
      // No selector left: the identity loses its fqdn labels first (a toCIDR may keep it), then our reference.
      this.held.delete(ip);
      const plain = this.cidr.relabel(prefix, [])!;
      const gone = this.cidr.release(prefix);
      out.push(
        gone
          ? { type: 'removed', info: gone, prefix: prefixText(prefix) }
          : { type: 'relabelled', info: plain, prefix: prefixText(prefix) },
      );
    }
    this.touched.clear();
    return out;
  }
}

/** The host prefix of an IP (/32 or /128), undefined when it is not an address. */
function hostPrefix(ip: string): Prefix | undefined {
  if (ip.includes('/')) return undefined;
  return parsePrefix(ip);
}

/** The canonical text of a host prefix's address. */
function addressText(p: Prefix): string {
  const t = prefixText(p);
  return t.slice(0, t.lastIndexOf('/'));
}

function labelsOf(selectors: ReadonlySet<string>): { source: string; key: string; value: string }[] {
  return [...selectors].sort().map((key) => ({ source: FQDN_LABEL_SOURCE, key, value: '' }));
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
