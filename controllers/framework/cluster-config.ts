// The cluster-wide cilium-config settings both the agent and the operator read and must agree on:
// values upstream Cilium knows but cilium-ts cannot act on are refused here, once, so neither
// process runs as if they had been honoured.
import type { ConfigReader } from './config-reader.js';

/**
 * Reads `identity-allocation-mode`, `enable-ipv4`, `enable-ipv6` and `ipam`, and refuses what
 * cilium-ts does not do: identities in a kvstore, IPv6 pods, IPv4 switched off, and IPAM modes
 * other than cluster-pool (the operator carves CiliumNode spec.ipam.podCIDRs from its pools).
 */
export function refuseUnsupportedCluster(r: ConfigReader): void {
  const kvstore = 'identities in a kvstore are not supported by cilium-ts (they are CiliumIdentity objects); use "crd"';
  r.oneOf('identity-allocation-mode', ['crd'], {
    kvstore,
    'doublewrite-readkvstore': kvstore,
    'doublewrite-readcrd': kvstore,
  });
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
