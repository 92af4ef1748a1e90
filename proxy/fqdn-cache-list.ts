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

/** Upstream's DNSLookup model (api/v1 GET /fqdn/cache): one per endpoint, name and source. */
export interface DnsLookup {
  'endpoint-id': number;
  source: string;
  fqdn: string;
  ips: string[];
  ttl: number;
  'lookup-time': string;
  'expiration-time': string;
}

/** The entries as the REST API serves them: the rows of `fqdnCacheRows`, with the latest lookup time. */
export function dnsLookups(entries: readonly FqdnCacheEntry[]): DnsLookup[] {
  const lookedUp = new Map<string, number>();
  for (const e of entries) {
    const key = `${e.endpoint}\0${e.name}\0${e.source}`;
    lookedUp.set(key, Math.max(lookedUp.get(key) ?? 0, e.lookupTime));
  }
  return fqdnCacheRows(entries).map((r) => ({
    'endpoint-id': r.endpoint,
    source: r.source,
    fqdn: r.fqdn,
    ips: r.ips,
    ttl: r.ttl,
    'lookup-time': new Date(lookedUp.get(`${r.endpoint}\0${r.fqdn}\0${r.source}`) ?? 0).toISOString(),
    'expiration-time': r.expirationTime,
  }));
}

/** The table as text, columns padded as `cilium-dbg` prints them (a tabwriter with 2 spaces). */
export function formatFqdnCacheList(entries: readonly FqdnCacheEntry[]): string {
  return formatDnsLookups(dnsLookups(entries));
}

/** `cilium-dbg fqdn cache list` from the API's models. */
export function formatDnsLookups(lookups: readonly DnsLookup[]): string {
  const header = ['Endpoint', 'Source', 'FQDN', 'TTL', 'ExpirationTime', 'IPs'];
  const lines = lookups.map((r) => [
    String(r['endpoint-id']),
    r.source,
    r.fqdn,
    String(r.ttl),
    r['expiration-time'],
    r.ips.join(','),
  ]);
  const all = [header, ...lines];
  const widths = header.map((_, i) => Math.max(...all.map((l) => l[i]!.length)));
  return (
    all.map((l) => l.map((c, i) => (i === l.length - 1 ? c : c.padEnd(widths[i]! + 2))).join('')).join('\n') + '\n'
  );
}
