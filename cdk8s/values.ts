// The typed configuration of the whole install: every image and tunable, with its default and what
// it does, in one place. The shape is the Helm chart's values (upstream Cilium's value names where
// they exist), so `helm install --set operator.replicas=3` and `new InstallChart(app, { operator:
// { replicas: 3 } })` mean the same thing. From this one TypeBox schema come the TypeScript type
// (`Values`), the defaults (`DEFAULT_VALUES`), charts/cilium-ts/values.schema.json and the comments
// of charts/cilium-ts/values.yaml.
import { Type, type Static, type TLiteral, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

const str = (def: string, description: string, extra: object = {}) =>
  Type.String({ default: def, description, ...extra });
const int = (def: number, description: string, extra: object = {}) =>
  Type.Integer({ default: def, description, ...extra });
/** One of a fixed set of strings: a literal union in TypeScript and in the JSON schema. */
const oneOf = <const T extends readonly [string, ...string[]]>(def: T[number], values: T, description: string) =>
  Type.Union(values.map((x) => Type.Literal(x)) as unknown as TLiteral<T[number]>[], { default: def, description });
const bool = (def: boolean, description: string) => Type.Boolean({ default: def, description });
const strs = (def: string[], description: string) => Type.Array(Type.String(), { default: def, description });
const obj = <T extends Record<string, TSchema>>(props: T, description: string) =>
  Type.Object(props, { description, additionalProperties: false, default: {} });
const port = (def: number, description: string) => int(def, description, { minimum: 1, maximum: 65535 });
/** A Kubernetes duration as the Go binaries print it (`5m0s`, `15m`, `30m`). */
const duration = (def: string, description: string) =>
  str(def, description, { pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$' });

const image = (repository: string, what: string) =>
  obj(
    {
      repository: str(repository, `Image repository of ${what}.`),
      tag: str('v0.1.0', `Image tag of ${what}.`),
      pullPolicy: oneOf('IfNotPresent', ['Always', 'IfNotPresent', 'Never'], `imagePullPolicy of ${what}.`),
      digest: str('', `Image digest of ${what} (\`sha256:…\`), used with useDigest.`, {
        pattern: '^(sha256:[a-f0-9]{64})?$',
      }),
      useDigest: bool(
        false,
        `Pin ${what} by digest: \`repository:tag@digest\` (as upstream; ignored while digest is empty).`,
      ),
    },
    `The container image of ${what}.`,
  );

const quantity = (def: string, description: string) =>
  str(def, description, { pattern: '^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$' });
const resources = (cpu: string, memory: string, memoryLimit: string, what: string) =>
  obj(
    {
      requests: obj(
        { cpu: quantity(cpu, 'CPU request.'), memory: quantity(memory, 'Memory request.') },
        `Requests of ${what}.`,
      ),
      limits: obj(
        {
          memory: quantity(
            memoryLimit,
            'Memory limit (no CPU limit: throttling a datapath controller only delays it).',
          ),
        },
        `Limits of ${what}.`,
      ),
    },
    `Resources of ${what}.`,
  );

export const ValuesSchema = Type.Object(
  {
    image: image('ghcr.io/cilium-ts/cilium', 'the agent (cilium-agent, cilium-dbg and the CNI plugin)'),
    imagePullSecrets: Type.Array(
      Type.Object({ name: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
      {
        default: [],
        description:
          'Secrets (type kubernetes.io/dockerconfigjson, in the release namespace) every workload pulls its images with, as upstream: `--set imagePullSecrets[0].name=regcred`.',
      },
    ),
    debug: obj({ enabled: bool(false, 'Debug logging in the agent and the operator (`debug`).') }, 'Debug logging.'),
    cluster: obj(
      {
        name: str(
          'default',
          'Name of the cluster (`cluster-name`): every endpoint carries the identity label io.cilium.k8s.policy.cluster=<name>.',
          { pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 32 },
        ),
        id: int(0, 'Cluster ID for ClusterMesh (`cluster-id`), 0 when not meshed, at most 255.', {
          minimum: 0,
          maximum: 255,
        }),
      },
      'The cluster this install belongs to.',
    ),
    identityAllocationMode: oneOf(
      'crd',
      ['crd', 'kvstore'],
      'Where security identities are allocated (`identity-allocation-mode`): crd = CiliumIdentity objects; kvstore = in etcd (needs etcd.enabled).',
    ),
    etcd: obj(
      {
        enabled: bool(
          false,
          'Use an external etcd as the kvstore (`kvstore: etcd`); with identityAllocationMode kvstore, identities and the ipcache live there.',
        ),
        endpoints: strs(['https://CHANGE-ME:2379'], "etcd client URLs (the etcd-config file's endpoints)."),
        ssl: bool(
          false,
          'TLS to etcd with the Secret cilium-etcd-secrets (etcd-client-ca.crt, etcd-client.crt, etcd-client.key).',
        ),
      },
      "The external etcd kvstore (upstream's etcd.* values).",
    ),
    policyEnforcementMode: oneOf(
      'default',
      ['default', 'always', 'never'],
      'Policy enforcement (`enable-policy`): default = default-deny once a rule selects an endpoint; always; never.',
    ),
    ipv4: obj(
      { enabled: bool(true, 'IPv4 pod addressing (`enable-ipv4`); cilium-ts needs it: false is refused at start-up.') },
      'IPv4.',
    ),
    ipv6: obj(
      {
        enabled: bool(
          false,
          'IPv6 pod addressing (`enable-ipv6`); not supported by cilium-ts: the agent and operator refuse true at start-up.',
        ),
      },
      'IPv6.',
    ),
    // Upstream defaults to tunnel (VXLAN); cilium-ts keeps native as the default it has always had.
    routingMode: oneOf(
      'native',
      ['native', 'tunnel'],
      'How pod traffic crosses nodes (`routing-mode`): native = the node network routes pod CIDRs; tunnel = VXLAN/Geneve encapsulation between nodes (set autoDirectNodeRoutes=false with it).',
    ),
    autoDirectNodeRoutes: bool(
      true,
      "In native routing, install a route to every other node's pod CIDR via its InternalIP (`auto-direct-node-routes`); needs the nodes on one L2 segment.",
    ),
    tunnelProtocol: oneOf('vxlan', ['vxlan', 'geneve'], 'Encapsulation in tunnel mode (`tunnel-protocol`).'),
    tunnelPort: int(0, "UDP port of the tunnel (`tunnel-port`); 0 = the protocol's (VXLAN 8472, Geneve 6081).", {
      minimum: 0,
      maximum: 65535,
    }),
    enableIPv4Masquerade: bool(
      true,
      "Masquerade pods' IPv4 traffic to destinations outside `ipv4NativeRoutingCIDR` that are not nodes: it leaves with the node's address (`enable-ipv4-masquerade`).",
    ),
    ipv4NativeRoutingCIDR: str(
      '',
      'Destinations pods reach without masquerading (`ipv4-native-routing-cidr`); empty = the first CIDR of the cluster pool.',
    ),
    ipam: obj(
      {
        mode: oneOf(
          'cluster-pool',
          ['cluster-pool', 'kubernetes'],
          'IPAM mode (`ipam`): cluster-pool = the operator gives each CiliumNode its spec.ipam.podCIDRs. kubernetes (v1.Node spec.podCIDRs) is not supported by cilium-ts: the agent and operator refuse it at start-up.',
        ),
        operator: obj(
          {
            clusterPoolIPv4PodCIDRList: Type.Array(Type.String({ pattern: '^[0-9.]+/[0-9]+$' }), {
              default: ['10.0.0.0/8'],
              minItems: 1,
              description:
                'IPv4 CIDRs the operator carves node PodCIDRs from (`cluster-pool-ipv4-cidr`, space-separated). Must not overlap the node network.',
            }),
            clusterPoolIPv4MaskSize: int(24, 'Prefix length of each node PodCIDR (`cluster-pool-ipv4-mask-size`).', {
              minimum: 8,
              maximum: 30,
            }),
          },
          'Cluster-pool IPAM, run by the operator.',
        ),
      },
      'IP address management.',
    ),
    bpf: obj(
      {
        ctTcpMax: int(
          524288,
          'TCP conntrack entries (`bpf-ct-global-tcp-max`). Upstream has a TCP and a non-TCP map; cilium-ts keeps both kinds in one LRU map, cilium_ct4_global, sized ctTcpMax + ctAnyMax (about 120 bytes per entry, allocated up front). Changing it recreates the map: tracked connections go through policy again.',
          { minimum: 1024, maximum: 16777216 },
        ),
        ctAnyMax: int(262144, 'Non-TCP conntrack entries (`bpf-ct-global-any-max`); see ctTcpMax.', {
          minimum: 1024,
          maximum: 16777216,
        }),
        policyMapMax: int(
          16384,
          'Entries of each endpoint policy map cilium_policy_v2_<id> (`bpf-policy-map-max`), 256 to 65536.',
          { minimum: 256, maximum: 65536 },
        ),
        monitorAggregation: oneOf(
          'medium',
          ['none', 'low', 'medium', 'maximum'],
          "How much the datapath aggregates trace events before Hubble sees them (`monitor-aggregation`). The cilium-ts datapath traces a connection's first packet and its first FIN/RST, which is medium and maximum; none and low (a trace per packet) are refused by the agent at start-up.",
        ),
        lbMapMax: int(
          65536,
          'Entries of the load-balancer maps cilium_lb4_services_v2, _backends_v3, _reverse_nat and the affinity maps (`bpf-lb-map-max`).',
          { minimum: 1024, maximum: 16777216 },
        ),
        masquerade: bool(
          true,
          "Masquerade in the node device's eBPF programs (`enable-bpf-masquerade`); false: iptables MASQUERADE rules in the node (upstream's legacy path). Upstream's chart defaults to false.",
        ),
        root: str(
          '/sys/fs/bpf',
          'Host path of the bpffs mount where maps are pinned (`bpf-root`); pinned maps keep forwarding across agent restarts.',
        ),
      },
      'eBPF datapath sizing.',
    ),
    kubeProxyReplacement: bool(
      true,
      'Balance Services without kube-proxy, NodePort, ExternalIPs and LoadBalancer frontends included (`kube-proxy-replacement`); false: ClusterIP only.',
    ),
    socketLB: obj(
      {
        enabled: bool(
          true,
          'Socket-level load balancing at connect/sendmsg (`bpf-lb-sock`); cilium-ts refuses false (no per-packet ClusterIP translation yet).',
        ),
      },
      'Socket-level load balancing.',
    ),
    loadBalancer: obj(
      {
        algorithm: oneOf(
          'random',
          ['random', 'maglev'],
          'Backend selection (`bpf-lb-algorithm`); maglev is refused by the agent for now.',
        ),
      },
      'Service load balancing.',
    ),
    nodePort: obj(
      {
        range: Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), {
          default: [30000, 32767],
          minItems: 2,
          maxItems: 2,
          description: 'NodePort range [min, max] (`node-port-range`).',
        }),
      },
      'NodePort frontends.',
    ),
    cgroup: obj(
      {
        hostRoot: str(
          '/run/cilium/cgroupv2',
          'cgroup v2 directory the socket-LB programs attach to (`cgroup-root`); every process below it is balanced.',
        ),
      },
      'cgroup v2 attachment of the socket-LB.',
    ),
    cni: obj(
      {
        binPath: str('/opt/cni/bin', 'Host directory the init container installs the cilium-cni plugin into.'),
        confPath: str(
          '/etc/cni/net.d',
          'Host directory the agent writes 05-cilium.conflist into once it is ready (`write-cni-conf-when-ready`; inside the pod /host/etc/cni/net.d).',
        ),
        exclusive: bool(true, 'Remove other CNI configurations so that only Cilium configures pods (`cni-exclusive`).'),
        uninstall: bool(
          false,
          "On agent shutdown remove 05-cilium.conflist and restore the configurations moved aside (`cni-uninstall`). `cilium uninstall` turns it on before it deletes the agents; false (upstream's default) keeps the pods of the node schedulable through an agent restart or upgrade.",
        ),
      },
      'The CNI plugin and its configuration.',
    ),
    conntrackGCInterval: duration(
      '0s',
      'Fixed period of the conntrack garbage collector (`conntrack-gc-interval`); 0s = adaptive (5m start, 10s..12h by how much each run deletes).',
    ),
    l7Proxy: bool(
      true,
      'Run the per-node L7 proxy (`enable-l7-proxy`): ports with rules.http are redirected to it and enforced per request; false drops them.',
    ),
    externalL7Proxy: bool(
      true,
      "Run the L7 proxies in their own DaemonSet, cilium-l7proxy (`external-l7-proxy`), paired with the agent's own on the same ports (SO_REUSEPORT, Linux >= 6.5): either process may restart while the other answers, and the proxy keeps the last rules the agent sent; false: only inside the agent.",
    ),
    dnsProxy: obj(
      {
        minTtl: int(
          0,
          "The least time, in seconds, an IP learned from a DNS answer stays allowed by toFQDNs policies (`tofqdns-min-ttl`): shorter TTLs are raised to it; 0 (upstream's default) honours the answers' TTLs.",
          { minimum: 0 },
        ),
        endpointMaxIpPerHostname: int(
          1000,
          'IPs kept per endpoint and DNS name for toFQDNs policies (`tofqdns-endpoint-max-ip-per-hostname`); past it those expiring first are dropped.',
          { minimum: 1 },
        ),
      },
      'The DNS proxy and what toFQDNs policies learn from it.',
    ),
    enableCnpStatusUpdates: bool(
      false,
      'Agents write CiliumNetworkPolicy status (`disable-cnp-status-updates` "false"); off as upstream\'s default: the operator writes the Valid condition.',
    ),
    identityChangeGracePeriod: duration(
      '5s',
      'How long an endpoint keeps its old identity after its labels change, so peers can learn the new one (`identity-change-grace-period`).',
    ),
    k8sServiceHost: str(
      '',
      'API server address for the agent and the operator (`k8s-service-host`), instead of the kubernetes Service ClusterIP; needed without kube-proxy (kind with kubeProxyMode none: the control-plane node address). Empty = the ClusterIP the kubelet injects.',
    ),
    k8sServicePort: str('', 'API server port with k8sServiceHost (`k8s-service-port`); empty = 443.', {
      pattern: '^([0-9]{1,5})?$',
    }),
    healthPort: port(9879, 'Agent health HTTP port on 127.0.0.1 (`agent-health-port`); the probes use /healthz.'),
    prometheus: obj(
      {
        enabled: bool(
          true,
          'Serve agent metrics (`prometheus-serve-addr`, empty when off) and create the cilium-agent metrics Service.',
        ),
        port: port(9962, 'Agent metrics port.'),
      },
      'Agent Prometheus metrics.',
    ),
    resources: resources('100m', '512Mi', '1Gi', 'the agent container'),
    updateStrategy: obj(
      {
        rollingUpdate: obj(
          { maxUnavailable: int(2, 'How many agents restart at once during a rolling update.', { minimum: 1 }) },
          'Rolling update.',
        ),
      },
      'Agent DaemonSet update strategy.',
    ),
    operator: obj(
      {
        image: image('ghcr.io/cilium-ts/operator', 'the operator'),
        replicas: int(
          2,
          'Operator replicas; one leads through the Lease cilium-operator-resource-lock, the others wait.',
          { minimum: 1 },
        ),
        healthPort: port(
          9234,
          'Operator health HTTP port on 127.0.0.1 (`operator-api-serve-addr`); the probes use /healthz.',
        ),
        prometheus: obj(
          {
            enabled: bool(
              true,
              'Serve operator metrics (`operator-prometheus-serve-addr`, empty when off) and create the cilium-operator metrics Service.',
            ),
            port: port(9963, 'Operator metrics port.'),
          },
          'Operator Prometheus metrics.',
        ),
        identityGCInterval: duration(
          '15m',
          'How often unused CiliumIdentities are collected (`identity-gc-interval`); 0 disables.',
        ),
        identityHeartbeatTimeout: duration(
          '30m',
          'How long an unused identity lives before deletion (`identity-heartbeat-timeout`).',
        ),
        identityGCRateLimit: int(
          2500,
          'At most this many identities deleted per identityGCRateInterval (`identity-gc-rate-limit`).',
          { minimum: 1 },
        ),
        identityGCRateInterval: duration('1m', 'The window of identityGCRateLimit (`identity-gc-rate-interval`).'),
        nodeGCInterval: duration('5m0s', 'How often CiliumNodes of deleted nodes are collected (`nodes-gc-interval`).'),
        endpointGCInterval: duration(
          '5m0s',
          'How often orphaned CiliumEndpoints are collected (`cilium-endpoint-gc-interval`).',
        ),
        resources: resources('100m', '128Mi', '512Mi', 'the operator container'),
      },
      'cilium-operator: cluster-pool IPAM and garbage collection.',
    ),
    hubble: obj(
      {
        enabled: bool(
          true,
          'Run the Hubble observer in the agent (`enable-hubble`) and create the hubble-peer Service.',
        ),
        listenAddress: str(
          ':4244',
          'Address of the agent Hubble gRPC server (`hubble-listen-address`); relay connects here.',
          { pattern: '^[^:]*:[0-9]+$' },
        ),
        socketPath: str(
          '/var/run/cilium/hubble.sock',
          'Local Hubble gRPC socket (`hubble-socket-path`), used by `hubble observe` inside the agent pod.',
        ),
        eventBufferCapacity: int(4095, 'Flows kept per node (`hubble-event-buffer-capacity`); must be 2^n - 1.', {
          minimum: 1,
          maximum: 65535,
        }),
        metrics: obj(
          {
            enabled: strs(
              [],
              'Hubble metrics to export (`hubble-metrics`, space-separated), e.g. ["dns", "drop", "tcp", "flow", "icmp"]; empty disables.',
            ),
            port: port(9965, 'Hubble metrics port (`hubble-metrics-server`, used when the list is not empty).'),
          },
          'Hubble Prometheus metrics.',
        ),
        peerService: obj(
          {
            servicePort: port(443, 'Port of the hubble-peer Service.'),
            targetPort: port(
              4244,
              'Agent port the hubble-peer Service forwards to (the port of hubble.listenAddress).',
            ),
          },
          'The hubble-peer Service that relay uses to find every agent.',
        ),
        tls: obj(
          {
            enabled: bool(
              true,
              'Mutual TLS between relay and every agent on hubble.listenAddress (`hubble-disable-tls` is its negation); off only when asked.',
            ),
            auto: obj(
              {
                enabled: bool(
                  true,
                  'Generate the CA (Secret cilium-ca) and the certificates (hubble-server-certs, hubble-relay-client-certs); false: bring your own Secrets of those names.',
                ),
                method: oneOf(
                  'helm',
                  ['helm'],
                  'How the chart generates them: "helm" (genCA/genSignedCert at every install and upgrade, the CA of an earlier release reused). `cilium install` generates them itself.',
                ),
                certValidityDuration: int(365, 'Validity of the generated CA and certificates, days.', {
                  minimum: 1,
                  maximum: 3650,
                }),
              },
              'Generated Hubble certificates.',
            ),
          },
          'Hubble TLS (upstream value names).',
        ),
        relay: obj(
          {
            enabled: bool(true, 'Deploy hubble-relay (needs hubble.enabled).'),
            image: image('ghcr.io/cilium-ts/hubble-relay', 'hubble-relay'),
            replicas: int(1, 'hubble-relay replicas.', { minimum: 1 }),
            listenPort: port(4245, 'hubble-relay gRPC port.'),
            servicePort: port(
              4245,
              'Port of the hubble-relay Service (the hubble CLI default target is localhost:4245).',
            ),
            resources: resources('50m', '64Mi', '256Mi', 'hubble-relay'),
          },
          'hubble-relay: the cluster-wide flow API.',
        ),
        ui: obj(
          {
            enabled: bool(true, 'Deploy hubble-ui, the service map and flow table (needs hubble.relay.enabled).'),
            image: image('ghcr.io/cilium-ts/hubble-ui', 'hubble-ui (page and API in one container)'),
            replicas: int(1, 'hubble-ui replicas.', { minimum: 1 }),
            baseUrl: str('/', 'Sub-path the UI is served under behind a proxy, with slashes at both ends.', {
              pattern: '^/([^/]+/)*$',
            }),
            service: obj(
              {
                type: oneOf(
                  'ClusterIP',
                  ['ClusterIP', 'NodePort', 'LoadBalancer'],
                  'Type of the hubble-ui Service (port 80).',
                ),
              },
              'The hubble-ui Service.',
            ),
            resources: resources('50m', '64Mi', '256Mi', 'hubble-ui'),
          },
          'hubble-ui: the service map and flow table in the browser (upstream value names).',
        ),
      },
      'Hubble flow visibility.',
    ),
  },
  { additionalProperties: false, $schema: 'https://json-schema.org/draft-07/schema#', title: 'cilium-ts Helm values' },
);

/** Every value of the install; see ValuesSchema for what each does and its default. */
export type Values = Static<typeof ValuesSchema>;

/** A partial override of Values, nested like Values itself. */
export type ValuesOverride = { [K in keyof Values]?: DeepPartial<Values[K]> };
type DeepPartial<T> = T extends unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** The defaults, as the schema declares them. */
export const DEFAULT_VALUES: Values = Object.freeze(Value.Default(ValuesSchema, {}) as Values);

/** Defaults deep-merged with an override (arrays are replaced, not merged), then checked against the schema. */
export function resolveValues(override: ValuesOverride = {}): Values {
  const merged = merge(
    structuredClone(DEFAULT_VALUES) as Record<string, unknown>,
    override as Record<string, unknown>,
  ) as Values;
  const errors = [...Value.Errors(ValuesSchema, merged)];
  if (errors.length > 0) {
    const list = errors.map((e) => `${e.path || '/'}: ${e.message}`).join('; ');
    throw new Error(`invalid install values: ${list}`);
  }
  return merged;
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = base[k];
    base[k] = isPlain(v) && isPlain(b) ? merge({ ...b }, v) : structuredClone(v);
  }
  return base;
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The schema as plain JSON (TypeBox's symbols dropped), for values.schema.json. */
export function valuesJsonSchema(): object {
  return JSON.parse(JSON.stringify(ValuesSchema)) as object;
}

/** The leaf paths of the values (`operator.replicas`, …) with their schemas, in declaration order. */
export function valueLeaves(schema: TSchema = ValuesSchema, prefix = ''): { path: string; schema: TSchema }[] {
  if (schema.type === 'object' && schema.properties) {
    return Object.entries(schema.properties as Record<string, TSchema>).flatMap(([k, s]) =>
      valueLeaves(s, prefix ? `${prefix}.${k}` : k),
    );
  }
  return [{ path: prefix, schema }];
}
