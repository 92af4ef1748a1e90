// How the install fills the `cilium-config` ConfigMap: each key of the contract
// (config/cilium-config.ts: names, readers, docs) derived from one value of the install's values.
// The agent and the operator mount the ConfigMap as a directory (one file per key,
// `--config-dir=/tmp/cilium/config-map`). Each key carries both its TypeScript derivation (for
// dist/ and kustomize) and its Helm template expression (for the chart); the chart tests render
// both with non-default values and compare.
import { CONFIG_KEYS, type ConfigKeyName } from '../config/cilium-config.js';
import type { Values } from './values.js';

/** One key's value in the install. */
export interface ConfigValue {
  /** The value written into the ConfigMap. */
  value(v: Values): string;
  /** The same value as a Helm expression that renders a quoted YAML string. */
  readonly helm: string;
}

const get = (v: Values, path: string): unknown =>
  path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], v);

/** A value copied as it is: strings, booleans ("true"/"false") and integers in decimal. */
const plain = (path: string, integer = false): ConfigValue => ({
  value: (v) => String(get(v, path)),
  // Helm reads numbers in values files as float64: int64 keeps 524288 from printing as 5.24288e+05.
  helm: integer ? `{{ .Values.${path} | int64 | quote }}` : `{{ .Values.${path} | quote }}`,
});

/** `":<port>"` when the switch is on, `""` (serve nothing) when it is off. */
const serveAddr = (on: string, portPath: string, onWhenNonEmpty = false): ConfigValue => ({
  value: (v) => {
    const sw = get(v, on);
    const enabled = onWhenNonEmpty ? (sw as unknown[]).length > 0 : sw === true;
    return enabled ? `:${String(get(v, portPath))}` : '';
  },
  helm: `{{ if .Values.${on} }}{{ printf ":%d" (.Values.${portPath} | int64) | quote }}{{ else }}""{{ end }}`,
});

/** A list joined by single spaces (upstream's format for list-valued keys). */
const list = (path: string): ConfigValue => ({
  value: (v) => (get(v, path) as string[]).join(' '),
  helm: `{{ join " " .Values.${path} | quote }}`,
});

/** A value the install fixes (a path inside the pod that a mount of the install provides). */
const fixed = (value: string): ConfigValue => ({ value: () => value, helm: JSON.stringify(value) });

/** Where the agent's and operator's pods see the etcd config file (upstream's path). */
export const ETCD_CONFIG_FILE = '/var/lib/etcd-config/etcd.config';

/** Where the agent's pod sees the Secret hubble-server-certs (upstream's path). */
export const HUBBLE_TLS_DIR = '/var/lib/cilium/tls/hubble';

