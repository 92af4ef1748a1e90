// The FQDN cache on disk, so a restarted agent keeps allowing the IPs its pods already resolved
// (upstream restores them from each endpoint's state, pkg/fqdn/restore). Written atomically: a
// temporary file, fsync, rename over the old one, fsync of the directory; a crash leaves either
// the old file or the new one, never half of one.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ProxyError, ProxyErrorCode } from './errors.js';
import type { FqdnCacheEntry } from './fqdn-cache.js';

const VERSION = 1;

interface CacheFile {
  version: number;
  entries: FqdnCacheEntry[];
}

/** Writes `entries` to `path` atomically. */
export function saveFqdnCache(path: string, entries: readonly FqdnCacheEntry[]): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const body: CacheFile = { version: VERSION, entries: [...entries] };
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(body));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new ProxyError(ProxyErrorCode.CacheWrite, `cannot write the FQDN cache to ${path}`, { cause: e });
  }
}

function isEntry(e: unknown): e is FqdnCacheEntry {
  if (typeof e !== 'object' || e === null) return false;
  const r = e as Record<string, unknown>;
  return (
    Number.isInteger(r.endpoint) &&
    typeof r.name === 'string' &&
    typeof r.ip === 'string' &&
    typeof r.ttl === 'number' &&
    typeof r.lookupTime === 'number' &&
    typeof r.expiresAt === 'number'
  );
}

/** Reads the entries `saveFqdnCache` wrote; a missing file is an empty cache. */
export function loadFqdnCache(path: string): FqdnCacheEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ProxyError(ProxyErrorCode.BadCacheFile, `cannot read the FQDN cache ${path}`, { cause: e });
  }
  let parsed: Partial<CacheFile>;
  try {
    parsed = JSON.parse(text) as Partial<CacheFile>;
  } catch (e) {
    throw new ProxyError(ProxyErrorCode.BadCacheFile, `the FQDN cache ${path} is not JSON`, { cause: e });
  }
  if (parsed.version !== VERSION || !Array.isArray(parsed.entries) || !parsed.entries.every(isEntry)) {
    throw new ProxyError(ProxyErrorCode.BadCacheFile, `the FQDN cache ${path} is not a version ${VERSION} cache file`);
  }
  return parsed.entries;
}
