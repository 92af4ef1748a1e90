// The `cilium-config` ConfigMap's contract: every key (upstream Cilium's names), the process that
// reads it, the value that process assumes when the key is absent, and what the key does. The
// install (cdk8s/) writes exactly these keys; the agent and the operator each read exactly the
// keys listed for them (test/install/config-contract.test.ts pins both sides) and report any
// other key as unknown. It imports nothing, so the binaries and the installer can both stand on it.

/** A process that reads cilium-config. */
export type ConfigProcess = 'agent' | 'operator';

/** Which process reads a key. */
export type ConfigKeyReader = ConfigProcess | 'agent+operator';

export interface ConfigKey<K extends string = string> {
  /** The ConfigMap key, as upstream Cilium spells the flag. */
  readonly key: K;
  readonly reader: ConfigKeyReader;
  /** The value the reading process uses when the key is absent (as the ConfigMap would spell it). */
  readonly default: string;
  /** What the key does, for the binaries' authors and for operators reading the ConfigMap. */
  readonly doc: string;
}

const key = <const K extends string>(key: K, reader: ConfigKeyReader, dflt: string, doc: string): ConfigKey<K> => ({
  key,
  reader,
  default: dflt,
  doc,
});

/** Every key of `cilium-config`, in the order the install writes them. */
export const CONFIG_KEYS = [
  key(
    'cluster-name',
    'agent+operator',
    'default',
    'Cluster name; endpoints get the identity label io.cilium.k8s.policy.cluster=<name>.',
  ),
  key(
    'cluster-id',
    'agent',
    '0',
    'ClusterMesh cluster ID, 0..255 (0 = not meshed); bits 16-23 of every identity the agents allocate.',
  ),
  key('debug', 'agent+operator', 'false', 'Debug logging ("true"/"false").'),
  key(
    'k8s-service-host',
    'agent+operator',
    '',
    'The API server address the agent and the operator use instead of the kubelet-injected KUBERNETES_SERVICE_HOST (a ClusterIP that needs kube-proxy or the agent itself to reach); empty = the injected one.',
  ),
  key('k8s-service-port', 'agent+operator', '', 'The API server port with k8s-service-host; empty = 443.'),
  key(
    'identity-allocation-mode',
    'agent+operator',
    'crd',
    '"crd": identities are CiliumIdentity objects; "kvstore": identities (and the ipcache) live in etcd (needs kvstore: etcd).',
  ),
  key(
    'kvstore',
    'agent+operator',
    '',
    'The kvstore: "etcd", or empty for none (identities and the ipcache through the API server).',
  ),
  key(
    'kvstore-opt',
    'agent+operator',
    '',
    'kvstore options, a JSON map: "etcd.config" names the etcd config file (endpoints, trusted-ca-file, cert-file, key-file), or "etcd.address" an endpoint.',
  ),
  key('enable-policy', 'agent', 'default', 'Policy enforcement mode: "default" | "always" | "never".'),
  key('enable-ipv4', 'agent+operator', 'true', 'IPv4 pod addressing; must be "true".'),
  key('enable-ipv6', 'agent+operator', 'false', 'IPv6 pod addressing; must be "false" (not supported by cilium-ts).'),
  key(
    'routing-mode',
    'agent',
    'native',
    '"native" (the node network routes pod CIDRs) | "tunnel" (VXLAN/Geneve encapsulation between nodes).',
  ),
  key(
    'auto-direct-node-routes',
    'agent',
    'true',
    'Native routing: route other nodes\' pod CIDRs via their InternalIP ("true"/"false").',
  ),
  key('tunnel-protocol', 'agent', 'vxlan', '"vxlan" | "geneve": the encapsulation in tunnel routing mode.'),
  key(
    'enable-ipv4-masquerade',
    'agent',
    'true',
    'Pods\' IPv4 traffic to destinations outside ipv4-native-routing-cidr (and not a node) leaves with the node\'s address ("true"/"false").',
  ),
  key(
    'enable-bpf-masquerade',
    'agent',
    'true',
    'Masquerade in the node device\'s BPF programs ("true"); "false": iptables MASQUERADE rules in the node, upstream\'s legacy path.',
  ),
  key(
    'ipv4-native-routing-cidr',
    'agent',
    '',
    "Destinations reached without masquerading (the pod network); empty = this node's pod CIDR only, as upstream.",
  ),
  key(
    'tunnel-port',
    'agent',
    '0',
    "UDP port of the tunnel; 0 = the protocol's (VXLAN 8472, Geneve 6081). Tunnel mode only.",
  ),
  key(
    'ipam',
    'agent+operator',
    'cluster-pool',
    '"cluster-pool": the operator writes CiliumNode spec.ipam.podCIDRs ("kubernetes" is refused: not supported by cilium-ts).',
  ),
  key(
    'cluster-pool-ipv4-cidr',
    'operator',
    '10.0.0.0/8',
    'Space-separated IPv4 CIDRs the operator carves node PodCIDRs from.',
  ),
  key('cluster-pool-ipv4-mask-size', 'operator', '24', 'Prefix length of each node PodCIDR.'),
  key('bpf-root', 'agent', '/sys/fs/bpf', 'bpffs mount point; maps are pinned under <bpf-root>/tc/globals/.'),
  key(
    'bpf-ct-global-tcp-max',
    'agent',
    '524288',
    'TCP conntrack entries; cilium_ct4_global holds TCP and non-TCP flows, sized tcp-max + any-max.',
  ),
  key('bpf-ct-global-any-max', 'agent', '262144', 'Non-TCP conntrack entries; see bpf-ct-global-tcp-max.'),
  key('bpf-policy-map-max', 'agent', '16384', 'Entries of each endpoint policy map.'),
  key(
    'kube-proxy-replacement',
    'agent',
    'true',
    '"true": Services are balanced without kube-proxy, NodePort, ExternalIPs and LoadBalancer frontends included; "false": ClusterIP frontends only.',
  ),
  key(
    'bpf-lb-sock',
    'agent',
    'true',
    'Socket-level load balancing (cgroup connect/sendmsg/recvmsg/getpeername programs); must be "true" (cilium-ts has no per-packet ClusterIP translation).',
  ),
  key(
    'bpf-lb-map-max',
    'agent',
    '65536',
    'Entries of the service, backend, reverse-NAT and affinity maps (cilium_lb4_*); at most 65535 frontends get an id.',
  ),
  key(
    'bpf-lb-algorithm',
    'agent',
    'random',
    'Backend selection for new connections: "random" ("maglev" is refused: not yet supported by cilium-ts).',
  ),
  key('node-port-range', 'agent', '30000-32767', 'NodePort range, "min-max" (or "min,max").'),
  key(
    'cgroup-root',
    'agent',
    '/run/cilium/cgroupv2',
    'cgroup v2 directory the socket-LB programs attach to; every process below it is balanced.',
  ),
  key(
    'monitor-aggregation',
    'agent',
    'medium',
    'Trace event aggregation: "medium" | "maximum" (a trace per new connection and per first FIN/RST; "none"/"low" are refused).',
  ),
  key(
    'enable-l7-proxy',
    'agent',
    'true',
    'Run the per-node L7 proxy that ports with rules.http are redirected to ("true"/"false"); "false": such ports are dropped.',
  ),
  key(
    'external-l7-proxy',
    'agent',
    'true',
    'The L7 proxies run in their own DaemonSet (cilium-l7proxy) and in the agent, on the same ports (SO_REUSEPORT): either may restart while the other answers ("true"); "false": inside the agent only.',
  ),
  key('conntrack-gc-interval', 'agent', '0s', 'Conntrack GC period (Go duration); "0s" = adaptive.'),
  key(
    'disable-cnp-status-updates',
    'agent',
    'true',
    'Agents write no status into CiliumNetworkPolicies and CiliumClusterwideNetworkPolicies ("true", upstream\'s default since v1.14: every agent writing into every policy does not scale); the operator\'s policy validator writes their Valid condition. "false": each agent writes it too.',
  ),
  key(
    'identity-change-grace-period',
    'agent',
    '5s',
    'Grace period before an endpoint switches to a new identity (Go duration).',
  ),
  key(
    'tofqdns-min-ttl',
    'agent',
    '0',
    "Least seconds an IP learned by the DNS proxy stays allowed by toFQDNs policies; shorter TTLs are raised to it; 0 = the answers' TTLs.",
  ),
  key(
    'tofqdns-endpoint-max-ip-per-hostname',
    'agent',
    '1000',
    'IPs kept per endpoint and DNS name for toFQDNs policies; past it the ones expiring first are dropped.',
  ),
  key('agent-health-port', 'agent', '9879', 'Port of the agent health endpoint on 127.0.0.1 (GET /healthz).'),
  key('prometheus-serve-addr', 'agent', '', 'Agent metrics listen address (":9962"); empty = no metrics server.'),
  key('enable-hubble', 'agent', 'true', 'Run the Hubble observer and gRPC server ("true"/"false").'),
  key('hubble-listen-address', 'agent', ':4244', 'Hubble gRPC TCP listen address (":4244").'),
  key('hubble-socket-path', 'agent', '/var/run/cilium/hubble.sock', 'Hubble gRPC unix socket.'),
  key('hubble-event-buffer-capacity', 'agent', '4095', 'Flow ring capacity per node (2^n - 1).'),
  key(
    'hubble-disable-tls',
    'agent',
    'true',
    'Serve hubble-listen-address without TLS ("true"/"false"); the install writes "false" unless hubble.tls.enabled=false.',
  ),
  key(
    'hubble-tls-cert-file',
    'agent',
    '/var/lib/cilium/tls/hubble/server.crt',
    'Hubble server certificate (tls.crt of the Secret hubble-server-certs); re-read while the agent runs.',
  ),
  key('hubble-tls-key-file', 'agent', '/var/lib/cilium/tls/hubble/server.key', 'Key of hubble-tls-cert-file.'),
  key(
    'hubble-tls-client-ca-files',
    'agent',
    '/var/lib/cilium/tls/hubble/client-ca.crt',
    'CAs a client certificate must chain to (space-separated files); a client without one is refused.',
  ),
  key(
    'hubble-metrics',
    'agent',
    '',
    'Space-separated Hubble metric handlers ("dns drop tcp flow icmp"); empty = none.',
  ),
  // Absent, the agent serves ":9965" when hubble-metrics names a handler; "" goes with that key's own default.
  key(
    'hubble-metrics-server',
    'agent',
    '',
    'Hubble metrics listen address (":9965"); empty when hubble-metrics is empty.',
  ),
  key(
    'cni-exclusive',
    'agent',
    'false',
    'Rename other CNI configurations to *.cilium_bak ("true"/"false"), at start-up and on every change; also read by the install-cni init container.',
  ),
  key(
    'write-cni-conf-when-ready',
    'agent',
    '',
    'Path the agent writes the CNI configuration to once it is ready (its datapath programmed), and removes on shutdown when cni-uninstall is "true"; empty = the agent writes none.',
  ),
  key(
    'cni-uninstall',
    'agent',
    'false',
    'Remove the CNI configuration written by write-cni-conf-when-ready, and put back the *.cilium_bak ones, when the agent shuts down ("true"/"false").',
  ),
  key(
    'procfs',
    'agent',
    '/proc',
    "Where the agent finds the host's /proc/sys/net (sysctls); the install mounts the host's at /host/proc/sys/net.",
  ),
  key(
    'operator-api-serve-addr',
    'operator',
    '127.0.0.1:9234',
    'Operator health endpoint address ("127.0.0.1:9234", GET /healthz).',
  ),
  key(
    'operator-prometheus-serve-addr',
    'operator',
    '',
    'Operator metrics listen address (":9963"); empty = no metrics server.',
  ),
  key(
    'identity-gc-interval',
    'operator',
    '15m0s',
    'Period of the CiliumIdentity garbage collector (Go duration; "0" disables).',
  ),
  key(
    'identity-heartbeat-timeout',
    'operator',
    '30m0s',
    'Unused identities older than this are deleted (Go duration).',
  ),
  key('identity-gc-rate-limit', 'operator', '2500', 'Maximum identity deletions per identity-gc-rate-interval.'),
  key('identity-gc-rate-interval', 'operator', '1m0s', 'Window of identity-gc-rate-limit (Go duration).'),
  key('nodes-gc-interval', 'operator', '5m0s', 'Period of the CiliumNode garbage collector (Go duration).'),
  key(
    'cilium-endpoint-gc-interval',
    'operator',
    '5m0s',
    'Period of the CiliumEndpoint garbage collector (Go duration).',
  ),
] as const;

/** The name of a cilium-config key. */
export type ConfigKeyName = (typeof CONFIG_KEYS)[number]['key'];

/** The keys a process reads. */
export function configKeysOf(process: ConfigProcess): string[] {
  return CONFIG_KEYS.filter((k) => k.reader.split('+').includes(process)).map((k) => k.key);
}

/** Each key's value when absent, as the ConfigMap would spell it (what the binaries' readers fall back to). */
export const CONFIG_DEFAULTS: ReadonlyMap<string, string> = new Map(CONFIG_KEYS.map((k) => [k.key, k.default]));
