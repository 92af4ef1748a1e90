// The operator's identity GC in kvstore mode (upstream's allocator GC): a master key `id/<ID>` that
// no node references (no `value/<labels>/…` key) is marked in one round and deleted in the next
// if it did not change meanwhile (a create-revision-safe delete on its mod revision); a reference
// appearing in between unmarks it. Ids outside the cluster's range are left alone.
import type { Kvstore } from './client.js';
import { FIRST_CLUSTER_IDENTITY, LAST_CLUSTER_IDENTITY } from './allocator.js';
import { IDENTITY_ID_PREFIX, IDENTITY_VALUE_PREFIX, idOfKey, labelsOfValueKey } from './keys.js';

export interface IdentityGcRound {
  /** Master keys seen. */
  identities: number;
  /** Newly marked this round. */
  marked: number;
  /** Deleted this round (marked in the previous one, unchanged, still unreferenced). */
  deleted: number;
}

export class KvIdentityGc {
  /** id → mod revision when it was marked. */
  private readonly marked = new Map<number, number>();
  private readonly clusterBits: number;

  constructor(
    private readonly kv: Kvstore,
    clusterId = 0,
  ) {
    this.clusterBits = clusterId << 16;
  }

  private inRange(id: number): boolean {
    const local = id & 0xffff;
    return (id & 0xff0000) === this.clusterBits && local >= FIRST_CLUSTER_IDENTITY && local <= LAST_CLUSTER_IDENTITY;
  }

  async round(): Promise<IdentityGcRound> {
    const masters = await this.kv.list(IDENTITY_ID_PREFIX);
    const refs = await this.kv.list(IDENTITY_VALUE_PREFIX);
    const used = new Set<string>();
    for (const r of refs.entries) {
      const labels = labelsOfValueKey(r.key);
      if (labels !== undefined) used.add(`${r.value}\u0000${labels}`);
    }
    let marked = 0;
    let deleted = 0;
    const seen = new Set<number>();
    for (const m of masters.entries) {
      const id = idOfKey(m.key);
      if (id === undefined || !this.inRange(id)) continue;
      seen.add(id);
      if (used.has(`${id}\u0000${m.value}`)) {
        this.marked.delete(id);
        continue;
      }
      const at = this.marked.get(id);
      if (at === undefined || at !== m.modRevision) {
        this.marked.set(id, m.modRevision);
        marked++;
        continue;
      }
      if (await this.kv.deleteIfUnchanged(m.key, m.modRevision)) deleted++;
      this.marked.delete(id);
    }
    for (const id of [...this.marked.keys()]) if (!seen.has(id)) this.marked.delete(id);
    return { identities: seen.size, marked, deleted };
  }
}
