// The per-endpoint policy maps of the kernel backend: an inner LPM trie per endpoint, reached
// through the outer map cilium_policy_v2. A swap builds a complete new trie beside the old one and
// switches the outer entries of all endpoints in one batched update (one RCU grace period); a
// delta writes the engine's changes into the installed trie in place.
//
// What a policy change at 1,000 endpoints costs is mostly syscalls per endpoint, so: the fd of
// each endpoint's installed trie stays open (checked against the outer entry's map id, one lookup,
// instead of opening and closing it each time: an anonymous-inode file each), and a delta shared
// by many endpoints (the engine hands endpoints of one resolved policy the same entry arrays) is
// ordered and encoded once per write, not once per endpoint, and written into all of their maps
// in one addon call (mapsWrite: the writes themselves and a size check per map, nothing else).
// A delta trusts the fds kept open: only this class writes cilium_policy_v2's entries, and every
// entry it replaces or deletes forgets its fd, so no outer lookup per endpoint (decision 40).
import type { Addon } from './addon.js';
import { BpfMapType, BPF_F_NO_PREALLOC } from './constants.js';
import type { PolicyWrite, ResolvedDelta, ResolvedEntry, SyncResult } from './datapath.js';
import { decodePolicy } from './dump.js';
import { fromAddon } from './errors.js';
import { fromResolved, orderDelta, policyRawEntries, type PolicyMapEntry } from './map-entries.js';
import {
  diffEntries,
  dumpMap,
  indexEntries,
  packEntries,
  writeBatches,
  type KernelMap,
  type SyncOptions,
} from './map-sync.js';

/** Open inner-map fds kept at most (beyond it an fd is opened and closed per use, as before). */
export const MAX_CACHED_POLICY_FDS = 8192;

/** A delta ordered and encoded for the kernel (see orderDelta), packed for mapsWrite. */
interface EncodedDelta {
  keys: Uint8Array;
  values: Uint8Array;
  upserts: number;
  deleteKeys: Uint8Array;
  deletes: number;
}

/** The endpoints sharing one delta, and our fds of their installed maps. */
interface DeltaGroup {
  encoded: EncodedDelta;
  ids: number[];
  fds: number[];
}

function encode(delta: ResolvedDelta): EncodedDelta {
  const { upserts, deletes } = orderDelta(delta);
  const up = packEntries(policyRawEntries(upserts), ENTRY_BYTES, ENTRY_BYTES);
  return {
    keys: up.keys,
    values: up.values,
    upserts: upserts.length,
    deleteKeys: packEntries(policyRawEntries(deletes), ENTRY_BYTES, ENTRY_BYTES).keys,
    deletes: deletes.length,
  };
}

/** Key and value bytes of a policy entry (datapath/bpf/policy.h; the outer map's inner template). */
const ENTRY_BYTES = 12;

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
      keySize: ENTRY_BYTES,
      valueSize: ENTRY_BYTES,
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
    const mapId = this.installedMapId(endpointId);
    const cached = this.open.get(endpointId);
    if (cached && cached.mapId === mapId) return use(cached.fd);
    this.forget(endpointId);
    if (mapId === undefined) return use(undefined);
    const { fd, kept } = this.openInner(endpointId, mapId);
    if (kept) return use(fd);
    try {
      return use(fd);
    } finally {
      this.addon.close(fd);
    }
  }

  /** The kernel id of an endpoint's installed inner map (its outer entry), undefined when none. */
  private installedMapId(endpointId: number): number | undefined {
    const out = new Uint8Array(4);
    const found = this.call(
      () => this.addon.mapLookup(this.outer.fd, u32(endpointId), out),
      `look up policy of endpoint ${endpointId}`,
      this.outer,
    );
    return found ? new DataView(out.buffer).getUint32(0, true) : undefined;
  }

  /** Opens inner map `mapId`; the fd is kept for the endpoint while the cache has room (`kept`). */
  private openInner(endpointId: number, mapId: number): { fd: number; kept: boolean } {
    const fd = this.call(() => this.addon.mapFdById(mapId), `open policy map of endpoint ${endpointId}`);
    if (this.open.size >= MAX_CACHED_POLICY_FDS) return { fd, kept: false };
    this.open.set(endpointId, { mapId, fd });
    return { fd, kept: true };
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
    // endpoints of one resolved policy share their delta's arrays: ordered and encoded once
    const groups = new Map<readonly ResolvedEntry[], Map<readonly ResolvedEntry[], DeltaGroup>>();
    /** fds opened for this write only (beyond MAX_CACHED_POLICY_FDS) */
    const transient: number[] = [];
    try {
      for (const [id, w] of updates) {
        if (w.mode === 'swap') {
          swaps.push([id, w.entries.map(fromResolved)]);
          continue;
        }
        const fd = this.installedFd(id, transient);
        // no map installed yet: the delta's additions are the whole map
        if (fd === undefined) {
          swaps.push([id, w.added.map(fromResolved)]);
          continue;
        }
        let byRemoved = groups.get(w.added);
        if (!byRemoved) groups.set(w.added, (byRemoved = new Map()));
        let g = byRemoved.get(w.removed);
        if (!g) byRemoved.set(w.removed, (g = { encoded: encode(w), ids: [], fds: [] }));
        g.ids.push(id);
        g.fds.push(fd);
      }
      const results = this.replace(swaps);
      for (const byRemoved of groups.values()) for (const g of byRemoved.values()) this.writeGroup(g, results);
      return new Map([...updates.keys()].map((id) => [id, results.get(id)!]));
    } finally {
      for (const fd of transient) this.addon.close(fd);
    }
  }

  /**
   * Our fd of an endpoint's installed inner map, undefined when it has none. A kept fd is used as
   * is (see the file's comment); otherwise the outer entry is looked up and the map opened, kept
   * open, or listed in `transient` for the caller to close when the cache is full.
   */
  private installedFd(endpointId: number, transient: number[]): number | undefined {
    const cached = this.open.get(endpointId);
    if (cached) return cached.fd;
    const mapId = this.installedMapId(endpointId);
    if (mapId === undefined) return undefined;
    const { fd, kept } = this.openInner(endpointId, mapId);
    if (!kept) transient.push(fd);
    return fd;
  }

  /** One delta into every map of its group, in one addon call: denies in before allows, allows out before denies (orderDelta). */
  private writeGroup(g: DeltaGroup, results: Map<number, SyncResult>): void {
    const e = g.encoded;
    const removed = new Uint32Array(g.fds.length);
    this.call(
      () => this.addon.mapsWrite(Int32Array.from(g.fds), e.keys, e.values, e.upserts, e.deleteKeys, e.deletes, removed),
      `write a policy delta into the maps of ${g.ids.length} endpoint(s) (${g.ids.slice(0, 5).join(', ')}${g.ids.length > 5 ? ', …' : ''})`,
    );
    g.ids.forEach((id, i) =>
      results.set(id, { added: e.upserts, updated: 0, removed: removed[i]!, unchanged: 0, replaced: false }),
    );
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
