// The agent's FQDN policy: owns the FQDN cache the DNS proxy learns into and turns its deltas into
// policy: each IP a toFQDNs selector selects gets its CIDR identity in the ipcache and its entries
// in the endpoints' policy maps (policy/fqdn-identities.ts) — written to the kernel before `learn`
// resolves, which is what the DNS proxy awaits before it releases the answer, so the pod's first
// SYN to a new address is allowed. Entries expire at their TTL, never before `tofqdns-min-ttl`;
// expiry removes the identities. The cache is persisted and restored at start, before endpoints'
// policies are written, so a restart keeps what the pods resolved (upstream restores the DNS
// history of each endpoint, pkg/fqdn/restore). Upstream: pkg/fqdn/namemanager, daemon/cmd/fqdn.go.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { PolicyEvent } from '../../../policy/index.js';
import type { DnsLearned } from '../../../proxy/dns-proxy.js';
import { loadFqdnCache, saveFqdnCache } from '../../../proxy/fqdn-cache-file.js';
import { dnsLookups, type DnsLookup } from '../../../proxy/fqdn-cache-list.js';
import { FqdnCache, type FqdnCacheEvent } from '../../../proxy/fqdn-cache.js';
import { compileFqdnSelector } from '../../../policy/fqdn-selector.js';
import { AgentError, AgentErrorCode } from '../errors.js';
import { DEFAULT_FQDN_POLICY, type FqdnPolicyOptions } from './fqdn-options.js';

/** What the FQDN policy drives in the rest of the agent. */
export interface FqdnPolicyDeps {
  /**
   * PolicyHub.apply: the engine, then the endpoints' policy maps (written before it returns once
   * the datapath gate is open; before that the engine only learns, and the gate's opening writes).
   */
  applyPolicy: (events: PolicyEvent[]) => void;
  /** Writes the pending ipcache changes (the learned IPs' CIDR identities) to the kernel map now. */
  syncIpcache: () => void;
  /** The local endpoints that exist: what deleted ones learned is forgotten at the next expiry run. */
  endpointIds?: () => Iterable<number>;
  log: Logger;
  /** The clock, ms since the epoch (tests pass a fake one). */
  now?: () => number;
}

/** `cilium-dbg fqdn cache list` filters (upstream's query parameters of GET /fqdn/cache). */
export interface FqdnCacheFilter {
  matchpattern?: string;
  source?: string;
  endpoint?: number;
}

/** Upstream's DNS GC runs every minute: expiry never waits longer (and deleted endpoints are forgotten). */
const MAX_GC_WAIT_MS = 60_000;

