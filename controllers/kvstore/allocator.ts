// Security identities in etcd (identity-allocation-mode: kvstore), as upstream's allocator keeps
// them: the master key `id/<ID>` holds the label string, and each node using it holds a reference
// `value/<labels>/<nodeIP>` = ID under its session lease. Allocating a label set nobody uses takes
// the label set's mutex, looks for a reference again (someone may have won the race), and claims a
// free ID with a create-only transaction — so two agents never give one label set two ids (the
// mutex) nor one id two label sets (the CAS). Releasing deletes our reference only; the operator
// removes master keys without references (kvstore-identity-gc.ts).
import { createHash } from 'node:crypto';
import type { Kvstore } from './client.js';
import { KvstoreError, KvstoreErrorCode } from './errors.js';
import {
  IDENTITY_ID_PREFIX,
  decodeLabels,
  encodeLabels,
  idOfKey,
  identityIdKey,
  identityLockPath,
  identityValueKey,
  identityValuePrefix,
  type LabelRecord,
} from './keys.js';
import { PrefixWatcher, type KvWatchEvent } from './watch.js';

export const FIRST_CLUSTER_IDENTITY = 256;
export const LAST_CLUSTER_IDENTITY = 65535;

/** A change of the cluster's identities, as seen through the master keys. */
export type IdentityEvent =
  | { type: 'identity-upserted'; id: number; labels: LabelRecord }
  | { type: 'identity-deleted'; id: number }
  | { type: 'synced' };

export interface KvIdentityAllocatorOptions {
  /** This node's address: the last part of our reference keys. */
  nodeIp: string;
  /** `cluster-id` (0..255): bits 16–23 of every id allocated here. */
  clusterId?: number;
  /** How long to wait for a label set's mutex. */
  lockTimeoutMs?: number;
}

export class KvIdentityAllocator {
  /** id → label string, from the master keys' watch (and our own claims). */
  private readonly byId = new Map<number, string>();
  /** label string → ids carrying it (normally one). */
  private readonly byLabels = new Map<string, Set<number>>();
  /** label string → our id, for the label sets we hold a reference to. */
  private readonly held = new Map<string, number>();
  private readonly watcher: PrefixWatcher;
  private readonly listeners = new Set<(e: IdentityEvent) => void>();
  private readonly clusterBits: number;
  private readonly stopRenew: () => void;

  constructor(
    private readonly kv: Kvstore,
    private readonly o: KvIdentityAllocatorOptions,
  ) {
    this.clusterBits = (o.clusterId ?? 0) << 16;
    this.watcher = new PrefixWatcher(kv, IDENTITY_ID_PREFIX, (e) => this.onMasterKey(e));
    // A new session lease: our references died with the old one; put them back (upstream's UpdateKey).
    this.stopRenew = kv.onSessionRenewed(() => void this.republish());
  }

  /** Lists and watches the master keys; resolves once they are known. */
  start(): Promise<void> {
    return this.watcher.start();
  }

