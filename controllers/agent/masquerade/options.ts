// The masquerading keys of cilium-config (upstream's names and defaults, docs.cilium.io
// network/concepts/masquerading): on by default, eBPF or iptables, and the destinations that keep
// pod addresses.
import type { ConfigReader } from '../../framework/index.js';

export interface MasqueradeOptions {
  /** `enable-ipv4-masquerade`: pods' traffic to the world leaves with the node's address. */
  enabled: boolean;
  /**
   * `enable-bpf-masquerade`: in the node device's eBPF programs (true), or by iptables MASQUERADE
   * rules in the node (false, upstream's legacy path; needs `iptables` on the node).
   */
  bpf: boolean;
  /**
   * `ipv4-native-routing-cidr`: destinations never masqueraded (the pod network). Absent: this
   * node's pod CIDR only, as upstream; pods on other nodes are then masqueraded too unless the
   * network routes them, so an install sets the cluster pool here.
   */
  nativeRoutingCidr?: string;
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

export function masqueradeOptions(r: ConfigReader): MasqueradeOptions {
  const cidr = r.string('ipv4-native-routing-cidr').trim();
  const m = CIDR.exec(cidr);
  if (cidr && (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32))
    r.refuse('ipv4-native-routing-cidr', 'must be an IPv4 CIDR such as 10.0.0.0/8');
  return {
    enabled: r.bool('enable-ipv4-masquerade'),
    bpf: r.bool('enable-bpf-masquerade'),
    ...(cidr ? { nativeRoutingCidr: cidr } : {}),
  };
}
