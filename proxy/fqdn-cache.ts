// The FQDN cache: what the DNS proxy learned, name → IPs, per endpoint, each IP with its expiry.
// The policy side maps names to CIDR identities from its deltas (`ipsAdded` when a name gains an IP
// no endpoint had for it, `ipsExpired` when the last lookup holding it expires); Hubble asks by IP
// for `source_names` / `destination_names`. Upstream: pkg/fqdn/cache.go (DNSCache), the options
// `tofqdns-min-ttl` and `tofqdns-endpoint-max-ip-per-hostname` (pkg/defaults/defaults.go).
import { toFqdn } from '../policy/fqdn-selector.js';

export interface FqdnCacheOptions {
  /**
   * `tofqdns-min-ttl`: the least time, in seconds, a learned IP stays allowed, whatever TTL the
   * answer carried. Upstream's default is 0 (answers' TTLs are honoured); raise it when clients
   * cache answers longer than their TTL and then reconnect to an expired IP.
   */
  minTtlSeconds?: number;
  /**
   * `tofqdns-endpoint-max-ip-per-hostname`: IPs kept per endpoint and name; past it the IPs that
   * expire first are dropped. Upstream's default is 1000.
   */
  maxIpsPerHostname?: number;
  /** The clock, in ms since the epoch (tests pass a fake one). */
  now?: () => number;
}

const DEFAULTS: Required<FqdnCacheOptions> = { minTtlSeconds: 0, maxIpsPerHostname: 1000, now: () => Date.now() };

/** A delta for the policy side: `name` (canonical, trailing dot) gained or lost `ips` node-wide. */
export type FqdnCacheEvent =
  { type: 'ipsAdded'; name: string; ips: string[] } | { type: 'ipsExpired'; name: string; ips: string[] };

/** One learned (endpoint, name, IP): the unit of `cilium-dbg fqdn cache list` and of the cache file. */
export interface FqdnCacheEntry {
  endpoint: number;
  name: string;
  ip: string;
  /** where the entry came from: `lookup` (a DNS answer the proxy saw) or `restored` (the cache file) */
  source: 'lookup' | 'restored';
  /** the TTL applied (the answer's, raised to the minimum), seconds */
  ttl: number;
  lookupTime: number;
  expiresAt: number;
}

interface Learned {
  readonly ttl: number;
  readonly lookupTime: number;
  readonly expiresAt: number;
  readonly source: FqdnCacheEntry['source'];
}

export class FqdnCache {
  private readonly opts: Required<FqdnCacheOptions>;
  /** endpoint → name → IP → what was learned */
  private readonly byEndpoint = new Map<number, Map<string, Map<string, Learned>>>();
  /** name → IP → how many endpoints hold it (the node-wide view the deltas describe) */
  private readonly holders = new Map<string, Map<string, number>>();
  /** IP → names (for Hubble) */
  private readonly namesByIp = new Map<string, Set<string>>();
  private readonly listeners = new Set<(e: FqdnCacheEvent) => void>();

  constructor(options: FqdnCacheOptions = {}) {
    this.opts = { ...DEFAULTS, ...options };
  }

