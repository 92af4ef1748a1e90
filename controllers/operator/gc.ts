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

export const GC_DEFAULTS: GcOptions = {
  identityGcIntervalMs: 15 * 60_000,
  identityHeartbeatTimeoutMs: 30 * 60_000,
  identityGcRateLimit: 2500,
  identityGcRateIntervalMs: 60_000,
  endpointGcIntervalMs: 5 * 60_000,
  nodeGcIntervalMs: 5 * 60_000,
};
