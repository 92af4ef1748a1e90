// The per-endpoint policy maps of the kernel backend: an inner LPM trie per endpoint, reached
// through the outer map cilium_policy_v2. A swap builds a complete new trie beside the old one and
// switches the outer entries of all endpoints in one batched update (one RCU grace period); a
// delta writes the engine's changes into the installed trie in place.
//
// What a policy change at 1,000 endpoints costs is mostly syscalls per endpoint, so: the fd of
// each endpoint's installed trie stays open (checked against the outer entry's map id, one lookup,
// instead of opening and closing it each time: an anonymous-inode file each), and a delta shared
// by many endpoints (the engine hands endpoints of one resolved policy the same entry arrays) is
// ordered and encoded once per write, not once per endpoint.
import type { Addon } from './addon.js';
import { BpfMapType, BPF_F_NO_PREALLOC } from './constants.js';
import type { PolicyWrite, ResolvedDelta, ResolvedEntry, SyncResult } from './datapath.js';
import { decodePolicy } from './dump.js';
import { fromAddon } from './errors.js';
import { fromResolved, orderDelta, policyRawEntries, type PolicyMapEntry } from './map-entries.js';
import {
  deleteBatches,
  diffEntries,
  dumpMap,
  indexEntries,
  writeBatches,
  type KernelMap,
  type RawEntry,
  type SyncOptions,
} from './map-sync.js';

/** Open inner-map fds kept at most (beyond it an fd is opened and closed per use, as before). */
export const MAX_CACHED_POLICY_FDS = 8192;

/** A delta ordered and encoded for the kernel (see orderDelta). */
interface EncodedDelta {
  upserts: RawEntry[];
  deletes: Uint8Array[];
}

export class PolicyMaps {
  /** endpoint id → our open fd of its installed inner map, and that map's kernel id */
  private readonly open = new Map<number, { mapId: number; fd: number }>();

  constructor(
    private readonly addon: Addon,
    private readonly outer: KernelMap,
    private readonly o: { policyMapSize: number; sync: SyncOptions },
  ) {}

  private inner(fd: number, endpointId: number): KernelMap {
    return {
      fd,
      name: `policy map of endpoint ${endpointId}`,
      keySize: 12,
      valueSize: 12,
      maxEntries: this.o.policyMapSize,
    };
  }

  private call<T>(fn: () => T, op: string, map?: KernelMap): T {
    try {
      return fn();
    } catch (e) {
      throw fromAddon(e, { op, ...(map ? { map } : {}) });
    }
  }

  /**
   * Runs `use` with the fd of an endpoint's installed inner map (undefined: none). The fd is ours
   * to keep: callers never close it.
   */
  private withInner<T>(endpointId: number, use: (fd: number | undefined) => T): T {
    const out = new Uint8Array(4);
    const found = this.call(
      () => this.addon.mapLookup(this.outer.fd, u32(endpointId), out),
      `look up policy of endpoint ${endpointId}`,
      this.outer,
    );
    const cached = this.open.get(endpointId);
    const mapId = found ? new DataView(out.buffer).getUint32(0, true) : 0;
    if (cached && cached.mapId === mapId) return use(cached.fd);
    this.forget(endpointId);
    if (!found) return use(undefined);
    const fd = this.call(() => this.addon.mapFdById(mapId), `open policy map of endpoint ${endpointId}`);
    if (this.open.size < MAX_CACHED_POLICY_FDS) {
      this.open.set(endpointId, { mapId, fd });
      return use(fd);
    }
    try {
      return use(fd);
    } finally {
      this.addon.close(fd);
    }
  }

  /** Closes our fd of an endpoint's inner map (it was replaced or deleted). */
  private forget(endpointId: number): void {
    const cached = this.open.get(endpointId);
    if (!cached) return;
    this.open.delete(endpointId);
    this.addon.close(cached.fd);
  }

  write(updates: ReadonlyMap<number, PolicyWrite>): Map<number, SyncResult> {
    const swaps: [number, readonly PolicyMapEntry[]][] = [];
    const deltas: [number, ResolvedDelta][] = [];
    for (const [id, w] of updates)
      if (w.mode === 'swap') swaps.push([id, w.entries.map(fromResolved)]);
      else deltas.push([id, w]);
    const results = this.replace(swaps);
    // endpoints of one resolved policy share their delta's arrays: ordered and encoded once
    const encoded = new Map<readonly ResolvedEntry[], Map<readonly ResolvedEntry[], EncodedDelta>>();
    for (const [id, delta] of deltas) {
      let byRemoved = encoded.get(delta.added);
      if (!byRemoved) encoded.set(delta.added, (byRemoved = new Map()));
      let e = byRemoved.get(delta.removed);
      if (!e) {
        const { upserts, deletes } = orderDelta(delta);
        e = { upserts: policyRawEntries(upserts), deletes: policyRawEntries(deletes).map((r) => r.key) };
        byRemoved.set(delta.removed, e);
      }
      results.set(id, this.applyDelta(id, delta, e));
    }
    return new Map([...updates.keys()].map((id) => [id, results.get(id)!]));
  }

