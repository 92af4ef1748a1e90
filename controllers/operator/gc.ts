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
 * client's rate limit (`operator-k8s-client-qps`, 100) when each request takes tens of ms.
 */
export const GC_WORKERS = 8;
