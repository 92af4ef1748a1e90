// The kvstore settings as the agent and the operator read them from cilium-config and flags:
// `identity-allocation-mode: kvstore` with `kvstore: etcd` turns the mode on (the cluster-wide
// check in the framework refuses one without the other); `kvstore-opt` names the etcd;
// `kvstore-lease-ttl` (upstream 15m), and for tests `kvstore-heartbeat-timeout` /
// `kvstore-heartbeat-interval` (upstream fixes 2 min / 1 min), change the timings.
import { KvstoreError, KvstoreErrorCode } from './errors.js';
import { KVSTORE_DEFAULTS, kvstoreOptionsFrom, type KvstoreOptions } from './options.js';

/** The reads this needs (the framework's ConfigReader has them; this room does not import it). */
export interface KvstoreConfigSource {
  string(key: string, dflt?: string): string;
  duration(key: string, dfltMs?: number): number;
  refuse(key: string, reason: string): never;
}

/** The kvstore options when the kvstore identity mode is on, else undefined. Reads every key each time. */
export function kvstoreConfig(r: KvstoreConfigSource): KvstoreOptions | undefined {
  const mode = r.string('identity-allocation-mode');
  const store = r.string('kvstore');
  const opt = r.string('kvstore-opt');
  const leaseTtlMs = r.duration('kvstore-lease-ttl', KVSTORE_DEFAULTS.leaseTtlSeconds * 1000);
  const heartbeatStaleMs = r.duration('kvstore-heartbeat-timeout', KVSTORE_DEFAULTS.heartbeatStaleMs);
  const heartbeatIntervalMs = r.duration('kvstore-heartbeat-interval', KVSTORE_DEFAULTS.heartbeatIntervalMs);
  if (mode !== 'kvstore' || store !== 'etcd') return undefined;
  if (leaseTtlMs < 1000) r.refuse('kvstore-lease-ttl', 'must be at least 1s (an etcd lease TTL is in whole seconds)');
  try {
    return kvstoreOptionsFrom(opt, {
      leaseTtlSeconds: Math.round(leaseTtlMs / 1000),
      heartbeatStaleMs,
      heartbeatIntervalMs,
    });
  } catch (e) {
    if (e instanceof KvstoreError && e.code === KvstoreErrorCode.Config) r.refuse('kvstore-opt', e.message);
    throw e;
  }
}
