// A pod's /etc/resolv.conf as the kubelet writes it from the pod's dnsPolicy and dnsConfig
// (https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/#pod-s-dns-policy):
//   ClusterFirst (the default)   nameserver = the cluster DNS, search <ns>.svc.<zone> svc.<zone>
//                                <zone>, options ndots:5; a hostNetwork pod gets the node's file
//   ClusterFirstWithHostNet      the cluster DNS, hostNetwork or not
//   Default                      the node's file
//   None                         only what dnsConfig says
// dnsConfig's nameservers, searches and options are merged in as the kubelet merges them.

export interface ClusterDnsConfig {
  /** The kubelet's --cluster-dns (the kube-dns Service's ClusterIP). */
  ip: string;
  /** The kubelet's --cluster-domain. */
  domain: string;
}

export interface PodDnsSpec {
  namespace: string;
  hostNetwork?: boolean;
  dnsPolicy?: string;
  dnsConfig?: {
    nameservers?: string[];
    searches?: string[];
    options?: { name: string; value?: string }[];
  };
}

/** The file's content, or undefined when the pod keeps the node's own /etc/resolv.conf. */
export function podResolvConf(pod: PodDnsSpec, cluster: ClusterDnsConfig | undefined): string | undefined {
  const policy = pod.dnsPolicy ?? 'ClusterFirst';
  const clusterFirst =
    cluster && (policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && !pod.hostNetwork));
  if (!clusterFirst && policy !== 'None') return undefined;
  const nameservers = clusterFirst ? [cluster.ip] : [];
  const searches = clusterFirst
    ? [`${pod.namespace}.svc.${cluster.domain}`, `svc.${cluster.domain}`, cluster.domain]
    : [];
  const options = new Map<string, string | undefined>(clusterFirst ? [['ndots', '5']] : []);
  const c = pod.dnsConfig ?? {};
  for (const n of c.nameservers ?? []) if (!nameservers.includes(n)) nameservers.push(n);
  for (const s of c.searches ?? []) if (!searches.includes(s)) searches.push(s);
  for (const o of c.options ?? []) options.set(o.name, o.value);
  // the resolver reads 3 nameservers and 32 search domains at most (kubelet trims the same way)
  const lines = [
    ...(searches.length ? [`search ${searches.slice(0, 32).join(' ')}`] : []),
    ...nameservers.slice(0, 3).map((n) => `nameserver ${n}`),
    ...(options.size ? [`options ${[...options].map(([k, v]) => (v === undefined ? k : `${k}:${v}`)).join(' ')}`] : []),
  ];
  return `${lines.join('\n')}\n`;
}