/** Every key's value (a key of the contract without one here does not compile). */
export const CONFIG_VALUES: Readonly<Record<ConfigKeyName, ConfigValue>> = {
  'cluster-name': plain('cluster.name'),
  'cluster-id': plain('cluster.id', true),
  debug: plain('debug.enabled'),
  'k8s-service-host': plain('k8sServiceHost'),
  'k8s-service-port': plain('k8sServicePort'),
  'identity-allocation-mode': plain('identityAllocationMode'),
  kvstore: {
    value: (v) => (v.etcd.enabled ? 'etcd' : ''),
    helm: '{{ if .Values.etcd.enabled }}"etcd"{{ else }}""{{ end }}',
  },
  'kvstore-opt': {
    value: (v) => (v.etcd.enabled ? JSON.stringify({ 'etcd.config': ETCD_CONFIG_FILE }) : ''),
    helm: `{{ if .Values.etcd.enabled }}${JSON.stringify(JSON.stringify({ 'etcd.config': '/var/lib/etcd-config/etcd.config' }))}{{ else }}""{{ end }}`,
  },
  'enable-policy': plain('policyEnforcementMode'),
  'enable-ipv4': plain('ipv4.enabled'),
  'enable-ipv6': plain('ipv6.enabled'),
  'routing-mode': plain('routingMode'),
  'auto-direct-node-routes': plain('autoDirectNodeRoutes'),
  'tunnel-protocol': plain('tunnelProtocol'),
  'tunnel-port': plain('tunnelPort', true),
  'enable-ipv4-masquerade': plain('enableIPv4Masquerade'),
  'enable-bpf-masquerade': plain('bpf.masquerade'),
  // the pod network: the one the operator's pool carves from unless the install names another
  'ipv4-native-routing-cidr': {
    value: (v) => v.ipv4NativeRoutingCIDR || (v.ipam.operator.clusterPoolIPv4PodCIDRList[0] ?? ''),
    helm: '{{ .Values.ipv4NativeRoutingCIDR | default (first .Values.ipam.operator.clusterPoolIPv4PodCIDRList) | quote }}',
  },
  ipam: plain('ipam.mode'),
  'cluster-pool-ipv4-cidr': list('ipam.operator.clusterPoolIPv4PodCIDRList'),
  'cluster-pool-ipv4-mask-size': plain('ipam.operator.clusterPoolIPv4MaskSize', true),
  'bpf-root': plain('bpf.root'),
  'bpf-ct-global-tcp-max': plain('bpf.ctTcpMax', true),
  'bpf-ct-global-any-max': plain('bpf.ctAnyMax', true),
  'bpf-policy-map-max': plain('bpf.policyMapMax', true),
  'kube-proxy-replacement': plain('kubeProxyReplacement'),
  'bpf-lb-sock': plain('socketLB.enabled'),
  'bpf-lb-map-max': plain('bpf.lbMapMax', true),
  'bpf-lb-algorithm': plain('loadBalancer.algorithm'),
  'node-port-range': {
    value: (v) => `${v.nodePort.range[0]}-${v.nodePort.range[1]}`,
    helm: '{{ printf "%d-%d" (index .Values.nodePort.range 0 | int64) (index .Values.nodePort.range 1 | int64) | quote }}',
  },
  'cgroup-root': plain('cgroup.hostRoot'),
  'monitor-aggregation': plain('bpf.monitorAggregation'),
  'enable-l7-proxy': plain('l7Proxy'),
  'external-l7-proxy': plain('externalL7Proxy'),
  'conntrack-gc-interval': plain('conntrackGCInterval'),
  'disable-cnp-status-updates': {
    value: (v) => String(!v.enableCnpStatusUpdates),
    helm: '{{ (not .Values.enableCnpStatusUpdates) | toString | quote }}',
  },
  'identity-change-grace-period': plain('identityChangeGracePeriod'),
  'tofqdns-min-ttl': plain('dnsProxy.minTtl', true),
  'tofqdns-endpoint-max-ip-per-hostname': plain('dnsProxy.endpointMaxIpPerHostname', true),
  'agent-health-port': plain('healthPort', true),
  'prometheus-serve-addr': serveAddr('prometheus.enabled', 'prometheus.port'),
  'enable-hubble': plain('hubble.enabled'),
  'hubble-listen-address': plain('hubble.listenAddress'),
  'hubble-socket-path': plain('hubble.socketPath'),
  'hubble-event-buffer-capacity': plain('hubble.eventBufferCapacity', true),
  'hubble-disable-tls': {
    value: (v) => String(!v.hubble.tls.enabled),
    helm: '{{ (not .Values.hubble.tls.enabled) | toString | quote }}',
  },
  'hubble-tls-cert-file': fixed(`${HUBBLE_TLS_DIR}/server.crt`),
  'hubble-tls-key-file': fixed(`${HUBBLE_TLS_DIR}/server.key`),
  'hubble-tls-client-ca-files': fixed(`${HUBBLE_TLS_DIR}/client-ca.crt`),
  'hubble-metrics': list('hubble.metrics.enabled'),
  'hubble-metrics-server': serveAddr('hubble.metrics.enabled', 'hubble.metrics.port', true),
  'cni-exclusive': plain('cni.exclusive'),
  // Where the agent pod mounts the host's /etc/cni/net.d (cdk8s/agent.ts), upstream's default.
  'write-cni-conf-when-ready': {
    value: () => '/host/etc/cni/net.d/05-cilium.conflist',
    helm: '"/host/etc/cni/net.d/05-cilium.conflist"',
  },
  'cni-uninstall': plain('cni.uninstall'),
  // The agent pod mounts the host's /proc/sys/net and /proc/sys/kernel below it (cdk8s/agent.ts).
  procfs: { value: () => '/host/proc', helm: '"/host/proc"' },
  'operator-api-serve-addr': {
    value: (v) => `127.0.0.1:${v.operator.healthPort}`,
    helm: '{{ printf "127.0.0.1:%d" (.Values.operator.healthPort | int64) | quote }}',
  },
  'operator-prometheus-serve-addr': serveAddr('operator.prometheus.enabled', 'operator.prometheus.port'),
  'identity-gc-interval': plain('operator.identityGCInterval'),
  'identity-heartbeat-timeout': plain('operator.identityHeartbeatTimeout'),
  'identity-gc-rate-limit': plain('operator.identityGCRateLimit', true),
  'identity-gc-rate-interval': plain('operator.identityGCRateInterval'),
  'nodes-gc-interval': plain('operator.nodeGCInterval'),
  'cilium-endpoint-gc-interval': plain('operator.endpointGCInterval'),
};

/** The ConfigMap data for these values, in the contract's order. */
export function ciliumConfigData(v: Values): Record<string, string> {
  return Object.fromEntries(CONFIG_KEYS.map((k) => [k.key, CONFIG_VALUES[k.key].value(v)]));
}

/** The ConfigMap's name (upstream's). */
export const CONFIG_MAP_NAME = 'cilium-config';

/** Where the agent and the operator find the ConfigMap inside their pods. */
export const CONFIG_DIR = '/tmp/cilium/config-map';
