// The cilium-operator process: leader-elected controllers over the cluster's Cilium objects (its
// options are parsed in config.ts).
import { Manager, type ManagerOptions } from '../framework/index.js';
import { ClusterPool } from './cluster-pool.js';
import type { OperatorOptions } from './config.js';
import { endpointGcController, podStoreController } from './endpoint-gc.js';
import { endpointIndexController, identityGcController } from './identity-gc.js';
import { ipamController } from './ipam-controller.js';
import { nodeGcController, nodeStoreController } from './node-gc.js';
import { policyValidatorControllers } from './policy-validator.js';

export function createOperator(o: OperatorOptions, extra: Partial<ManagerOptions> = {}): Manager {
  const m = new Manager({
    name: 'cilium-operator',
    kubeconfig: o.kubeconfig,
    clientRateLimit: o.clientRateLimit,
    health: o.healthAddr,
    ...(o.metricsAddr ? { metrics: o.metricsAddr } : {}),
    ...(o.debug ? { logLevel: 'debug' } : {}),
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
  const ipam = m.add(
    ipamController(new ClusterPool({ cidrs: o.clusterPoolIpv4Cidr, maskSize: o.clusterPoolIpv4MaskSize })),
  );
  const ceps = m.add(endpointIndexController());
  const pods = m.add(podStoreController());
  m.add(identityGcController(() => ceps.store, o.gc));
  m.add(
    endpointGcController(
      () => pods.store,
      () => ipam.store,
      o.gc,
    ),
  );
  const nodes = m.add(nodeStoreController());
  m.add(nodeGcController(() => nodes.store, o.gc));
  if (o.validateNetworkPolicy) for (const c of policyValidatorControllers({ clusterName: o.clusterName })) m.add(c);
  return m;
}