  subscribe(f: (e: IdentityEvent) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  private onMasterKey(e: KvWatchEvent): void {
    if (e.type === 'synced') {
      this.listeners.forEach((f) => f(e));
      return;
    }
    const id = idOfKey(e.key);
    if (id === undefined) return;
    const before = this.byId.get(id);
    if (before !== undefined) this.byLabels.get(before)?.delete(id);
    if (e.type === 'delete') {
      this.byId.delete(id);
      this.listeners.forEach((f) => f({ type: 'identity-deleted', id }));
      return;
    }
    this.index(id, e.value);
    this.listeners.forEach((f) => f({ type: 'identity-upserted', id, labels: decodeLabels(e.value) }));
  }

  private index(id: number, labels: string): void {
    this.byId.set(id, labels);
    let ids = this.byLabels.get(labels);
    if (!ids) this.byLabels.set(labels, (ids = new Set()));
    ids.add(id);
  }

  /** The labels of `id`, if the cluster has it. */
  labelsOf(id: number): LabelRecord | undefined {
    const l = this.byId.get(id);
    return l === undefined ? undefined : decodeLabels(l);
  }

  /** Every identity known, id → labels. */
  *identities(): IterableIterator<[number, LabelRecord]> {
    for (const [id, l] of this.byId) yield [id, decodeLabels(l)];
  }

  /** The id we hold for `labels`, without asking etcd. */
  lookup(labels: LabelRecord): number | undefined {
    return this.held.get(encodeLabels(labels));
  }

  /** The id of `labels`: the one in use in the cluster, else a new one; we then hold a reference. */
  async allocate(labels: LabelRecord): Promise<number> {
    const l = encodeLabels(labels);
    const held = this.held.get(l);
    if (held !== undefined) return held;
    // Someone uses it already: add our reference (no lock needed, the id exists).
    const used = await this.usedId(l);
    if (used !== undefined) return this.reference(l, used);
    const unlock = await this.kv.lock(identityLockPath(l), this.o.lockTimeoutMs);
    try {
      // Again under the lock: the holder before us may have allocated it.
      const now = await this.usedId(l);
      if (now !== undefined) return await this.reference(l, now);
      // A master key whose references are gone (its user died) is reused before the operator collects it.
      const orphan = [...(this.byLabels.get(l) ?? [])].find((id) => (id & 0xff0000) === this.clusterBits);
      if (orphan !== undefined && (await this.kv.get(identityIdKey(orphan)))?.value === l)
        return await this.reference(l, orphan);
      return await this.reference(l, await this.claim(l));
    } finally {
      await unlock();
    }
  }

  /** The id some node's reference gives `labels` (its master key checked), if any. */
  private async usedId(labels: string): Promise<number | undefined> {
    const refs = await this.kv.list(identityValuePrefix(labels));
    for (const r of refs.entries) {
      const id = Number(r.value);
      if (!Number.isInteger(id)) continue;
      const known = this.byId.get(id);
      if (known === labels) return id;
      if (known === undefined && (await this.kv.get(identityIdKey(id)))?.value === labels) return id;
    }
    return undefined;
  }

  /** Creates the master key of a free id for `labels`; probes on when another node took it. */
  private async claim(labels: string): Promise<number> {
    const span = LAST_CLUSTER_IDENTITY - FIRST_CLUSTER_IDENTITY + 1;
    const h = createHash('sha256').update(labels).digest().readUInt32BE(0);
    let local = FIRST_CLUSTER_IDENTITY + (h % span);
    for (let attempt = 0; attempt < span; attempt++) {
      const id = this.clusterBits | local;
      if (!this.byId.has(id) && (await this.kv.createOnly(identityIdKey(id), labels))) {
        this.index(id, labels);
        return id;
      }
      local = local >= LAST_CLUSTER_IDENTITY ? FIRST_CLUSTER_IDENTITY : local + 1;
    }
    throw new KvstoreError(KvstoreErrorCode.IdentityExhausted, `no free identity for ${labels}`);
  }

  private async reference(labels: string, id: number): Promise<number> {
    await this.kv.put(identityValueKey(labels, this.o.nodeIp), String(id), true);
    this.held.set(labels, id);
    return id;
  }

  /** Drops our reference to `labels` (the id stays for the other nodes and the operator's GC). */
  async release(labels: LabelRecord): Promise<void> {
    const l = encodeLabels(labels);
    if (!this.held.delete(l)) return;
    await this.kv.delete(identityValueKey(l, this.o.nodeIp));
  }

  /** Puts every reference we hold again (after a new session lease). */
  async republish(): Promise<void> {
    for (const [l, id] of this.held) await this.kv.put(identityValueKey(l, this.o.nodeIp), String(id), true);
  }

  async stop(): Promise<void> {
    this.stopRenew();
    await this.watcher.stop();
  }
}