  private applyDelta(endpointId: number, delta: ResolvedDelta, e: EncodedDelta): SyncResult {
    const written = this.withInner(endpointId, (fd) => {
      if (fd === undefined) return undefined;
      const m = this.inner(fd, endpointId);
      // denies go in before allows and allows come out before denies (see orderDelta)
      writeBatches(this.addon, m, e.upserts, this.o.sync);
      const removed = e.deletes.length ? deleteBatches(this.addon, m, e.deletes, this.o.sync) : 0;
      return { added: e.upserts.length, updated: 0, removed, unchanged: 0, replaced: false };
    });
    return written ?? this.replace([[endpointId, delta.added.map(fromResolved)]]).get(endpointId)!;
  }

  /**
   * Builds a complete new map for every endpoint whose policy differs, then installs all of them
   * with one batched update of the outer map: the kernel waits for one RCU grace period per
   * syscall on a map of maps, so one batch costs what one endpoint would.
   */
  private replace(updates: readonly [number, readonly PolicyMapEntry[]][]): Map<number, SyncResult> {
    const results = new Map<number, SyncResult>();
    const built: [number, number][] = []; // endpoint id, new inner map fd
    try {
      for (const [endpointId, entries] of updates) {
        const want = indexEntries(policyRawEntries(entries));
        const { d, had } = this.withInner(endpointId, (oldFd) => ({
          had: oldFd !== undefined,
          d: diffEntries(
            oldFd === undefined ? new Map() : indexEntries(dumpMap(this.addon, this.inner(oldFd, endpointId))),
            want,
          ),
        }));
        const changed = !had || d.upserts.length > 0 || d.deletes.length > 0;
        results.set(endpointId, {
          added: d.added,
          updated: d.updated,
          removed: d.deletes.length,
          unchanged: d.unchanged,
          replaced: changed,
        });
        if (!changed) continue;
        const name = `cilium_p_${String(endpointId).padStart(5, '0')}`;
        const fd = this.call(
          () => this.addon.mapCreate(BpfMapType.lpmTrie, 12, 12, this.o.policyMapSize, BPF_F_NO_PREALLOC, name, null),
          `create the policy map of endpoint ${endpointId}`,
        );
        built.push([endpointId, fd]);
        writeBatches(this.addon, this.inner(fd, endpointId), [...want.values()], this.o.sync);
      }
      if (built.length) {
        const keys = new Uint8Array(built.length * 4);
        const values = new Uint8Array(built.length * 4);
        built.forEach(([id, fd], i) => {
          keys.set(u32(id), i * 4);
          values.set(u32(fd), i * 4);
        });
        // the switch: packets see each endpoint's old map or its new one, whole
        this.call(
          () => this.addon.mapUpdateBatch(this.outer.fd, keys, values, built.length, 0),
          `install ${built.length} policy map(s)`,
          this.outer,
        );
        // the old maps are gone from the outer map: our fds would only keep them alive
        for (const [id] of built) this.forget(id);
      }
    } finally {
      // the outer map holds its own references; ours are no longer needed (or, on error, never used)
      for (const [, fd] of built) this.addon.close(fd);
    }
    return results;
  }

  delete(endpointId: number): boolean {
    this.forget(endpointId);
    return this.call(
      () => this.addon.mapDelete(this.outer.fd, u32(endpointId)),
      `delete the policy of endpoint ${endpointId}`,
      this.outer,
    );
  }

  dump(endpointId: number): (ResolvedEntry & { cookie: number })[] | undefined {
    return this.withInner(endpointId, (fd) =>
      fd === undefined
        ? undefined
        : decodePolicy(dumpMap(this.addon, { ...this.inner(fd, endpointId), maxEntries: 0 })),
    );
  }

  /** Policy entries currently installed for an endpoint (raw), for restore checks and dumps. */
  entryCount(endpointId: number): number {
    return this.withInner(endpointId, (fd) =>
      fd === undefined ? 0 : dumpMap(this.addon, { ...this.inner(fd, endpointId), maxEntries: 0 }).length,
    );
  }

  /** Closes every fd kept open. */
  close(): void {
    for (const id of [...this.open.keys()]) this.forget(id);
  }
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}
