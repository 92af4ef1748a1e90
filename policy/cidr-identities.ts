// The allocator of node-local CIDR identities (upstream pkg/identity/cache: identities with the local
// scope bit), reference counted per prefix a policy names.
import type { Prefix } from '../crds/cidr.js';
import {
  CIDR_IDENTITY_FIRST,
  CIDR_IDENTITY_LAST,
  normalizePrefix,
  prefixText,
  type IdentityInfo,
} from './identities.js';
import { LabelSet, type Label } from './labels.js';

/** The labels every CIDR identity carries: `cidr:<prefix>` and the world of its family. */
function baseLabels(p: Prefix, text: string): Label[] {
  return [
    { source: 'cidr', key: text, value: '' },
    { source: 'reserved', key: p.family === 4 ? 'world-ipv4' : 'world-ipv6', value: '' },
  ];
}

/**
 * Node-local CIDR identities: one per prefix named by a policy (cidr and except), reference
 * counted, numbered from `(1<<24)+1`. The agent writes prefix → identity into the ipcache.
 * Labels: `cidr:<prefix>` plus `reserved:world-ipv4`/`world-ipv6`, so `world` selects them.
 */
export class CidrIdentityAllocator {
  private readonly byPrefix = new Map<string, { info: IdentityInfo; refs: number }>();
  private readonly free: number[] = [];
  private next = CIDR_IDENTITY_FIRST;

  /** Takes a reference; returns the identity and whether it is new (undefined when exhausted). */
  acquire(prefix: Prefix): { info: IdentityInfo; created: boolean } | undefined {
    const p = normalizePrefix(prefix);
    const text = prefixText(p);
    const have = this.byPrefix.get(text);
    if (have) {
      have.refs++;
      return { info: have.info, created: false };
    }
    const id = this.free.pop() ?? (this.next <= CIDR_IDENTITY_LAST ? this.next++ : undefined);
    if (id === undefined) return undefined;
    const info: IdentityInfo = { id, labels: new LabelSet(baseLabels(p, text)), prefixes: [p] };
    this.byPrefix.set(text, { info, refs: 1 });
    return { info, created: true };
  }

  /** Drops a reference; returns the identity when it is released (last reference gone). */
  release(prefix: Prefix): IdentityInfo | undefined {
    const text = prefixText(normalizePrefix(prefix));
    const have = this.byPrefix.get(text);
    if (!have) return undefined;
    if (--have.refs > 0) return undefined;
    this.byPrefix.delete(text);
    this.free.push(have.info.id);
    return have.info;
  }

  /**
   * Gives a held prefix's identity its base labels plus `extra` (the `fqdn:` labels of the toFQDNs
   * selectors selecting a learned IP, as upstream labels FQDN identities); the number stays.
   * Returns the relabelled identity, undefined when the prefix is not held.
   */
  relabel(prefix: Prefix, extra: readonly Label[]): IdentityInfo | undefined {
    const p = normalizePrefix(prefix);
    const text = prefixText(p);
    const have = this.byPrefix.get(text);
    if (!have) return undefined;
    have.info = { id: have.info.id, labels: new LabelSet([...baseLabels(p, text), ...extra]), prefixes: [p] };
    return have.info;
  }

  /** The identity of a held prefix. */
  get(prefix: Prefix): IdentityInfo | undefined {
    return this.byPrefix.get(prefixText(normalizePrefix(prefix)))?.info;
  }

  /** Prefix → identity, for the ipcache. */
  entries(): { prefix: string; identity: number }[] {
    return [...this.byPrefix]
      .map(([prefix, v]) => ({ prefix, identity: v.info.id }))
      .sort((a, b) => a.identity - b.identity);
  }
}
