// The settings of the operator's garbage collectors (upstream operator/identitygc, operator/endpointgc
// and the CiliumNode GC); each collector lives in its own module: identity-gc.ts, endpoint-gc.ts,
// node-gc.ts.

export interface GcOptions {
  /** `identity-gc-interval` (upstream 15m); how often each identity is looked at. */
  identityGcIntervalMs: number;
  /** `identity-heartbeat-timeout` (upstream 30m); how long a marked identity must stay unused. */
  identityHeartbeatTimeoutMs: number;
  /** `identity-gc-rate-limit` per `identity-gc-rate-interval` (upstream 2500 per 1m). */
  identityGcRateLimit: number;
  identityGcRateIntervalMs: number;
  /** `cilium-endpoint-gc-interval` (upstream 5m). */
  endpointGcIntervalMs: number;
  /** `nodes-gc-interval` (upstream 5m): how long a CiliumNode without a Node lives, at least. */
  nodeGcIntervalMs: number;
}

/**
 * Reconciles in flight at once in each collector: enough for its deletes and marks to reach the
 * client's rate limit (`operator-k8s-client-qps`, 100) while a request takes up to 160 ms (a
 * DELETE on a busy 2-core devcluster: p90 77 ms, p99 174 ms during the 10,000-CEP GC at load 25;
 * 8 workers fell short of 100/s beyond 80 ms). More only wait for the bucket's tokens.
 */
export const GC_WORKERS = 16;
