// The toFQDNs keys of cilium-config (upstream's names and defaults, pkg/defaults: ToFQDNsMinTTL 0
// since cilium/cilium#21439, ToFQDNsMaxIPsPerHost 1000) and the FQDN policy's own tunables.
import type { ConfigReader } from '../../framework/index.js';

export interface FqdnPolicyOptions {
  /**
   * `tofqdns-min-ttl` (seconds): the least time a learned IP stays allowed, whatever TTL the answer
   * carried. 0 (upstream's default) honours the answers' TTLs; raise it when clients keep answers
   * longer than their TTL and reconnect to an IP already expired (their SYN is then dropped).
   */
  minTtlSeconds: number;
  /** `tofqdns-endpoint-max-ip-per-hostname`: IPs kept per endpoint and name (a rotating record's history). */
  maxIpsPerHostname: number;
  /**
   * Where the learned cache is persisted (under the agent's state directory), so a restarted agent
   * keeps allowing what its pods resolved; undefined = not persisted.
   */
  cacheFile?: string;
  /** A change is written to the cache file at most this long after it happened (ms; writes are batched). */
  saveDelayMs: number;
  /**
   * Expiry runs when the next entry expires, but at most this often (ms): entries expiring within
   * it go together. Upstream's GC runs every minute; ours is as exact as this.
   */
  minGcIntervalMs: number;
}

export const DEFAULT_FQDN_POLICY: FqdnPolicyOptions = {
  minTtlSeconds: 0,
  maxIpsPerHostname: 1000,
  saveDelayMs: 1000,
  minGcIntervalMs: 1000,
};

/** The cilium-config keys (the install's values `dnsProxy.minTtl`, `dnsProxy.endpointMaxIpPerHostname`). */
export function fqdnOptions(r: ConfigReader): Pick<FqdnPolicyOptions, 'minTtlSeconds' | 'maxIpsPerHostname'> {
  return {
    // upstream takes any non-negative int; a week bounds an entry a typo could keep for ever
    minTtlSeconds: r.int('tofqdns-min-ttl', { min: 0, max: 7 * 24 * 3600 }),
    maxIpsPerHostname: r.int('tofqdns-endpoint-max-ip-per-hostname', { min: 1, max: 1 << 20 }),
  };
}
