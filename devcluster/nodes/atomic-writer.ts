// A volume directory updated as the kubelet's AtomicWriter updates configMap, secret and projected
// volumes (pkg/volume/util/atomic_writer.go): each version of the payload is written into a fresh
// hidden directory `..<timestamp>`, the `..data` symlink is switched to it by one rename, and every
// visible name is a symlink through `..data` (`token -> ..data/token`). A reader that opens `token`
// sees the old or the new version whole, never a half-written file, and the files of one version
// (token, ca.crt, namespace) always belong together.
//
// One departure from the kubelet, on purpose: the kubelet removes the replaced version directory
// right after the switch, so a reader that resolved `..data` to it a moment before finds its file
// gone (ENOENT). Here a replaced version stays for a grace period (`retireAfterMs`) and is swept by
// the next write or a timer after it.
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** One file of a payload: its content and mode (default 0644, the volumes' defaultMode 420). */
export interface PayloadFile {
  content: string | Buffer;
  mode?: number;
}

export const DATA_DIR_NAME = '..data';
const DATA_DIR_TMP_NAME = '..data_tmp';

let sequence = 0;

/** Replaced version directories per volume directory, with the time they were replaced. */
const retired = new Map<string, { name: string; at: number }[]>();

/** Options of {@link writePayload}. */
export interface WriteOptions {
  /**
   * How long a replaced version directory stays readable for a reader that resolved `..data` just
   * before the switch. Longer keeps more old copies on disk during a burst of writes.
   */
  retireAfterMs?: number;
}

const DEFAULT_RETIRE_AFTER_MS = 1000;

/** `..2026_12_03_21_18_01.<n>`: the kubelet's timestamped directory name, unique within this process. */
function versionDirName(): string {
  const t = new Date()
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/[-T:]/g, '_');
  return `..${t}.${process.pid}_${++sequence}`;
}

/**
 * Writes `payload` (relative path → file) as the new content of `dir`: files that are no longer in
 * the payload disappear, the previous version directory is removed after the switch.
 */
export function writePayload(dir: string, payload: Record<string, PayloadFile>, options: WriteOptions = {}): void {
  const retireAfterMs = options.retireAfterMs ?? DEFAULT_RETIRE_AFTER_MS;
  mkdirSync(dir, { recursive: true });
  const dataLink = join(dir, DATA_DIR_NAME);
  const previous = existsSync(dataLink) ? readlinkSync(dataLink) : undefined;
  const version = versionDirName();
  for (const [path, file] of Object.entries(payload)) {
    if (path.startsWith('..') || path.startsWith('/')) throw new Error(`volume payload path ${path} is not allowed`);
    const target = join(dir, version, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, file.content, { mode: file.mode ?? 0o644 });
  }
  mkdirSync(join(dir, version), { recursive: true });
  const tmp = join(dir, DATA_DIR_TMP_NAME);
  rmSync(tmp, { force: true });
  symlinkSync(version, tmp);
  renameSync(tmp, dataLink);
  // the visible names: one symlink per top-level entry of the payload, through ..data
  const top = new Set(Object.keys(payload).map((p) => p.split('/')[0]!));
  for (const name of top) {
    const link = join(dir, name);
    if (isSymlink(link)) continue;
    rmSync(link, { recursive: true, force: true });
    symlinkSync(join(DATA_DIR_NAME, name), link);
  }
  for (const name of readdirSync(dir)) {
    if (name.startsWith('..') || top.has(name)) continue;
    if (isSymlink(join(dir, name))) rmSync(join(dir, name), { force: true });
  }
  if (previous && previous !== version) {
    const list = retired.get(dir) ?? [];
    if (list.length === 0) retired.set(dir, list);
    list.push({ name: previous, at: Date.now() });
    setTimeout(() => sweepRetired(dir, retireAfterMs), retireAfterMs + 10).unref();
  }
  sweepRetired(dir, retireAfterMs);
}

/**
 * Removes the version directories of `dir` replaced more than `retireAfterMs` ago, and any version
 * directory this process does not know (left by an earlier process): only `..data`'s target and the
 * recently replaced ones stay.
 */
export function sweepRetired(dir: string, retireAfterMs = DEFAULT_RETIRE_AFTER_MS): void {
  const list = retired.get(dir) ?? [];
  const now = Date.now();
  const keep = list.filter((r) => now - r.at < retireAfterMs);
  if (keep.length === 0) retired.delete(dir);
  else retired.set(dir, keep);
  let current: string | undefined;
  try {
    current = readlinkSync(join(dir, DATA_DIR_NAME));
  } catch {
    return; // the volume is gone (pod stopped): nothing to sweep
  }
  const kept = new Set([current, ...keep.map((r) => r.name)]);
  for (const name of readdirSync(dir)) {
    if (!name.startsWith('..') || name === DATA_DIR_NAME || name === DATA_DIR_TMP_NAME || kept.has(name)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
