// The `cilium-config` ConfigMap: upstream's key names, each derived from one value. The agent and
// the operator mount it as a directory (one file per key, `--config-dir=/tmp/cilium/config-map`)
// and each reads exactly the keys listed here for it (test/install/config-contract.test.ts pins
// that): a key is acted on, or a value cilium-ts cannot act on is refused at start-up naming the
// key. A key neither knows is logged as a warning.
// Each key carries both its TypeScript derivation (for dist/ and kustomize) and its Helm template
// expression (for the chart); the chart tests render both with non-default values and compare.
import type { Values } from './values.js';

/** Which process reads a key. */
export type ConfigReader = 'agent' | 'operator' | 'agent+operator';

export interface ConfigKey {
  /** The ConfigMap key, as upstream Cilium spells the flag. */
  readonly key: string;
  readonly reader: ConfigReader;
  /** What the key does, for the binaries' authors and for operators reading the ConfigMap. */
  readonly doc: string;
  /** The value written into the ConfigMap. */
  value(v: Values): string;
  /** The same value as a Helm expression that renders a quoted YAML string. */
  readonly helm: string;
}

const get = (v: Values, path: string): unknown =>
  path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], v);

/** A value copied as it is: strings, booleans ("true"/"false") and integers in decimal. */
const plain = (key: string, reader: ConfigReader, path: string, doc: string, integer = false): ConfigKey => ({
  key,
  reader,
  doc,
  value: (v) => String(get(v, path)),
  // Helm reads numbers in values files as float64: int64 keeps 524288 from printing as 5.24288e+05.
  helm: integer ? `{{ .Values.${path} | int64 | quote }}` : `{{ .Values.${path} | quote }}`,
});

/** `":<port>"` when the switch is on, `""` (serve nothing) when it is off. */
const serveAddr = (
  key: string,
  reader: ConfigReader,
  on: string,
  portPath: string,
  doc: string,
  onWhenNonEmpty = false,
): ConfigKey => ({
  key,
  reader,
  doc,
  value: (v) => {
    const sw = get(v, on);
    const enabled = onWhenNonEmpty ? (sw as unknown[]).length > 0 : sw === true;
    return enabled ? `:${String(get(v, portPath))}` : '';
  },
  helm: `{{ if .Values.${on} }}{{ printf ":%d" (.Values.${portPath} | int64) | quote }}{{ else }}""{{ end }}`,
});

/** A list joined by single spaces (upstream's format for list-valued keys). */
const list = (key: string, reader: ConfigReader, path: string, doc: string): ConfigKey => ({
  key,
  reader,
  doc,
  value: (v) => (get(v, path) as string[]).join(' '),
  helm: `{{ join " " .Values.${path} | quote }}`,
});

