// The agent: a DaemonSet on every node with its ServiceAccount, ClusterRole, the cilium-config
// ConfigMap it reads, its metrics Service and the hubble-peer Service relay uses to find it.
import { k8s } from 'cdk8s-plus-32';
import { Construct } from 'constructs';
import { CONFIG_KEYS } from '../config/cilium-config.js';
import { CONFIG_DIR, CONFIG_MAP_NAME, HUBBLE_TLS_DIR, ciliumConfigData } from './cilium-config.js';
import { ETCD_MOUNTS, etcdConfigMap, etcdVolumes } from './etcd-config.js';
import { SERVER_SECRET } from './hubble-tls.js';
import { L7Proxy } from './l7proxy.js';
import { mountInit } from './mount-init.js';
import { AGENT_RULES, toPolicyRule } from './rbac.js';
import {
  type RenderContext,
  componentLabels,
  imageRef,
  include,
  sentinel,
  withImagePullSecrets,
} from './render-context.js';

/**
 * The agent's Node flags (decision 45). V8 sizes its young generation from the heap limit, and
 * that limit from the machine's memory: on a 24 GiB node each of the two semi-spaces grew to 64 MiB
 * while 50,000 remote endpoints were listed, 128 MiB of RSS for a generation whose survivors are
 * copied out at every scavenge anyway. 16 MiB semi-spaces (32 MiB in all) kept the same CPU in a
 * list-like allocation test and 96 MiB less RSS. Only NODE_OPTIONS-allowed flags belong here.
 */
export const AGENT_NODE_OPTIONS = '--max-semi-space-size=16';

/**
 * Where the agent's Node keeps V8's compiled code of its bundle (the launcher turns the compile
 * cache on; hack/build.ts). Under the node's /var/run/cilium, not the pod's /tmp: a restarted or
 * upgraded agent is a new pod with an empty /tmp, and compiling the bundle again cost about a
 * second of the 50,000-pod restart (BENCHMARKS.md). Entries are keyed by the file's content, so a
 * new image's bundle does not read the old one's code.
 */
export const AGENT_COMPILE_CACHE = '/var/run/cilium/node-compile-cache';

/** Selector labels of the agent pods (upstream's, so existing tooling finds them). */
export const AGENT_SELECTOR = { 'k8s-app': 'cilium' };
export const AGENT_NAME = 'cilium';
export { CONFIG_MAP_NAME };

/**
 * Capabilities instead of `privileged: true`. Each is needed by a named part of the agent:
 * NET_ADMIN: netlink (veth, routes, tc/TCX attach); SYS_ADMIN: bpffs pins and entering pod netns;
 * BPF: loading programs and maps; PERFMON: the ring buffer and bpf_probe_read in tracing;
 * SYS_RESOURCE: the memlock rlimit on kernels that still charge maps to it; NET_RAW: the health
 * prober's ICMP; IPC_LOCK: locking map memory.
 */
export const AGENT_CAPABILITIES = ['NET_ADMIN', 'SYS_ADMIN', 'BPF', 'PERFMON', 'SYS_RESOURCE', 'NET_RAW', 'IPC_LOCK'];

const hostPath = (name: string, path: string, type: string): k8s.Volume => ({ name, hostPath: { path, type } });

/** Where install-cni sees the host's / (read-only) to check that the plugin can run there. */
export const CNI_HOST_ROOT = '/host/root';

/** Where the host's /proc/sys/{net,kernel} appear in the agent (the `procfs` key of cilium-config). */
export const HOST_PROCFS = '/host/proc';