  /** Calls `fn` with every delta; returns the unsubscribe function. */
  onEvent(fn: (e: FqdnCacheEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Records an answer: `ips` for `name` as `endpoint` saw it, valid `ttlSeconds` (raised to the
   * minimum). An IP already known gets the later expiry. Returns the deltas it caused (also sent
   * to listeners).
   */
  update(
    endpoint: number,
    name: string,
    ips: readonly string[],
    ttlSeconds: number,
    source: FqdnCacheEntry['source'] = 'lookup',
  ): FqdnCacheEvent[] {
    const now = this.opts.now();
    const ttl = Math.max(Math.floor(ttlSeconds), this.opts.minTtlSeconds);
    return this.learn(endpoint, toFqdn(name), ips, { ttl, lookupTime: now, expiresAt: now + ttl * 1000, source });
  }

  private learn(endpoint: number, fqdn: string, ips: readonly string[], at: Learned): FqdnCacheEvent[] {
    let names = this.byEndpoint.get(endpoint);
    if (!names) this.byEndpoint.set(endpoint, (names = new Map()));
    let known = names.get(fqdn);
    if (!known) names.set(fqdn, (known = new Map()));
    const added: string[] = [];
    for (const ip of new Set(ips)) {
      const had = known.get(ip);
      if (had) {
        if (had.expiresAt < at.expiresAt) known.set(ip, at);
        continue;
      }
      // one record for every IP of an answer: records are never changed in place, only replaced
      known.set(ip, at);
      if (this.hold(fqdn, ip)) added.push(ip);
    }
    const expired = this.cap(fqdn, known);
    if (known.size === 0) names.delete(fqdn);
    const events: FqdnCacheEvent[] = [];
    const dropped = expired.filter((ip) => !added.includes(ip));
    const kept = added.filter((ip) => !expired.includes(ip));
    if (kept.length) events.push({ type: 'ipsAdded', name: fqdn, ips: kept });
    if (dropped.length) events.push({ type: 'ipsExpired', name: fqdn, ips: dropped });
    return this.emit(events);
  }

  /** Drops the IPs past the per-name cap, those expiring first; returns the ones no endpoint holds now. */
  private cap(fqdn: string, known: Map<string, Learned>): string[] {
    const over = known.size - this.opts.maxIpsPerHostname;
    if (over <= 0) return [];
    const gone: string[] = [];
    const order = [...known].sort((a, b) => a[1].expiresAt - b[1].expiresAt);
    for (const [ip] of order.slice(0, over)) {
      known.delete(ip);
      if (this.release(fqdn, ip)) gone.push(ip);
    }
    return gone;
  }

  /** Counts one more holder; true when it is the first (the IP is new for the name node-wide). */
  private hold(fqdn: string, ip: string): boolean {
    let ips = this.holders.get(fqdn);
    if (!ips) this.holders.set(fqdn, (ips = new Map()));
    const n = ips.get(ip) ?? 0;
    ips.set(ip, n + 1);
    if (n > 0) return false;
    let names = this.namesByIp.get(ip);
    if (!names) this.namesByIp.set(ip, (names = new Set()));
    names.add(fqdn);
    return true;
  }

  /** Counts one holder less; true when it was the last. */
  private release(fqdn: string, ip: string): boolean {
    const ips = this.holders.get(fqdn);
    const n = ips?.get(ip) ?? 0;
    if (!ips || n === 0) return false;
    if (n > 1) {
      ips.set(ip, n - 1);
      return false;
    }
    ips.delete(ip);
    if (ips.size === 0) this.holders.delete(fqdn);
    const names = this.namesByIp.get(ip);
    names?.delete(fqdn);
    if (names?.size === 0) this.namesByIp.delete(ip);
    return true;
  }

  /** Removes what expired by now (or `at`); returns the deltas (also sent to listeners). */
  expire(at = this.opts.now()): FqdnCacheEvent[] {
    const gone = new Map<string, string[]>();
    for (const names of this.byEndpoint.values()) {
      for (const [fqdn, known] of names) {
        for (const [ip, l] of known) {
          if (l.expiresAt > at) continue;
          known.delete(ip);
          if (this.release(fqdn, ip)) gone.set(fqdn, [...(gone.get(fqdn) ?? []), ip]);
        }
        if (known.size === 0) names.delete(fqdn);
      }
    }
    for (const [ep, names] of this.byEndpoint) if (names.size === 0) this.byEndpoint.delete(ep);
    return this.emit([...gone].map(([name, ips]) => ({ type: 'ipsExpired' as const, name, ips })));
  }

  /** Forgets an endpoint (deleted pod): its IPs expire unless another endpoint holds them. */
  forgetEndpoint(endpoint: number): FqdnCacheEvent[] {
    const names = this.byEndpoint.get(endpoint);
    if (!names) return [];
    this.byEndpoint.delete(endpoint);
    const events: FqdnCacheEvent[] = [];
    for (const [fqdn, known] of names) {
      const ips = [...known.keys()].filter((ip) => this.release(fqdn, ip));
      if (ips.length) events.push({ type: 'ipsExpired', name: fqdn, ips });
    }
    return this.emit(events);
  }

  /** The names an IP was learned for (Hubble's source_names / destination_names), sorted, no trailing dot. */
  namesOf(ip: string): string[] {
    return [...(this.namesByIp.get(ip) ?? [])].map((n) => n.slice(0, -1)).sort();
  }

  /** The IPs any endpoint holds for `name` (what toFQDNs selects), sorted. */
  ipsOf(name: string): string[] {
    return [...(this.holders.get(toFqdn(name))?.keys() ?? [])].sort();
  }

  /** Every entry, by endpoint, name, then IP (the rows of `cilium-dbg fqdn cache list` and the cache file). */
  entries(): FqdnCacheEntry[] {
    const out: FqdnCacheEntry[] = [];
    for (const [endpoint, names] of [...this.byEndpoint].sort((a, b) => a[0] - b[0])) {
      for (const [name, known] of [...names].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        for (const [ip, l] of [...known].sort((a, b) => (a[0] < b[0] ? -1 : 1))) out.push({ endpoint, name, ip, ...l });
      }
    }
    return out;
  }

  /** Restores entries (from the cache file): those already expired are skipped; sources become `restored`. */
  restore(entries: readonly FqdnCacheEntry[]): FqdnCacheEvent[] {
    const now = this.opts.now();
    const events: FqdnCacheEvent[] = [];
    for (const e of entries) {
      if (e.expiresAt <= now) continue;
      const at: Learned = { ttl: e.ttl, lookupTime: e.lookupTime, expiresAt: e.expiresAt, source: 'restored' };
      events.push(...this.learn(e.endpoint, toFqdn(e.name), [e.ip], at));
    }
    return events;
  }

  /** When the next entry expires (ms since the epoch), undefined when the cache is empty: when expiry should run. */
  nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const names of this.byEndpoint.values())
      for (const known of names.values())
        for (const l of known.values()) if (next === undefined || l.expiresAt < next) next = l.expiresAt;
    return next;
  }

  /** The endpoints holding entries, ascending. */
  endpoints(): number[] {
    return [...this.byEndpoint.keys()].sort((a, b) => a - b);
  }

  /** Distinct (endpoint, name) pairs held. */
  get size(): number {
    let n = 0;
    for (const names of this.byEndpoint.values()) n += names.size;
    return n;
  }

  private emit(events: FqdnCacheEvent[]): FqdnCacheEvent[] {
    for (const e of events) for (const fn of this.listeners) fn(e);
    return events;
  }
}