/** Every key of `cilium-config`, in the order they are written. */
export const CONFIG_KEYS: readonly ConfigKey[] = [
  plain(
    'cluster-name',
    'agent',
    'cluster.name',
    'Cluster name; endpoints get the identity label io.cilium.k8s.policy.cluster=<name>.',
  ),
  plain(
    'cluster-id',
    'agent',
    'cluster.id',
    'ClusterMesh cluster ID, 0..255 (0 = not meshed); bits 16-23 of every identity the agents allocate.',
    true,
  ),
  plain('debug', 'agent+operator', 'debug.enabled', 'Debug logging ("true"/"false").'),
  plain(
    'identity-allocation-mode',
    'agent+operator',
    'identityAllocationMode',
    '"crd": identities are CiliumIdentity objects ("kvstore" is refused: not supported by cilium-ts).',
  ),
  plain('enable-policy', 'agent', 'policyEnforcementMode', 'Policy enforcement mode: "default" | "always" | "never".'),
  plain('enable-ipv4', 'agent+operator', 'ipv4.enabled', 'IPv4 pod addressing; must be "true".'),
  plain(
    'enable-ipv6',
    'agent+operator',
    'ipv6.enabled',
    'IPv6 pod addressing; must be "false" (not supported by cilium-ts).',
  ),
  plain('routing-mode', 'agent', 'routingMode', '"native" ("tunnel" is refused: not supported by cilium-ts).'),
  plain(
    'auto-direct-node-routes',
    'agent',
    'autoDirectNodeRoutes',
    'Native routing: route other nodes\' pod CIDRs via their InternalIP ("true"/"false").',
  ),
  plain(
    'tunnel-protocol',
    'agent',
    'tunnelProtocol',
    '"vxlan" | "geneve": validated; only meaningful in tunnel routing mode, which cilium-ts does not support.',
  ),
  plain(
    'ipam',
    'agent+operator',
    'ipam.mode',
    '"cluster-pool": the operator writes CiliumNode spec.ipam.podCIDRs ("kubernetes" is refused: not supported by cilium-ts).',
  ),
  list(
    'cluster-pool-ipv4-cidr',
    'operator',
    'ipam.operator.clusterPoolIPv4PodCIDRList',
    'Space-separated IPv4 CIDRs the operator carves node PodCIDRs from.',
  ),
  plain(
    'cluster-pool-ipv4-mask-size',
    'operator',
    'ipam.operator.clusterPoolIPv4MaskSize',
    'Prefix length of each node PodCIDR.',
    true,
  ),
  plain('bpf-root', 'agent', 'bpf.root', 'bpffs mount point; maps are pinned under <bpf-root>/tc/globals/.'),
  plain(
    'bpf-ct-global-tcp-max',
    'agent',
    'bpf.ctTcpMax',
    'TCP conntrack entries; cilium_ct4_global holds TCP and non-TCP flows, sized tcp-max + any-max.',
    true,
  ),
  plain(
    'bpf-ct-global-any-max',
    'agent',
    'bpf.ctAnyMax',
    'Non-TCP conntrack entries; see bpf-ct-global-tcp-max.',
    true,
  ),
  plain('bpf-policy-map-max', 'agent', 'bpf.policyMapMax', 'Entries of each endpoint policy map.', true),
  plain(
    'monitor-aggregation',
    'agent',
    'bpf.monitorAggregation',
    'Trace event aggregation: "medium" | "maximum" (a trace per new connection and per first FIN/RST; "none"/"low" are refused).',
  ),
  plain('conntrack-gc-interval', 'agent', 'conntrackGCInterval', 'Conntrack GC period (Go duration); "0s" = adaptive.'),
  plain(
    'identity-change-grace-period',
    'agent',
    'identityChangeGracePeriod',
    'Grace period before an endpoint switches to a new identity (Go duration).',
  ),
  plain(
    'agent-health-port',
    'agent',
    'healthPort',
    'Port of the agent health endpoint on 127.0.0.1 (GET /healthz).',
    true,
  ),
  serveAddr(
    'prometheus-serve-addr',
    'agent',
    'prometheus.enabled',
    'prometheus.port',
    'Agent metrics listen address (":9962"); empty = no metrics server.',
  ),
  plain('enable-hubble', 'agent', 'hubble.enabled', 'Run the Hubble observer and gRPC server ("true"/"false").'),
  plain('hubble-listen-address', 'agent', 'hubble.listenAddress', 'Hubble gRPC TCP listen address (":4244").'),
  plain('hubble-socket-path', 'agent', 'hubble.socketPath', 'Hubble gRPC unix socket.'),
  plain(
    'hubble-event-buffer-capacity',
    'agent',
    'hubble.eventBufferCapacity',
    'Flow ring capacity per node (2^n - 1).',
    true,
  ),
  list(
    'hubble-metrics',
    'agent',
    'hubble.metrics.enabled',
    'Space-separated Hubble metric handlers ("dns drop tcp flow icmp"); empty = none.',
  ),
  serveAddr(
    'hubble-metrics-server',
    'agent',
    'hubble.metrics.enabled',
    'hubble.metrics.port',
    'Hubble metrics listen address (":9965"); empty when hubble-metrics is empty.',
    true,
  ),
  plain(
    'cni-exclusive',
    'agent',
    'cni.exclusive',
    'Rename other CNI configurations to *.cilium_bak ("true"/"false"), at start-up and on every change; also read by the install-cni init container.',
  ),
  {
    key: 'operator-api-serve-addr',
    reader: 'operator',
    doc: 'Operator health endpoint address ("127.0.0.1:9234", GET /healthz).',
    value: (v) => `127.0.0.1:${v.operator.healthPort}`,
    helm: '{{ printf "127.0.0.1:%d" (.Values.operator.healthPort | int64) | quote }}',
  },
  serveAddr(
    'operator-prometheus-serve-addr',
    'operator',
    'operator.prometheus.enabled',
    'operator.prometheus.port',
    'Operator metrics listen address (":9963"); empty = no metrics server.',
  ),
  plain(
    'identity-gc-interval',
    'operator',
    'operator.identityGCInterval',
    'Period of the CiliumIdentity garbage collector (Go duration; "0" disables).',
  ),
  plain(
    'identity-heartbeat-timeout',
    'operator',
    'operator.identityHeartbeatTimeout',
    'Unused identities older than this are deleted (Go duration).',
  ),
  plain(
    'identity-gc-rate-limit',
    'operator',
    'operator.identityGCRateLimit',
    'Maximum identity deletions per identity-gc-rate-interval.',
    true,
  ),
  plain(
    'identity-gc-rate-interval',
    'operator',
    'operator.identityGCRateInterval',
    'Window of identity-gc-rate-limit (Go duration).',
  ),
  plain(
    'nodes-gc-interval',
    'operator',
    'operator.nodeGCInterval',
    'Period of the CiliumNode garbage collector (Go duration).',
  ),
  plain(
    'cilium-endpoint-gc-interval',
    'operator',
    'operator.endpointGCInterval',
    'Period of the CiliumEndpoint garbage collector (Go duration).',
  ),
];

/** The ConfigMap data for these values. */
export function ciliumConfigData(v: Values): Record<string, string> {
  return Object.fromEntries(CONFIG_KEYS.map((k) => [k.key, k.value(v)]));
}

/** The keys a process reads. */
export function configKeysOf(process: 'agent' | 'operator'): string[] {
  return CONFIG_KEYS.filter((k) => k.reader.split('+').includes(process)).map((k) => k.key);
}

/** Where the agent and the operator find the ConfigMap inside their pods. */
export const CONFIG_DIR = '/tmp/cilium/config-map';
