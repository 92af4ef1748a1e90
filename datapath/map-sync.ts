// Map sync: make a kernel map hold exactly the desired entries, writing only the difference, in
// batches (one addon call per batch, not per entry). Entries are compared as bytes, so a value
// that is already right is never rewritten; after an agent restart that means an unchanged
// cluster causes zero map writes. The pure diff is shared with the sim backend.
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Addon, MapDump } from './addon.js';
import { fromAddon } from './errors.js';
import type { SyncResult } from './datapath.js';

export interface RawEntry {
  key: Uint8Array;
  value: Uint8Array;
}

export interface Diff {
  upserts: RawEntry[];
  deletes: Uint8Array[];
  added: number;
  updated: number;
  unchanged: number;
}

/** Bytes as lower-case hex: how entries are keyed when compared. */
export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Indexes entries by key bytes; a later duplicate key wins. */
export function indexEntries(entries: Iterable<RawEntry>): Map<string, RawEntry> {
  const m = new Map<string, RawEntry>();
  for (const e of entries) m.set(hex(e.key), e);
  return m;
}

export function diffEntries(current: ReadonlyMap<string, RawEntry>, desired: ReadonlyMap<string, RawEntry>): Diff {
  const d: Diff = { upserts: [], deletes: [], added: 0, updated: 0, unchanged: 0 };
  for (const [k, want] of desired) {
    const have = current.get(k);
    if (!have) {
      d.upserts.push(want);
      d.added++;
    } else if (Buffer.compare(have.value, want.value) !== 0) {
      d.upserts.push(want);
      d.updated++;
    } else {
      d.unchanged++;
    }
  }
  for (const [k, have] of current) if (!desired.has(k)) d.deletes.push(have.key);
  return d;
}

export interface KernelMap {
  fd: number;
  name: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

export interface SyncOptions {
  /** entries per addon call */
  batchSize: number;
}

export const defaultSyncOptions: SyncOptions = { batchSize: 4096 };

/** Every entry of a kernel map. */
export function dumpMap(addon: Addon, m: KernelMap): RawEntry[] {
  let r: MapDump;
  try {
    r = addon.mapDump(m.fd, m.keySize, m.valueSize);
  } catch (e) {
    throw fromAddon(e, { op: `dump ${m.name}`, map: m });
  }
  return splitDump(r, m);
}

/**
 * Every entry of a kernel map, read on a libuv worker thread: a large map is read while the event
 * loop goes on (an LPM trie on a kernel without batch lookups for it is two syscalls per entry).
 */
export async function dumpMapAsync(addon: Addon, m: KernelMap): Promise<RawEntry[]> {
  let r: MapDump;
  try {
    r = await addon.mapDumpAsync(m.fd, m.keySize, m.valueSize);
  } catch (e) {
    throw fromAddon(e, { op: `dump ${m.name}`, map: m });
  }
  return splitDump(r, m);
}

function splitDump(r: MapDump, m: KernelMap): RawEntry[] {
  const out: RawEntry[] = [];
  for (let i = 0; i < r.count; i++) {
    out.push({
      key: r.keys.subarray(i * m.keySize, (i + 1) * m.keySize),
      value: r.values.subarray(i * m.valueSize, (i + 1) * m.valueSize),
    });
  }
  return out;
}

/** Writes entries in batches of opts.batchSize. */
/** Packs raw entries into one keys and one values buffer: the addon's batch layout. */
export function packEntries(
  entries: readonly RawEntry[],
  keySize: number,
  valueSize: number,
): { keys: Uint8Array; values: Uint8Array } {
  const keys = new Uint8Array(entries.length * keySize);
  const values = new Uint8Array(entries.length * valueSize);
  entries.forEach((e, i) => {
    keys.set(e.key, i * keySize);
    values.set(e.value, i * valueSize);
  });
  return { keys, values };
}

export function writeBatches(
  addon: Addon,
  m: KernelMap,
  entries: readonly RawEntry[],
  opts: SyncOptions = defaultSyncOptions,
): void {
  for (let i = 0; i < entries.length; i += opts.batchSize) {
    const chunk = entries.slice(i, i + opts.batchSize);
    const { keys, values } = packEntries(chunk, m.keySize, m.valueSize);
    try {
      addon.mapUpdateBatch(m.fd, keys, values, chunk.length, 0);
    } catch (e) {
      throw fromAddon(e, { op: `update ${m.name} (batch of ${chunk.length} at ${i})`, map: m });
    }
  }
}

export function deleteBatches(
  addon: Addon,
  m: KernelMap,
  keys: readonly Uint8Array[],
  opts: SyncOptions = defaultSyncOptions,
): number {
  let n = 0;
  for (let i = 0; i < keys.length; i += opts.batchSize) {
    const chunk = keys.slice(i, i + opts.batchSize);
    const buf = new Uint8Array(chunk.length * m.keySize);
    chunk.forEach((k, j) => buf.set(k, j * m.keySize));
    try {
      n += addon.mapDeleteBatch(m.fd, buf, chunk.length);
    } catch (e) {
      throw fromAddon(e, { op: `delete from ${m.name}`, map: m });
    }
  }
  return n;
}

/**
 * Syncs a kernel map to `desired`: deletes first (frees room in a full map), then upserts.
 * `current` is the map's content when the caller read it already (and nothing wrote it since).
 */
export function syncMap(
  addon: Addon,
  m: KernelMap,
  desired: Iterable<RawEntry>,
  opts: SyncOptions = defaultSyncOptions,
  current: readonly RawEntry[] = dumpMap(addon, m),
): SyncResult {
  const d = diffEntries(indexEntries(current), indexEntries(desired));
  const removed = deleteBatches(addon, m, d.deletes, opts);
  writeBatches(addon, m, d.upserts, opts);
  return { added: d.added, updated: d.updated, removed, unchanged: d.unchanged };
}

/**
 * libbpf refuses to reuse a pinned map of another size: unpins `pinRoot/name` when its max_entries
 * differs from `size`, so that the next load creates it anew. True when it did.
 */
export function unpinIfResized(addon: Addon, pinRoot: string, name: string, size: number): boolean {
  const pin = join(pinRoot, name);
  if (!existsSync(pin)) return false;
  let fd: number;
  try {
    fd = addon.objGet(pin);
  } catch (e) {
    throw fromAddon(e, { op: `open the pinned map ${pin}` });
  }
  try {
    if (addon.mapInfo(fd).maxEntries === size) return false;
  } finally {
    addon.close(fd);
  }
  unlinkSync(pin);
  return true;
}
