// The cilium-operator process: leader-elected controllers over the cluster's Cilium objects.
import { hostname } from 'node:os';
import { Manager, type ManagerOptions } from '../framework/index.js';
import { ClusterPool } from './cluster-pool.js';
import { GC_DEFAULTS, endpointGcController, endpointIndexController, identityGcController, parseDuration, podStoreController, type GcOptions } from './gc.js';
import { ipamController } from './ipam-controller.js';

/** Operator settings, from cilium-config keys and flags (upstream names). */
export interface OperatorOptions {
  kubeconfig?: string;
  /** `cluster-pool-ipv4-cidr`: space-separated pools. */
  clusterPoolIpv4Cidr: string[];
  /** `cluster-pool-ipv4-mask-size`. */
  clusterPoolIpv4MaskSize: number;
  /** Where the Lease lives (`CILIUM_K8S_NAMESPACE`, default kube-system). */
  namespace: string;
  /** `operator-api-serve-addr` (health, `host:port`, port 0 = any free). */
  healthAddr: { host: string; port: number };
  identity: string;
  /** Lease timings (upstream: 15 s / 10 s / 2 s). */
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  gc: GcOptions;
}

export function operatorOptions(config: Record<string, string>, env: NodeJS.ProcessEnv = process.env): OperatorOptions {
  const addr = config['operator-api-serve-addr'] ?? '127.0.0.1:9234';
  const [host, port] = addr.startsWith(':') ? ['127.0.0.1', addr.slice(1)] : addr.split(':');
  return {
    kubeconfig: config.kubeconfig,
    clusterPoolIpv4Cidr: (config['cluster-pool-ipv4-cidr'] ?? '10.0.0.0/8').split(/[\s,]+/).filter(Boolean),
    clusterPoolIpv4MaskSize: Number(config['cluster-pool-ipv4-mask-size'] ?? 24),
    namespace: env.CILIUM_K8S_NAMESPACE ?? config['k8s-namespace'] ?? 'kube-system',
    healthAddr: { host: host || '127.0.0.1', port: Number(port ?? 9234) },
    identity: config.identity ?? `${hostname()}-${process.pid}`,
    leaseDurationMs: Number(config['leader-election-lease-duration-ms'] ?? 15_000),
    renewDeadlineMs: Number(config['leader-election-renew-deadline-ms'] ?? 10_000),
    retryPeriodMs: Number(config['leader-election-retry-period-ms'] ?? 2_000),
    gc: {
      identityGcIntervalMs: parseDuration(config['identity-gc-interval'], GC_DEFAULTS.identityGcIntervalMs),
      identityHeartbeatTimeoutMs: parseDuration(config['identity-heartbeat-timeout'], GC_DEFAULTS.identityHeartbeatTimeoutMs),
      identityGcRateLimit: Number(config['identity-gc-rate-limit'] ?? GC_DEFAULTS.identityGcRateLimit),
      identityGcRateIntervalMs: parseDuration(config['identity-gc-rate-interval'], GC_DEFAULTS.identityGcRateIntervalMs),
      endpointGcIntervalMs: parseDuration(config['cilium-endpoint-gc-interval'], GC_DEFAULTS.endpointGcIntervalMs),
    },
  };
}

export function createOperator(o: OperatorOptions, extra: Partial<ManagerOptions> = {}): Manager {
  const m = new Manager({
    name: 'cilium-operator',
    kubeconfig: o.kubeconfig,
    health: o.healthAddr,
    leaderElection: {
      name: 'cilium-operator-resource-lock',
      namespace: o.namespace,
      identity: o.identity,
      leaseDurationMs: o.leaseDurationMs,
      renewDeadlineMs: o.renewDeadlineMs,
      retryPeriodMs: o.retryPeriodMs,
    },
    ...extra,
  });
  const ipam = m.add(ipamController(new ClusterPool({ cidrs: o.clusterPoolIpv4Cidr, maskSize: o.clusterPoolIpv4MaskSize })));
  const ceps = m.add(endpointIndexController());
  const pods = m.add(podStoreController());
  m.add(identityGcController(() => ceps.store, o.gc));
  m.add(endpointGcController(() => pods.store, () => ipam.store, o.gc));
  return m;
}
