// `cilium-dbg fqdn cache list`: the cache as upstream's table (cilium-dbg/cmd/fqdn.go: columns
// Endpoint, Source, FQDN, TTL, ExpirationTime, IPs; one row per endpoint and name, the IPs joined
// by commas). A pure formatter: the agent hands it the entries.
import type { FqdnCacheEntry } from './fqdn-cache.js';

export interface FqdnCacheRow {
  endpoint: number;
  source: string;
  fqdn: string;
  ttl: number;
  expirationTime: string;
  ips: string[];
}

/** Groups entries into rows: one per (endpoint, name, source), the latest expiry, IPs sorted. */
export function fqdnCacheRows(entries: readonly FqdnCacheEntry[]): FqdnCacheRow[] {
  const rows = new Map<string, FqdnCacheRow & { expiresAt: number }>();
  for (const e of entries) {
    const key = `${e.endpoint}\0${e.name}\0${e.source}`;
    const row = rows.get(key);
    if (!row) {
      rows.set(key, {
        endpoint: e.endpoint,
        source: e.source,
        fqdn: e.name,
        ttl: e.ttl,
        expiresAt: e.expiresAt,
        expirationTime: '',
        ips: [e.ip],
      });
      continue;
    }
    row.ips.push(e.ip);
    if (e.expiresAt > row.expiresAt) Object.assign(row, { expiresAt: e.expiresAt, ttl: e.ttl });
  }
  return [...rows.values()]
    .sort((a, b) => a.endpoint - b.endpoint || (a.fqdn < b.fqdn ? -1 : a.fqdn > b.fqdn ? 1 : 0))
    .map(({ expiresAt, ...r }) => ({ ...r, ips: r.ips.sort(), expirationTime: new Date(expiresAt).toISOString() }));
}

/** The table as text, columns padded as `cilium-dbg` prints them (a tabwriter with 2 spaces). */
export function formatFqdnCacheList(entries: readonly FqdnCacheEntry[]): string {
  const header = ['Endpoint', 'Source', 'FQDN', 'TTL', 'ExpirationTime', 'IPs'];
  const lines = fqdnCacheRows(entries).map((r) => [
    String(r.endpoint),
    r.source,
    r.fqdn,
    String(r.ttl),
    r.expirationTime,
    r.ips.join(','),
  ]);
  const all = [header, ...lines];
  const widths = header.map((_, i) => Math.max(...all.map((l) => l[i]!.length)));
  return (
    all.map((l) => l.map((c, i) => (i === l.length - 1 ? c : c.padEnd(widths[i]! + 2))).join('')).join('\n') + '\n'
  );
}
