// The operator's options: upstream's cilium-config keys (read from `--config-dir`) and flags.
import { hostname } from 'node:os';
import { CONFIG_DEFAULTS } from '../../config/cilium-config.js';
import {
  ConfigReader,
  apiServerEndpoint,
  refuseUnsupportedCluster,
  type ApiServerEndpoint,
} from '../framework/index.js';
import { kvstoreConfig } from '../kvstore/config.js';
import type { KvstoreOptions } from '../kvstore/options.js';
import { OperatorErrorCode } from './errors.js';
import type { GcOptions } from './gc.js';

/** The stable code of the operator's configuration errors. */
export const OPERATOR_CONFIG_ERROR = OperatorErrorCode.Config;

/**
 * Operator settings, from cilium-config keys and flags (upstream names). A cilium-config key's
 * default when absent comes from config/cilium-config.ts (the one source), a flag's is given here;
 * `operatorOptions` reads every key it knows on every call (so the keys it reads are the keys it
 * knows) and refuses a value it cannot act on.
 */
export interface OperatorOptions {
  kubeconfig?: string;
  /** `debug`: log at debug level. */
  debug: boolean;
  /** `cluster-pool-ipv4-cidr`: space-separated pools. */
  clusterPoolIpv4Cidr: string[];
  /** `cluster-pool-ipv4-mask-size`. */
  clusterPoolIpv4MaskSize: number;
  /** Where the Lease lives (`CILIUM_K8S_NAMESPACE`, default kube-system). */
  namespace: string;
  /** `operator-api-serve-addr` (health, `host:port`, port 0 = any free). */
  healthAddr: { host: string; port: number };
  /**
   * `operator-prometheus-serve-addr`: a listener serving only `/metrics` (":9963" in the
   * manifests); absent = none (the binary's default, unlike upstream's ":9963": two operators on
   * one host, as in tests, would collide). `/metrics` is also on the health address.
   */
  metricsAddr?: { host: string; port: number };
  identity: string;
  /** Lease timings (upstream: 15 s / 10 s / 2 s). */
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** `skip-crd-creation`: do not register the cilium.io CRDs at start-up. */
  skipCrdCreation: boolean;
  /**
   * `operator-k8s-client-qps` / `-burst` (upstream's flags, 100 / 200): the client-side rate limit
   * of every API request the operator makes (watches aside). It is what paces the garbage
   * collectors' deletes and marks at scale.
   */
  clientRateLimit: { qps: number; burst: number };
  gc: GcOptions;
  /** `cluster-name`: policies are judged (policy validator) as the agents translate them. */
  clusterName: string;
  /**
   * `validate-network-policy` (a flag, upstream's, default true): the operator writes the `Valid`
   * condition of every CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (informational).
   */
  validateNetworkPolicy: boolean;
  /** `k8s-service-host`/`-port`: the API server's address, when the install names it. */
  apiServer?: ApiServerEndpoint;
  /** kvstore identity mode: the heartbeat writer and the kvstore identity GC run (controllers/kvstore/). */
  kvstore?: KvstoreOptions;
}

/**
 * Reads and validates the operator's configuration. Values upstream knows but cilium-ts cannot
 * act on (kvstore identities, IPv6, IPAM modes other than cluster-pool) are refused with a
 * ConfigError naming the key: the operator would otherwise run as if they had been honoured.
 */
export function operatorOptions(
  config: Readonly<Record<string, string>> | ConfigReader,
  env: NodeJS.ProcessEnv = process.env,
): OperatorOptions {
  const r = ConfigReader.of(config, OPERATOR_CONFIG_ERROR).withKeyDefaults(CONFIG_DEFAULTS);
  refuseUnsupportedCluster(r);
  const health = r.listenAddress('operator-api-serve-addr')!;
  const pools = r
    .string('cluster-pool-ipv4-cidr')
    .split(/[\s,]+/)
    .filter(Boolean);
  if (!pools.length) r.refuse('cluster-pool-ipv4-cidr', 'needs at least one IPv4 CIDR');
  const namespace = r.raw('k8s-namespace');
  return {
    kubeconfig: r.raw('kubeconfig'),
    debug: r.bool('debug'),
    clusterPoolIpv4Cidr: pools,
    clusterPoolIpv4MaskSize: r.int('cluster-pool-ipv4-mask-size', { min: 1, max: 32 }),
    namespace: env.CILIUM_K8S_NAMESPACE ?? namespace ?? 'kube-system',
    healthAddr: { host: health.host || '127.0.0.1', port: health.port },
    metricsAddr: r.listenAddress('operator-prometheus-serve-addr'),
    identity: r.string('identity', `${hostname()}-${process.pid}`),
    leaseDurationMs: r.int('leader-election-lease-duration-ms', 15_000, { min: 1 }),
    renewDeadlineMs: r.int('leader-election-renew-deadline-ms', 10_000, { min: 1 }),
    retryPeriodMs: r.int('leader-election-retry-period-ms', 2_000, { min: 1 }),
    skipCrdCreation: r.bool('skip-crd-creation', false),
    clientRateLimit: {
      qps: r.int('operator-k8s-client-qps', 100, { min: 1 }),
      burst: r.int('operator-k8s-client-burst', 200, { min: 1 }),
    },
    clusterName: r.string('cluster-name'),
    validateNetworkPolicy: r.bool('validate-network-policy', true),
    apiServer: apiServerEndpoint(r),
    kvstore: kvstoreConfig(r),
    gc: {
      identityGcIntervalMs: r.duration('identity-gc-interval'),
      identityHeartbeatTimeoutMs: r.duration('identity-heartbeat-timeout'),
      identityGcRateLimit: r.int('identity-gc-rate-limit', { min: 1 }),
      identityGcRateIntervalMs: r.duration('identity-gc-rate-interval'),
      endpointGcIntervalMs: r.duration('cilium-endpoint-gc-interval'),
      nodeGcIntervalMs: r.duration('nodes-gc-interval'),
    },
  };
}
