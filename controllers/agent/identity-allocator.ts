// Security identities as CiliumIdentity objects (identity-allocation-mode: crd). The numeric id
// is derived from the label set's hash and probed linearly on collision, so agents that meet the
// same labels at the same moment pick the same id: one creates the object, the others find it
// (AlreadyExists with equal labels) and reuse it. Existing identities are always reused. With a
// `cluster-id`, it fills bits 16–23 of every id (upstream's layout), so meshed clusters never
// allocate the same number.
import { createHash } from 'node:crypto';
import { isConflict, type KubeClient, type KubeObject, type Store } from '../framework/index.js';
import { CILIUM_IDENTITIES } from './resources.js';
import { AgentError, AgentErrorCode } from './errors.js';

export const FIRST_CLUSTER_IDENTITY = 256;
export const LAST_CLUSTER_IDENTITY = 65535;

export interface CiliumIdentityObject extends KubeObject {
  'security-labels'?: Record<string, string>;
}

/** The key of a label set: its sorted `source:key=value` list. */
export function labelsKey(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(';');
}

function firstCandidate(key: string): number {
  const h = createHash('sha256').update(key).digest().readUInt32BE(0);
  return FIRST_CLUSTER_IDENTITY + (h % (LAST_CLUSTER_IDENTITY - FIRST_CLUSTER_IDENTITY + 1));
}

/** k8s-sourced labels without their prefix: CiliumIdentity metadata.labels (for `kubectl get ciliumid -l`). */
function plainLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (!k.startsWith('k8s:')) continue;
    const key = k.slice(4);
    if (key.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(key.split('/').at(-1)!) && v.length <= 63)
      out[key] = v;
  }
  return out;
}

export class IdentityAllocator {
  /** label key → id, from the watch and our own allocations. */
  private readonly byKey = new Map<string, number>();

  /** `cluster-id << 16`, or'ed into every id allocated here. */
  private readonly clusterBits: number;

  constructor(
    private readonly client: KubeClient,
    private readonly store: Store<CiliumIdentityObject>,
    clusterId = 0,
  ) {
    this.clusterBits = clusterId << 16;
    store.subscribe((c) => {
      if (c.type === 'synced') return;
      const labels = c.object['security-labels'];
      if (!labels) return;
      const key = labelsKey(labels);
      const id = Number(c.object.metadata?.name);
      // only ids of this cluster's range (an earlier cluster-id's are left to the operator's GC)
      if ((id & 0xff0000) !== this.clusterBits) return;
      if (c.type === 'deleted') {
        if (this.byKey.get(key) === id) this.byKey.delete(key);
      } else if (!this.byKey.has(key) || id < this.byKey.get(key)!) this.byKey.set(key, id);
    });
  }

  lookup(labels: Record<string, string>): number | undefined {
    return this.byKey.get(labelsKey(labels));
  }

  /** The identity of `labels`: an existing one, else a new CiliumIdentity. */
  async allocate(labels: Record<string, string>): Promise<number> {
    const key = labelsKey(labels);
    const known = this.byKey.get(key);
    if (known !== undefined) return known;
    let local = firstCandidate(key);
    for (let attempt = 0; attempt < 1024; attempt++) {
      const id = this.clusterBits | local;
      const existing = this.store.get(String(id));
      if (existing) {
        if (labelsKey(existing['security-labels'] ?? {}) === key) return this.remember(key, id);
      } else {
        try {
          await this.client.create<CiliumIdentityObject>(CILIUM_IDENTITIES, {
            apiVersion: 'cilium.io/v2',
            kind: 'CiliumIdentity',
            metadata: { name: String(id), labels: plainLabels(labels) },
            'security-labels': labels,
          });
          return this.remember(key, id);
        } catch (e) {
          if (!isConflict(e) && !(e as { code?: string }).code?.includes('ALREADY_EXISTS')) throw e;
          // Someone created this id meanwhile: reuse it if the labels are ours, else probe on.
          const theirs = await this.client
            .get<CiliumIdentityObject>(CILIUM_IDENTITIES, String(id))
            .catch(() => undefined);
          if (theirs && labelsKey(theirs['security-labels'] ?? {}) === key) return this.remember(key, id);
        }
      }
      local = local >= LAST_CLUSTER_IDENTITY ? FIRST_CLUSTER_IDENTITY : local + 1;
    }
    const [first, last] = [this.clusterBits | FIRST_CLUSTER_IDENTITY, this.clusterBits | LAST_CLUSTER_IDENTITY];
    throw new AgentError(AgentErrorCode.IdentityExhausted, `no free identity in ${first}..${last} for ${key}`);
  }

  private remember(key: string, id: number): number {
    this.byKey.set(key, id);
    return id;
  }
}
