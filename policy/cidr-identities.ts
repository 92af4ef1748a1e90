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
import { LabelSet } from './labels.js';

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
    const labels = new LabelSet([
      { source: 'cidr', key: text, value: '' },
      { source: 'reserved', key: p.family === 4 ? 'world-ipv4' : 'world-ipv6', value: '' },
    ]);
    const info: IdentityInfo = { id, labels, prefixes: [p] };
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

  /** Prefix → identity, for the ipcache. */
  entries(): { prefix: string; identity: number }[] {
    return [...this.byPrefix]
      .map(([prefix, v]) => ({ prefix, identity: v.info.id }))
      .sort((a, b) => a.identity - b.identity);
  }
}
