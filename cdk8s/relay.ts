// hubble-relay: finds every agent's Hubble server through the hubble-peer Service, fans GetFlows
// out and merges the streams. It needs no Kubernetes API access, so its ServiceAccount has no
// token mounted and no role.
import { k8s } from 'cdk8s-plus-32';
import { Construct } from 'constructs';
import { CONFIG_MAP_NAME } from './cilium-config.js';
import { RELAY_CLIENT_SECRET } from './hubble-tls.js';
import { type RenderContext, componentLabels, imageRef, include, withImagePullSecrets } from './render-context.js';

/** Where relay's pod sees the Secret hubble-relay-client-certs (upstream's path and file names). */
export const RELAY_TLS_DIR = '/var/lib/hubble-relay/tls';

export const RELAY_NAME = 'hubble-relay';
export const RELAY_SELECTOR = { 'k8s-app': 'hubble-relay' };

export class Relay extends Construct {
  constructor(scope: Construct, id: string, ctx: RenderContext) {
    super(scope, id);
    const v = ctx.values;
    const r = v.hubble.relay;
    const ns = ctx.namespace;
    const labels = { ...componentLabels('hubble-relay', 'relay'), ...RELAY_SELECTOR };
    const grpc: k8s.Probe = {
      tcpSocket: { port: k8s.IntOrString.fromString('grpc') },
      periodSeconds: 10,
      timeoutSeconds: 3,
    };

    include(ctx, ['hubble.enabled', 'hubble.relay.enabled'], () => [
      new k8s.KubeServiceAccount(this, 'sa', {
        metadata: { name: RELAY_NAME, namespace: ns, labels },
        automountServiceAccountToken: false,
      }),
      withImagePullSecrets(
        ctx,
        new k8s.KubeDeployment(this, 'deployment', {
          metadata: { name: RELAY_NAME, namespace: ns, labels },
          spec: {
            replicas: r.replicas,
            selector: { matchLabels: RELAY_SELECTOR },
            strategy: {
              type: 'RollingUpdate',
              rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(0) },
            },
            template: {
              metadata: { labels },
              spec: {
                serviceAccountName: RELAY_NAME,
                automountServiceAccountToken: false,
                // the Secret files (mode 0400) belong to this group, so the non-root user can read them
                securityContext: { fsGroup: 65532 },
                nodeSelector: { 'kubernetes.io/os': 'linux' },
                containers: [
                  {
                    name: 'hubble-relay',
                    image: imageRef(ctx, 'hubble.relay.image'),
                    imagePullPolicy: r.image.pullPolicy,
                    command: ['hubble-relay'],
                    args: [
                      'serve',
                      `--peer-service=hubble-peer.${ns}.svc.cluster.local:${v.hubble.peerService.servicePort}`,
                      `--listen-address=:${r.listenPort}`,
                      `--cluster-name=${v.cluster.name}`,
                      `--tls-hubble-client-cert-file=${RELAY_TLS_DIR}/client.crt`,
                      `--tls-hubble-client-key-file=${RELAY_TLS_DIR}/client.key`,
                      `--tls-hubble-server-ca-files=${RELAY_TLS_DIR}/hubble-server-ca.crt`,
                    ],
                    // TLS to the agents follows theirs: the same switch in cilium-config
                    env: [
                      {
                        name: 'HUBBLE_RELAY_DISABLE_CLIENT_TLS',
                        valueFrom: { configMapKeyRef: { name: CONFIG_MAP_NAME, key: 'hubble-disable-tls' } },
                      },
                    ],
                    ports: [{ name: 'grpc', containerPort: r.listenPort, protocol: 'TCP' }],
                    readinessProbe: grpc,
                    livenessProbe: { ...grpc, initialDelaySeconds: 10, failureThreshold: 12 },
                    resources: {
                      requests: {
                        cpu: k8s.Quantity.fromString(r.resources.requests.cpu),
                        memory: k8s.Quantity.fromString(r.resources.requests.memory),
                      },
                      limits: { memory: k8s.Quantity.fromString(r.resources.limits.memory) },
                    },
                    securityContext: {
                      allowPrivilegeEscalation: false,
                      readOnlyRootFilesystem: true,
                      runAsNonRoot: true,
                      runAsUser: 65532,
                      capabilities: { drop: ['ALL'] },
                      seccompProfile: { type: 'RuntimeDefault' },
                    },
                    // The root filesystem is read-only; /tmp (memory) is the one writable scratch place.
                    volumeMounts: [
                      { name: 'tmp', mountPath: '/tmp' },
                      { name: 'tls', mountPath: RELAY_TLS_DIR, readOnly: true },
                    ],
                    terminationMessagePolicy: 'FallbackToLogsOnError',
                  },
                ],
                volumes: [
                  { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('64Mi') } },
                  {
                    name: 'tls',
                    projected: {
                      defaultMode: 0o400,
                      sources: [
                        {
                          secret: {
                            name: RELAY_CLIENT_SECRET,
                            optional: true,
                            items: [
                              { key: 'tls.crt', path: 'client.crt' },
                              { key: 'tls.key', path: 'client.key' },
                              { key: 'ca.crt', path: 'hubble-server-ca.crt' },
                            ],
                          },
                        },
                      ],
                    },
                  },
                ],
              },
            },
          },
        }),
      ),
      new k8s.KubeService(this, 'service', {
        metadata: { name: RELAY_NAME, namespace: ns, labels },
        spec: {
          type: 'ClusterIP',
          selector: RELAY_SELECTOR,
          ports: [
            { name: 'grpc', port: r.servicePort, targetPort: k8s.IntOrString.fromString('grpc'), protocol: 'TCP' },
          ],
        },
      }),
      // Relay holds only streams clients can reopen: one replica may always be evicted.
      new k8s.KubePodDisruptionBudget(this, 'pdb', {
        metadata: { name: RELAY_NAME, namespace: ns, labels },
        spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: RELAY_SELECTOR } },
      }),
    ]);
  }
}
