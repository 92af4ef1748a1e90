// The per-endpoint policy maps of the kernel backend: an inner LPM trie per distinct policy,
// reached through the outer map cilium_policy_v2 (endpoint id → inner map). Endpoints whose
// policies hold the same entries point at the same inner map (decision 47): a CNP that selects
// 1,000 endpoints of a few resolved policies is then a few map writes, not 1,000. The datapath
// cannot tell: it looks up its endpoint's inner map and finds the entries it would have had alone.
//
// A swap gives an endpoint a complete map beside its old one and switches the outer entries of
// all endpoints of one write in one batched update (one RCU grace period): a map that already
// holds exactly the endpoint's entries is reused, otherwise one is built per distinct content. A
// delta writes the engine's changes in place, once per inner map, when every endpoint that map
// serves gets the same delta; a map also serving other endpoints is copied (its entries read from
// the kernel, the delta applied) and the copy installed for the ones that change.
//
// Writing in place into a shared map is only right while we know every endpoint that points at
// it: only this class writes cilium_policy_v2's entries (one agent per node), and the outer map is
// read whole before the first write of a process, so a restarted agent knows the sharing its
// predecessor left. One fd per distinct inner map stays open (the outer map holds the kernel's own
// references; ours are what the writes use).
import { createHash } from 'node:crypto';
import type { Addon } from './addon.js';
import { BpfMapType, BPF_F_NO_PREALLOC } from './constants.js';
import type { PolicyDeltaGroup, PolicyWrite, ResolvedDelta, ResolvedEntry, SyncResult } from './datapath.js';
import { decodePolicy } from './dump.js';
import { fromAddon } from './errors.js';
import { fromResolved, orderDelta, policyRawEntries, type PolicyMapEntry } from './map-entries.js';
import {
  diffEntries,
  dumpMap,
  hex,
  indexEntries,
  packEntries,
  writeBatches,
  type KernelMap,
  type RawEntry,
  type SyncOptions,
} from './map-sync.js';

/** A delta ordered and encoded for the kernel (see orderDelta), packed for mapsWrite. */
interface EncodedDelta {
  keys: Uint8Array;
  values: Uint8Array;
  upserts: RawEntry[];
  deleteKeys: Uint8Array;
  deletes: RawEntry[];
}

/** A delta for some endpoints, as write() collects them from per-endpoint writes. */
interface GroupWrite extends PolicyDeltaGroup {
  endpoints: number[];
}

/** The endpoints sharing one encoded delta. */
interface DeltaGroup {
  encoded: EncodedDelta;
  ids: number[];
}

/** One inner map we know: our fd of it and the endpoints whose outer entries point at it. */
interface InnerMap {
  fd: number;
  endpoints: Set<number>;
  /** The digest of its entries while we know them exactly (built or read by us, not written in place since). */
  content?: string;
}

function encode(delta: ResolvedDelta): EncodedDelta {
  const { upserts, deletes } = orderDelta(delta);
  const up = policyRawEntries(upserts);
  const down = policyRawEntries(deletes);
  const packed = packEntries(up, ENTRY_BYTES, ENTRY_BYTES);
  return {
    keys: packed.keys,
    values: packed.values,
    upserts: up,
    deleteKeys: packEntries(down, ENTRY_BYTES, ENTRY_BYTES).keys,
    deletes: down,
  };
}

/** A digest of a map's whole content (keys and values as bytes, in key order). */
function digest(entries: ReadonlyMap<string, RawEntry>): string {
  const h = createHash('sha256');
  for (const k of [...entries.keys()].sort()) {
    const e = entries.get(k)!;
    h.update(e.key);
    h.update(e.value);
  }
  return h.digest('base64');
}

/** Key and value bytes of a policy entry (datapath/bpf/policy.h; the outer map's inner template). */
const ENTRY_BYTES = 12;

export class PolicyMaps {
  /** endpoint id → the kernel id of its installed inner map; undefined until the outer map was read */
  private installed?: Map<number, number>;
  /** inner map id → what we know of it (every map some endpoint points at) */
  private readonly maps = new Map<number, InnerMap>();
  /** content digest → an inner map holding exactly that (a swap to it reuses the map) */
  private readonly byContent = new Map<string, number>();

  constructor(
    private readonly addon: Addon,
    private readonly outer: KernelMap,
    private readonly o: { policyMapSize: number; sync: SyncOptions },
  ) {}