export class FqdnPolicy {
  /** The cache the DNS proxy learns into (pass it as the proxy's `cache`). */
  readonly cache: FqdnCache;
  private readonly opts: FqdnPolicyOptions;
  private readonly now: () => number;
  private pending: FqdnCacheEvent[] = [];
  private flushTimer?: NodeJS.Immediate;
  private gcTimer?: NodeJS.Timeout;
  private gcAt?: number;
  private lastGc = 0;
  private saveTimer?: NodeJS.Timeout;
  private stopped = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly deps: FqdnPolicyDeps,
    options: Partial<FqdnPolicyOptions> = {},
  ) {
    this.opts = { ...DEFAULT_FQDN_POLICY, ...options };
    this.now = deps.now ?? Date.now;
    this.cache = new FqdnCache({
      minTtlSeconds: this.opts.minTtlSeconds,
      maxIpsPerHostname: this.opts.maxIpsPerHostname,
      now: this.now,
    });
    // The proxy may learn into the cache itself: its deltas are programmed on the next turn at
    // the latest, at once when `learn` follows (it always does when the proxy has the hook).
    this.unsubscribe = this.cache.onEvent((e) => {
      this.pending.push(e);
      this.flushTimer ??= setImmediate(() => this.flush());
    });
  }

  /**
   * The DNS proxy's `beforeRelease`: records the answer (the query name and its CNAME chain) and
   * resolves once the new IPs' ipcache entries and policy map entries are in the kernel maps.
   */
  readonly learn = async (learned: DnsLearned): Promise<void> => {
    for (const name of [learned.name, ...learned.cnames])
      this.cache.update(learned.endpoint.id, name, learned.ips, learned.ttl);
    this.flush();
    this.saveSoon();
  };

  /**
   * Reads the persisted cache (entries already expired are dropped) and feeds the policy engine.
   * Call before the datapath gate opens: the endpoints' first maps then allow what was learned.
   * Returns the entries restored; an unreadable file is logged and skipped (the pods look up again).
   */
  restore(): number {
    const file = this.opts.cacheFile;
    if (!file) return 0;
    try {
      this.cache.restore(loadFqdnCache(file));
    } catch (e) {
      this.deps.log.warn({ file, err: (e as Error).message }, 'the FQDN cache was not restored');
      return 0;
    }
    this.flush();
    this.scheduleGc();
    return this.cache.entries().length;
  }

  /**
   * Expiry: entries past their TTL (and those of deleted endpoints) go; IPs no name holds any more
   * lose their identities and entries. Runs by itself when the next entry expires.
   */
  gc(): void {
    this.lastGc = this.now();
    const live = this.deps.endpointIds ? new Set(this.deps.endpointIds()) : undefined;
    if (live) for (const id of this.cache.endpoints()) if (!live.has(id)) this.cache.forgetEndpoint(id);
    const before = this.pending.length;
    this.cache.expire();
    const changed = this.pending.length > before;
    this.flush();
    if (changed) this.saveSoon();
    this.scheduleGc();
  }

  /** The cache as upstream's DNSLookup models (GET /fqdn/cache), filtered; a bad pattern is a 400. */
  lookups(filter: FqdnCacheFilter = {}): DnsLookup[] {
    let matches: ((name: string) => boolean) | undefined;
    if (filter.matchpattern !== undefined) {
      const c = compileFqdnSelector({ matchPattern: filter.matchpattern });
      if (!c.ok) throw new AgentError(AgentErrorCode.BadRequest, `matchpattern: ${c.reason}`);
      matches = c.matches;
    }
    return dnsLookups(this.cache.entries()).filter(
      (l) =>
        (matches === undefined || matches(l.fqdn)) &&
        (filter.source === undefined || l.source === filter.source) &&
        (filter.endpoint === undefined || l['endpoint-id'] === filter.endpoint),
    );
  }

  /** Writes the cache file now (also done by itself after changes, and at stop). */
  save(): void {
    const file = this.opts.cacheFile;
    if (!file) return;
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      saveFqdnCache(file, this.cache.entries());
    } catch (e) {
      this.deps.log.error({ file, err: (e as Error).message }, 'writing the FQDN cache failed');
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe();
    if (this.flushTimer) clearImmediate(this.flushTimer);
    clearTimeout(this.gcTimer);
    clearTimeout(this.saveTimer);
    this.flushTimer = this.gcTimer = this.saveTimer = undefined;
    this.save();
  }

  /** The pending deltas into the engine and the maps: policy entries first, then the ipcache. */
  private flush(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.length === 0) return;
    const deltas = this.pending;
    this.pending = [];
    // Allowing: the entries exist before the ipcache maps the IP to their identity. Expiring: the
    // entries go first; until the ipcache follows, the IP's identity is allowed nothing. Either
    // way no packet is allowed that neither state allows.
    this.deps.applyPolicy([{ type: 'fqdn-names', deltas }]);
    this.deps.syncIpcache();
    if (deltas.some((d) => d.type === 'ipsAdded')) this.scheduleGc();
  }

  /** The expiry run at the next entry's expiry, at most every minGcIntervalMs, at least every minute. */
  private scheduleGc(): void {
    if (this.stopped) return;
    const next = this.cache.nextExpiry();
    if (next === undefined) return;
    const now = this.now();
    const at = Math.min(Math.max(next, this.lastGc + this.opts.minGcIntervalMs), now + MAX_GC_WAIT_MS);
    if (this.gcTimer && this.gcAt !== undefined && this.gcAt <= at) return;
    clearTimeout(this.gcTimer);
    this.gcAt = at;
    this.gcTimer = setTimeout(
      () => {
        this.gcTimer = this.gcAt = undefined;
        this.gc();
      },
      Math.max(0, at - now),
    );
    this.gcTimer.unref();
  }

  private saveSoon(): void {
    if (!this.opts.cacheFile || this.saveTimer || this.stopped) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.save();
    }, this.opts.saveDelayMs);
    this.saveTimer.unref();
  }
}
