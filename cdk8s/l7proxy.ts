// cilium-l7proxy: the node's L7 proxies (HTTP, DNS) as their own DaemonSet beside the agent's, as
// upstream's cilium-envoy, so an agent restart or an agent pod replaced does not take the
// listeners down (docs/design.md decision 30). It reads the agent's cilium-config and talks to the
// agent over /var/run/cilium/l7proxy.sock; it needs no Kubernetes API (no token mounted).
import { k8s } from 'cdk8s-plus-32';
import { Construct } from 'constructs';
import { CONFIG_DIR, CONFIG_MAP_NAME } from './cilium-config.js';
import { type RenderContext, componentLabels, imageRef, include, withImagePullSecrets } from './render-context.js';

export const L7PROXY_NAME = 'cilium-l7proxy';
export const L7PROXY_SELECTOR = { 'k8s-app': 'cilium-l7proxy' };

/**
 * What the proxy needs, each with why: NET_RAW for IP_TRANSPARENT on its listeners and answer
 * sockets (the kernel accepts CAP_NET_RAW or CAP_NET_ADMIN; NET_RAW is the narrower); BPF to open
 * the pinned cilium_proxy4 map (a UDP query's original destination). No SYS_ADMIN: with
 * hostNetwork it never enters another namespace. The ports are above 1024: no NET_BIND_SERVICE.
 */
export const L7PROXY_CAPABILITIES = ['NET_RAW', 'BPF'];

/** Its readiness endpoint on 127.0.0.1 (`/healthz`), upstream cilium-envoy's port. */
export const L7PROXY_HEALTH_PORT = 9878;

export class L7Proxy extends Construct {
  constructor(scope: Construct, id: string, ctx: RenderContext) {
    super(scope, id);
    const v = ctx.values;
    const ns = ctx.namespace;
    const labels = { ...componentLabels('cilium-l7proxy', 'proxy'), ...L7PROXY_SELECTOR };
    const image = imageRef(ctx, 'image');
    const bpfMount: k8s.VolumeMount = { name: 'bpf-maps', mountPath: v.bpf.root, mountPropagation: 'HostToContainer' };
    include(ctx, ['l7Proxy', 'externalL7Proxy'], () => {
      const sa = new k8s.KubeServiceAccount(this, 'sa', {
        metadata: { name: L7PROXY_NAME, namespace: ns, labels },
        automountServiceAccountToken: false,
      });
      const daemonSet = new k8s.KubeDaemonSet(this, 'daemonset', {
        metadata: { name: L7PROXY_NAME, namespace: ns, labels },
        spec: {
          selector: { matchLabels: L7PROXY_SELECTOR },
          updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(1) } },
          template: {
            metadata: { labels },
            spec: {
              serviceAccountName: L7PROXY_NAME,
              automountServiceAccountToken: false,
              // the transparent listeners live in the node's namespace, where the datapath looks them up
              hostNetwork: true,
              dnsPolicy: 'ClusterFirstWithHostNet',
              priorityClassName: 'system-node-critical',
              nodeSelector: { 'kubernetes.io/os': 'linux' },
              tolerations: [{ operator: 'Exists' }],
              terminationGracePeriodSeconds: 1,
              // No init container mounting bpffs: the agent's pod mounts it (one mounter per node: two
              // init containers racing stacked two bpffs mounts and the agent pinned into the hidden
              // one). Upstream's cilium-envoy does the same: HostToContainer shows the agent's mount
              // here once made, and cilium_proxy4 is opened at the first lookup, again until it exists.
              containers: [
                {
                  name: 'cilium-l7proxy',
                  image,
                  imagePullPolicy: v.image.pullPolicy,
                  command: ['cilium-l7proxy'],
                  args: [`--config-dir=${CONFIG_DIR}`, `--l7proxy-health-port=${L7PROXY_HEALTH_PORT}`],
                  // ready once it listens and holds rules from the agent (cmd/cilium-l7proxy.ts); its
                  // own port, not a proxy port, which the agent's listeners share
                  readinessProbe: {
                    httpGet: {
                      host: '127.0.0.1',
                      path: '/healthz',
                      port: k8s.IntOrString.fromNumber(L7PROXY_HEALTH_PORT),
                    },
                    periodSeconds: 1,
                    failureThreshold: 3,
                  },
                  securityContext: {
                    privileged: false,
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { add: L7PROXY_CAPABILITIES, drop: ['ALL'] },
                    seccompProfile: { type: 'RuntimeDefault' },
                  },
                  volumeMounts: [
                    // not read-only: opening a pinned map read-write checks write access to its bpffs file
                    bpfMount,
                    { name: 'cilium-run', mountPath: '/var/run/cilium' },
                    { name: 'cilium-config-path', mountPath: CONFIG_DIR, readOnly: true },
                  ],
                  terminationMessagePolicy: 'FallbackToLogsOnError',
                },
              ],
              volumes: [
                { name: 'bpf-maps', hostPath: { path: v.bpf.root, type: 'DirectoryOrCreate' } },
                // the agent's channel socket
                { name: 'cilium-run', hostPath: { path: '/var/run/cilium', type: 'DirectoryOrCreate' } },
                { name: 'cilium-config-path', configMap: { name: CONFIG_MAP_NAME } },
              ],
            },
          },
        },
      });
      withImagePullSecrets(ctx, daemonSet);
      return [sa, daemonSet];
    });
  }
}