  private inner(fd: number, what: string): KernelMap {
    return {
      fd,
      name: `policy map of ${what}`,
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

  /** endpoint id → inner map id, read from the outer map once per process (then kept exact by our writes). */
  private endpoints(): Map<number, number> {
    if (this.installed) return this.installed;
    const installed = new Map<number, number>();
    for (const e of dumpMap(this.addon, this.outer)) {
      const endpointId = new DataView(e.key.buffer, e.key.byteOffset).getUint32(0, true);
      const mapId = new DataView(e.value.buffer, e.value.byteOffset).getUint32(0, true);
      let m = this.maps.get(mapId);
      if (!m) {
        const fd = this.call(() => this.addon.mapFdById(mapId), `open the policy map of endpoint ${endpointId}`);
        this.maps.set(mapId, (m = { fd, endpoints: new Set() }));
      }
      m.endpoints.add(endpointId);
      installed.set(endpointId, mapId);
    }
    this.installed = installed;
    return installed;
  }

  /**
   * Points our records of endpoints at new maps (undefined: none), closing maps no endpoint uses
   * any more. Every new reference is taken before any old one is let go: within one install an
   * endpoint may leave the very map another one joins.
   */
  private attach(moves: Iterable<[endpointId: number, mapId: number | undefined]>): void {
    const installed = this.endpoints();
    const left: [number, number][] = [];
    for (const [endpointId, mapId] of moves) {
      const old = installed.get(endpointId);
      if (old === mapId) continue;
      if (old !== undefined) left.push([endpointId, old]);
      if (mapId === undefined) installed.delete(endpointId);
      else {
        installed.set(endpointId, mapId);
        this.maps.get(mapId)!.endpoints.add(endpointId);
      }
    }
    for (const [endpointId, old] of left) {
      const m = this.maps.get(old)!;
      m.endpoints.delete(endpointId);
      if (m.endpoints.size === 0) this.drop(old);
    }
  }

  private drop(mapId: number): void {
    const m = this.maps.get(mapId);
    if (!m) return;
    this.maps.delete(mapId);
    this.forgetContent(mapId, m);
    this.addon.close(m.fd);
  }

  private forgetContent(mapId: number, m: InnerMap): void {
    if (m.content !== undefined && this.byContent.get(m.content) === mapId) this.byContent.delete(m.content);
    m.content = undefined;
  }

  private learnContent(mapId: number, content: string): void {
    const m = this.maps.get(mapId);
    if (!m || m.content !== undefined) return;
    m.content = content;
    if (!this.byContent.has(content)) this.byContent.set(content, mapId);
  }

  /** A new inner map holding `entries`, known to us with no endpoint yet (install it or drop it). */
  private build(entries: ReadonlyMap<string, RawEntry>, content: string, what: string): number {
    const name = `cilium_p_${what.replace(/\D/g, '').slice(0, 6)}`;
    const fd = this.call(
      () =>
        this.addon.mapCreate(
          BpfMapType.lpmTrie,
          ENTRY_BYTES,
          ENTRY_BYTES,
          this.o.policyMapSize,
          BPF_F_NO_PREALLOC,
          name,
          null,
        ),
      `create the policy map of ${what}`,
    );
    let mapId: number;
    try {
      writeBatches(this.addon, this.inner(fd, what), [...entries.values()], this.o.sync);
      mapId = this.call(() => this.addon.mapInfo(fd), `read the policy map of ${what}`).id;
    } catch (e) {
      this.addon.close(fd);
      throw e;
    }
    this.maps.set(mapId, { fd, endpoints: new Set() });
    this.learnContent(mapId, content);
    return mapId;
  }

  /** Runs `work`, then drops the maps it built (listed in `built`) that no endpoint took (it failed). */
  private building(built: readonly number[], work: () => void): void {
    try {
      work();
    } finally {
      for (const mapId of built) if (this.maps.get(mapId)?.endpoints.size === 0) this.drop(mapId);
    }
  }

  /**
   * Points the outer entries of `installs` (endpoint id → inner map id) at their maps in one
   * batched update: packets see each endpoint's old map or its new one, whole.
   */
  private install(installs: ReadonlyMap<number, number>): void {
    if (installs.size === 0) return;
    const keys = new Uint8Array(installs.size * 4);
    const values = new Uint8Array(installs.size * 4);
    let i = 0;
    for (const [id, mapId] of installs) {
      keys.set(u32(id), i * 4);
      values.set(u32(this.maps.get(mapId)!.fd), i * 4);
      i++;
    }
    this.call(
      () => this.addon.mapUpdateBatch(this.outer.fd, keys, values, installs.size, 0),
      `install ${installs.size} policy map(s)`,
      this.outer,
    );
    this.attach(installs);
  }

  write(updates: ReadonlyMap<number, PolicyWrite>): Map<number, SyncResult> {
    const swaps: [number, readonly PolicyMapEntry[]][] = [];
    // endpoints of one resolved policy share their delta's arrays: one group each
    const groups = new Map<readonly ResolvedEntry[], Map<readonly ResolvedEntry[], GroupWrite>>();
    for (const [id, w] of updates) {
      if (w.mode === 'swap') {
        swaps.push([id, w.entries.map(fromResolved)]);
        continue;
      }
      let byRemoved = groups.get(w.added);
      if (!byRemoved) groups.set(w.added, (byRemoved = new Map()));
      let g = byRemoved.get(w.removed);
      if (!g) byRemoved.set(w.removed, (g = { added: w.added, removed: w.removed, endpoints: [] }));
      g.endpoints.push(id);
    }
    const results = new Map<number, SyncResult>();
    this.writeAll(
      swaps,
      [...groups.values()].flatMap((m) => [...m.values()]),
      results,
    );
    return new Map([...updates.keys()].map((id) => [id, results.get(id)!]));
  }

  /**
   * Each group's delta into its endpoints' maps (see writeGroup); returns how many endpoints' maps
   * changed. The work is per group and per inner map, apart from finding each endpoint's map.
   */
  writeDeltas(groups: readonly PolicyDeltaGroup[]): number {
    return this.writeAll([], groups);
  }

  /**
   * Swaps, then delta groups. An endpoint with no map installed yet takes its delta's additions as
   * its whole map (a swap, in the same batched install as the others). Per-endpoint results are
   * filled in only when asked for.
   */
  private writeAll(
    swaps: [number, readonly PolicyMapEntry[]][],
    groups: readonly PolicyDeltaGroup[],
    results?: Map<number, SyncResult>,
  ): number {
    const installed = this.endpoints();
    // groups whose deltas are the same bytes are written together (a map they share is written once)
    const byBytes = new Map<string, DeltaGroup>();
    for (const g of groups) {
      let target: DeltaGroup | undefined;
      for (const id of g.endpoints) {
        if (!installed.has(id)) {
          swaps.push([id, g.added.map(fromResolved)]);
          continue;
        }
        if (!target) {
          const encoded = encode(g);
          const same = `${hex(encoded.keys)}/${hex(encoded.values)}/${hex(encoded.deleteKeys)}`;
          target = byBytes.get(same);
          if (!target) byBytes.set(same, (target = { encoded, ids: [] }));
        }
        target.ids.push(id);
      }
    }
    let changed = 0;
    for (const [id, r] of this.replace(swaps)) {
      results?.set(id, r);
      if (r.added || r.updated || r.removed) changed++;
    }
    for (const g of byBytes.values()) changed += this.writeGroup(g, results);
    return changed;
  }

  /**
   * One delta for a group of endpoints: into each inner map they point at, in one addon call for
   * the maps whose endpoints all take it (denies in before allows, allows out before denies:
   * orderDelta); a map that also serves endpoints outside the group is copied with the delta
   * applied, and the copy installed for the group's endpoints on it. Returns how many endpoints'
   * maps changed.
   */
  private writeGroup(g: DeltaGroup, results?: Map<number, SyncResult>): number {
    const installed = this.endpoints();
    const e = g.encoded;
    const byMap = new Map<number, number[]>();
    for (const id of g.ids) {
      const mapId = installed.get(id)!;
      const ids = byMap.get(mapId);
      if (ids) ids.push(id);
      else byMap.set(mapId, [id]);
    }
    const inPlace: number[] = [];
    const copied: number[] = [];
    for (const [mapId, ids] of byMap)
      (ids.length === this.maps.get(mapId)!.endpoints.size ? inPlace : copied).push(mapId);
    let changed = 0;
    /** The endpoints of one map took the delta: counted, and their results kept when asked for. */
    const took = (ids: readonly number[], removed: number, replaced: boolean) => {
      if (e.upserts.length || removed) changed += ids.length;
      if (results)
        for (const id of ids) results.set(id, { added: e.upserts.length, updated: 0, removed, unchanged: 0, replaced });
    };
    if (inPlace.length) {
      const removed = new Uint32Array(inPlace.length);
      const fds = Int32Array.from(inPlace, (mapId) => this.maps.get(mapId)!.fd);
      // from here on (a failure may leave a map half written) their content is unknown
      for (const mapId of inPlace) this.forgetContent(mapId, this.maps.get(mapId)!);
      this.call(
        () => this.addon.mapsWrite(fds, e.keys, e.values, e.upserts.length, e.deleteKeys, e.deletes.length, removed),
        `write a policy delta into the maps of ${g.ids.length} endpoint(s) (${g.ids.slice(0, 5).join(', ')}${g.ids.length > 5 ? ', …' : ''})`,
      );
      inPlace.forEach((mapId, i) => took(byMap.get(mapId)!, removed[i]!, false));
    }
    if (copied.length === 0) return changed;
    const installs = new Map<number, number>();
    const built: number[] = [];
    this.building(built, () => {
      for (const mapId of copied) {
        const ids = byMap.get(mapId)!;
        const entries = indexEntries(dumpMap(this.addon, this.inner(this.maps.get(mapId)!.fd, `endpoint ${ids[0]}`)));
        let removed = 0;
        for (const d of e.deletes) if (entries.delete(hex(d.key))) removed++;
        for (const u of e.upserts) entries.set(hex(u.key), u);
        const content = digest(entries);
        let target = this.byContent.get(content);
        if (target === undefined) built.push((target = this.build(entries, content, `endpoint ${ids[0]}`)));
        for (const id of ids) installs.set(id, target);
        took(ids, removed, target !== mapId);
      }
      this.install(installs);
    });
    return changed;
  }

  /**
   * Gives every endpoint whose policy differs a map with exactly its entries: one already holding
   * them, or one built per distinct content in this write, all installed with one batched update
   * of the outer map (the kernel waits for one RCU grace period per syscall on a map of maps, so
   * one batch costs what one endpoint would). Endpoints whose maps are right are left alone.
   */
  private replace(updates: readonly [number, readonly PolicyMapEntry[]][]): Map<number, SyncResult> {
    const installed = this.endpoints();
    const results = new Map<number, SyncResult>();
    /** what each inner map holds, read once per write (endpoints sharing a map share the read) */
    const read = new Map<number, Map<string, RawEntry>>();
    const installs = new Map<number, number>();
    const built: number[] = [];
    this.building(built, () => {
      for (const [endpointId, entries] of updates) {
        const want = indexEntries(policyRawEntries(entries));
        const current = installed.get(endpointId);
        let have = current === undefined ? new Map<string, RawEntry>() : read.get(current);
        if (!have) {
          const fd = this.maps.get(current!)!.fd;
          read.set(current!, (have = indexEntries(dumpMap(this.addon, this.inner(fd, `endpoint ${endpointId}`)))));
        }
        const d = diffEntries(have, want);
        const changed = current === undefined || d.upserts.length > 0 || d.deletes.length > 0;
        results.set(endpointId, {
          added: d.added,
          updated: d.updated,
          removed: d.deletes.length,
          unchanged: d.unchanged,
          replaced: changed,
        });
        if (!changed) {
          // read just now and right: other endpoints with this policy may share it
          if (this.maps.get(current!)!.content === undefined) this.learnContent(current!, digest(want));
          continue;
        }
        const content = digest(want);
        let target = this.byContent.get(content);
        if (target === undefined) built.push((target = this.build(want, content, `endpoint ${endpointId}`)));
        installs.set(endpointId, target);
      }
      this.install(installs);
    });
    return results;
  }

  delete(endpointId: number): boolean {
    const deleted = this.call(
      () => this.addon.mapDelete(this.outer.fd, u32(endpointId)),
      `delete the policy of endpoint ${endpointId}`,
      this.outer,
    );
    this.attach([[endpointId, undefined]]);
    return deleted;
  }

  /** An endpoint's installed entries as raw key/value pairs, undefined when it has no map. */
  private entriesOf(endpointId: number): RawEntry[] | undefined {
    const mapId = this.endpoints().get(endpointId);
    if (mapId === undefined) return undefined;
    return dumpMap(this.addon, { ...this.inner(this.maps.get(mapId)!.fd, `endpoint ${endpointId}`), maxEntries: 0 });
  }

  dump(endpointId: number): (ResolvedEntry & { cookie: number })[] | undefined {
    const raw = this.entriesOf(endpointId);
    return raw && decodePolicy(raw);
  }

  /** Policy entries currently installed for an endpoint (raw), for restore checks and dumps. */
  entryCount(endpointId: number): number {
    return this.entriesOf(endpointId)?.length ?? 0;
  }

  /** How many distinct inner maps the endpoints' policies use now (for tests and status). */
  get innerMaps(): number {
    this.endpoints();
    return this.maps.size;
  }

  /** Closes every fd kept open (a later write reads the outer map again). */
  close(): void {
    for (const mapId of [...this.maps.keys()]) this.drop(mapId);
    this.installed = undefined;
  }
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}
