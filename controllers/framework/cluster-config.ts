// The cluster-wide cilium-config settings both the agent and the operator read and must agree on:
// values upstream Cilium knows but cilium-ts cannot act on are refused here, once, so neither
// process runs as if they had been honoured.
import type { ConfigReader } from './config-reader.js';

/**
 * Reads `identity-allocation-mode`, `enable-ipv4`, `enable-ipv6` and `ipam`, and refuses what
 * cilium-ts does not do: the doublewrite identity modes, kvstore identities without `kvstore: etcd`, IPv6 pods, IPv4 switched off, and IPAM modes
 * other than cluster-pool (the operator carves CiliumNode spec.ipam.podCIDRs from its pools).
 */
export function refuseUnsupportedCluster(r: ConfigReader): void {
  const kvstore = 'the doublewrite migration modes are not supported by cilium-ts; use "crd" or "kvstore"';
  const mode = r.oneOf('identity-allocation-mode', ['crd', 'kvstore'], {
    'doublewrite-readkvstore': kvstore,
    'doublewrite-readcrd': kvstore,
  });
  const store = r.oneOf('kvstore', ['', 'etcd']);
  if (mode === 'kvstore' && store !== 'etcd')
    r.refuse('identity-allocation-mode', '"kvstore" needs kvstore: etcd (and kvstore-opt naming the etcd)');
  if (!r.bool('enable-ipv4')) r.refuse('enable-ipv4', 'cilium-ts addresses pods with IPv4 only; it must be "true"');
  if (r.bool('enable-ipv6'))
    r.refuse(
      'enable-ipv6',
      'IPv6 pod addressing is not supported by cilium-ts (cluster-pool IPAM hands out IPv4 only); set it to "false"',
    );
  const other = 'is not supported by cilium-ts; use "cluster-pool"';
  r.oneOf('ipam', ['cluster-pool'], {
    kubernetes: `IPAM from v1.Node spec.podCIDRs ${other}`,
    'multi-pool': `multi-pool IPAM ${other}`,
    eni: `ENI IPAM ${other}`,
    azure: `Azure IPAM ${other}`,
  });
}

/** Where the API server is, when the install names it (`k8s-service-host` / `k8s-service-port`). */
export interface ApiServerEndpoint {
  host: string;
  port: number;
}

/**
 * Reads `k8s-service-host` and `k8s-service-port` (upstream's k8sServiceHost / k8sServicePort):
 * the API server's own address, so that the agent and the operator reach it before anything
 * translates the `kubernetes` Service's ClusterIP (no kube-proxy: the agent is what would).
 * Empty host: undefined (the kubelet's in-cluster KUBERNETES_SERVICE_HOST/PORT stay in use).
 */
export function apiServerEndpoint(r: ConfigReader): ApiServerEndpoint | undefined {
  const host = r.string('k8s-service-host').trim();
  const rawPort = r.string('k8s-service-port').trim();
  if (!host) {
    if (rawPort) r.refuse('k8s-service-port', 'is set without k8s-service-host');
    return undefined;
  }
  if (/[\s/]/.test(host)) r.refuse('k8s-service-host', 'must be a host name or an IP address (no scheme, no path)');
  const port = rawPort ? Number(rawPort) : 443;
  if (!Number.isInteger(port) || port < 1 || port > 65535) r.refuse('k8s-service-port', 'must be a port, 1..65535');
  return { host, port };
}

/**
 * Makes the in-cluster client configuration use `ep`: it reads KUBERNETES_SERVICE_HOST/PORT, as
 * client-go does, so these are set before any client exists (as upstream's chart sets the env).
 */
export function useApiServerEndpoint(ep: ApiServerEndpoint | undefined, env: NodeJS.ProcessEnv = process.env): void {
  if (!ep) return;
  env.KUBERNETES_SERVICE_HOST = ep.host;
  env.KUBERNETES_SERVICE_PORT = String(ep.port);
}