export class Agent extends Construct {
  constructor(scope: Construct, id: string, ctx: RenderContext) {
    super(scope, id);
    const v = ctx.values;
    const ns = ctx.namespace;
    const labels = { ...componentLabels('cilium-agent', 'agent'), ...AGENT_SELECTOR };

    new k8s.KubeServiceAccount(this, 'sa', { metadata: { name: AGENT_NAME, namespace: ns, labels } });
    new k8s.KubeClusterRole(this, 'role', {
      metadata: { name: AGENT_NAME, labels },
      rules: AGENT_RULES.map(toPolicyRule),
    });
    new k8s.KubeClusterRoleBinding(this, 'binding', {
      metadata: { name: AGENT_NAME, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: AGENT_NAME },
      subjects: [{ kind: 'ServiceAccount', name: AGENT_NAME, namespace: ns }],
    });

    // For the chart the data entries are sentinels the chart writer replaces with each key's Helm
    // expression (a ConfigMap value is computed from values, unlike the other objects' fields).
    const data = ctx.helm
      ? Object.fromEntries(CONFIG_KEYS.map((k) => [k.key, sentinel(`cm:${k.key}`)]))
      : ciliumConfigData(v);
    new k8s.KubeConfigMap(this, 'config', {
      metadata: { name: CONFIG_MAP_NAME, namespace: ns, labels: componentLabels('cilium-agent', 'config') },
      data,
    });
    etcdConfigMap(this, ctx);

    const image = imageRef(ctx, 'image');
    const mounts = {
      // Same path inside as on the host: `bpf-root` in cilium-config names both.
      bpf: { name: 'bpf-maps', mountPath: v.bpf.root, mountPropagation: 'HostToContainer' },
      run: { name: 'cilium-run', mountPath: '/var/run/cilium' },
      cniBin: { name: 'cni-path', mountPath: '/host/opt/cni/bin' },
      cniConf: { name: 'etc-cni-netd', mountPath: '/host/etc/cni/net.d' },
      config: { name: 'cilium-config-path', mountPath: CONFIG_DIR, readOnly: true },
      netns: { name: 'host-netns', mountPath: '/var/run/netns', mountPropagation: 'HostToContainer' },
      // The cgroup v2 directory the socket-LB programs attach to (`cgroup-root`), as upstream's cilium-cgroup volume.
      cgroup: { name: 'cilium-cgroup', mountPath: v.cgroup.hostRoot },
      // Hubble's server certificate, key and client CA (hubble-tls-*-file in cilium-config).
      hubbleTls: { name: 'hubble-tls', mountPath: HUBBLE_TLS_DIR, readOnly: true },
      // The host's net and kernel sysctls (`procfs` = /host/proc): a container's own /proc/sys is
      // read-only, and the agent must set forwarding and friends on the node.
      procSysNet: { name: 'host-proc-sys-net', mountPath: `${HOST_PROCFS}/sys/net` },
      procSysKernel: { name: 'host-proc-sys-kernel', mountPath: `${HOST_PROCFS}/sys/kernel` },
      // The host's root, read-only, for install-cni's host check: the plugin it copies runs the
      // image's node binary on the host, so the host's libc loader must be there.
      hostRoot: { name: 'host-root', mountPath: CNI_HOST_ROOT, readOnly: true },
    } satisfies Record<string, k8s.VolumeMount>;
    const health: k8s.Probe = {
      httpGet: { host: '127.0.0.1', path: '/healthz', port: k8s.IntOrString.fromNumber(v.healthPort), scheme: 'HTTP' },
      periodSeconds: 10,
      timeoutSeconds: 5,
    };

    const daemonSet = new k8s.KubeDaemonSet(this, 'daemonset', {
      metadata: { name: AGENT_NAME, namespace: ns, labels },
      spec: {
        selector: { matchLabels: AGENT_SELECTOR },
        // Maps stay pinned while an agent restarts, so a few nodes at a time is safe.
        updateStrategy: {
          type: 'RollingUpdate',
          rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(v.updateStrategy.rollingUpdate.maxUnavailable) },
        },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: AGENT_NAME,
            automountServiceAccountToken: true,
            // The agent programs the host's own network: it must see the host namespace, and it has
            // to run before any pod network exists.
            hostNetwork: true,
            dnsPolicy: 'ClusterFirstWithHostNet',
            priorityClassName: 'system-node-critical',
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            // Every node needs its agent, whatever its taints (including not-ready ones: no CNI yet).
            tolerations: [{ operator: 'Exists' }],
            // Pinned maps keep forwarding while the agent is down; no need to wait on shutdown.
            terminationGracePeriodSeconds: 1,
            initContainers: [
              // As upstream: bpffs at bpf-root and cgroup2 at cgroup-root on the host, mounted from
              // here when the node has none yet. Bidirectional propagation (which Kubernetes allows
              // only to privileged containers) makes the mount appear on the host, where the agent
              // and the CNI plugin find it, and it outlives the pod: pinned maps keep forwarding.
              mountInit('mount-bpf-fs', image, v.image.pullPolicy, 'bpf', mounts.bpf),
              mountInit('mount-cgroup', image, v.image.pullPolicy, 'cgroup2', mounts.cgroup),
              {
                name: 'install-cni',
                image,
                imagePullPolicy: v.image.pullPolicy,
                command: ['/usr/local/bin/install-cni.sh'],
                env: [
                  { name: 'CNI_BIN_DIR', value: mounts.cniBin.mountPath },
                  { name: 'CNI_CONF_DIR', value: mounts.cniConf.mountPath },
                  // The wrapper it installs runs on the host, where the plugin lives at the host path.
                  { name: 'CNI_RUNTIME_DIR', value: v.cni.binPath },
                  {
                    name: 'CNI_EXCLUSIVE',
                    valueFrom: { configMapKeyRef: { name: CONFIG_MAP_NAME, key: 'cni-exclusive' } },
                  },
                  // The agent writes the conflist once it is ready (write-cni-conf-when-ready):
                  // until then the node stays NotReady for pods instead of failing them.
                  { name: 'CNI_WRITE_CONF', value: 'false' },
                  { name: 'HOST_ROOT', value: mounts.hostRoot.mountPath },
                ],
                volumeMounts: [mounts.cniBin, mounts.cniConf, mounts.hostRoot],
                // Only writes files into two host directories (its temporary files too).
                securityContext: {
                  privileged: false,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                  seccompProfile: { type: 'RuntimeDefault' },
                  // As upstream: allowed to write the host's CNI directories under SELinux.
                  seLinuxOptions: { type: 'spc_t', level: 's0' },
                },
                terminationMessagePolicy: 'FallbackToLogsOnError',
              },
            ],
            containers: [
              {
                name: 'cilium-agent',
                image,
                imagePullPolicy: v.image.pullPolicy,
                command: ['cilium-agent'],
                args: [`--config-dir=${CONFIG_DIR}`],
                env: [
                  { name: 'K8S_NODE_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } },
                  {
                    name: 'CILIUM_K8S_NAMESPACE',
                    valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
                  },
                  { name: 'NODE_OPTIONS', value: AGENT_NODE_OPTIONS },
                  { name: 'NODE_COMPILE_CACHE', value: AGENT_COMPILE_CACHE },
                ],
                ports: [
                  { name: 'health', containerPort: v.healthPort, hostPort: v.healthPort, protocol: 'TCP' },
                  {
                    name: 'prometheus',
                    containerPort: v.prometheus.port,
                    hostPort: v.prometheus.port,
                    protocol: 'TCP',
                  },
                  {
                    name: 'hubble',
                    containerPort: v.hubble.peerService.targetPort,
                    hostPort: v.hubble.peerService.targetPort,
                    protocol: 'TCP',
                  },
                  {
                    name: 'hubble-metrics',
                    containerPort: v.hubble.metrics.port,
                    hostPort: v.hubble.metrics.port,
                    protocol: 'TCP',
                  },
                ],
                // Restoring endpoints after a restart can take a while on a busy node.
                startupProbe: { ...health, periodSeconds: 2, failureThreshold: 105 },
                // /healthz fails when a controller is stuck; /readyz until caches synced, the
                // node's network programmed and the CNI configuration written.
                livenessProbe: { ...health, failureThreshold: 10 },
                readinessProbe: {
                  ...health,
                  httpGet: { ...health.httpGet!, path: '/readyz' },
                  periodSeconds: 2,
                  failureThreshold: 3,
                },
                resources: {
                  requests: {
                    cpu: k8s.Quantity.fromString(v.resources.requests.cpu),
                    memory: k8s.Quantity.fromString(v.resources.requests.memory),
                  },
                  limits: { memory: k8s.Quantity.fromString(v.resources.limits.memory) },
                },
                // The runtime's default seccomp profile allows bpf(), mount() and setns() to a
                // container holding BPF/SYS_ADMIN. allowPrivilegeEscalation stays unset, as upstream:
                // Kubernetes refuses `false` together with an added SYS_ADMIN. Everything the agent
                // writes is a mount (bpffs, /var/run/cilium, /tmp); the image itself is read-only.
                securityContext: {
                  privileged: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { add: AGENT_CAPABILITIES, drop: ['ALL'] },
                  seLinuxOptions: { type: 'spc_t', level: 's0' },
                  seccompProfile: { type: 'RuntimeDefault' },
                },
                volumeMounts: [
                  ...Object.values(mounts).filter((m) => m !== mounts.cniBin),
                  ...ETCD_MOUNTS,
                  { name: 'tmp', mountPath: '/tmp' },
                ],
                terminationMessagePolicy: 'FallbackToLogsOnError',
              },
            ],
            volumes: [
              // bpffs: maps pinned here outlive the agent process (datapath keeps forwarding).
              hostPath('bpf-maps', v.bpf.root, 'DirectoryOrCreate'),
              // The REST and Hubble sockets and the per-endpoint state directories.
              hostPath('cilium-run', '/var/run/cilium', 'DirectoryOrCreate'),
              hostPath('cni-path', v.cni.binPath, 'DirectoryOrCreate'),
              hostPath('etc-cni-netd', v.cni.confPath, 'DirectoryOrCreate'),
              // Pod network namespaces the CNI plugin hands over by path.
              hostPath('host-netns', '/var/run/netns', 'DirectoryOrCreate'),
              // cgroup v2 root of the socket-LB (upstream mounts cgroup2 there on the host; see README "Not yet").
              hostPath('cilium-cgroup', v.cgroup.hostRoot, 'DirectoryOrCreate'),
              hostPath('host-proc-sys-net', '/proc/sys/net', 'Directory'),
              hostPath('host-proc-sys-kernel', '/proc/sys/kernel', 'Directory'),
              hostPath('host-root', '/', 'Directory'),
              { name: 'cilium-config-path', configMap: { name: CONFIG_MAP_NAME } },
              // Optional, as upstream: with hubble-disable-tls the Secret need not exist; with TLS the
              // agent serves :4244 once the files are there (and picks up renewed ones).
              {
                name: 'hubble-tls',
                projected: {
                  defaultMode: 0o400,
                  sources: [
                    {
                      secret: {
                        name: SERVER_SECRET,
                        optional: true,
                        items: [
                          { key: 'tls.crt', path: 'server.crt' },
                          { key: 'tls.key', path: 'server.key' },
                          { key: 'ca.crt', path: 'client-ca.crt' },
                        ],
                      },
                    },
                  ],
                },
              },
              // The etcd config file and client certificates (optional: only used with etcd.enabled).
              ...etcdVolumes(0o400),
              // Scratch space under the read-only root filesystem (the config map mounts inside it).
              { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('64Mi') } },
            ],
          },
        },
      },
    });
    withImagePullSecrets(ctx, daemonSet);
    // the L7 proxies' own DaemonSet (external-l7-proxy): part of the agent component
    new L7Proxy(this, 'l7proxy', ctx);

    include(ctx, ['prometheus.enabled'], () => [
      new k8s.KubeService(this, 'metrics', {
        metadata: { name: 'cilium-agent', namespace: ns, labels },
        spec: {
          clusterIp: 'None',
          selector: AGENT_SELECTOR,
          ports: [
            {
              name: 'metrics',
              port: v.prometheus.port,
              targetPort: k8s.IntOrString.fromString('prometheus'),
              protocol: 'TCP',
            },
          ],
        },
      }),
    ]);

    include(ctx, ['hubble.enabled', 'hubble.metrics.enabled'], () => [
      new k8s.KubeService(this, 'hubble-metrics', {
        metadata: { name: 'hubble-metrics', namespace: ns, labels: componentLabels('hubble-metrics', 'hubble') },
        spec: {
          clusterIp: 'None',
          selector: AGENT_SELECTOR,
          ports: [
            {
              name: 'hubble-metrics',
              port: v.hubble.metrics.port,
              targetPort: k8s.IntOrString.fromString('hubble-metrics'),
              protocol: 'TCP',
            },
          ],
        },
      }),
    ]);

    include(ctx, ['hubble.enabled'], () => [
      new k8s.KubeService(this, 'hubble-peer', {
        metadata: { name: 'hubble-peer', namespace: ns, labels: componentLabels('hubble-peer', 'hubble') },
        spec: {
          selector: AGENT_SELECTOR,
          // Relay resolves the Service to reach the agent of each node, so prefer the local one.
          internalTrafficPolicy: 'Local',
          ports: [
            {
              name: 'peer-service',
              port: v.hubble.peerService.servicePort,
              targetPort: k8s.IntOrString.fromNumber(v.hubble.peerService.targetPort),
              protocol: 'TCP',
            },
          ],
        },
      }),
    ]);
  }
}
