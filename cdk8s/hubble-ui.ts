// hubble-ui: the service map and flow table in the browser. One container (upstream runs an nginx
// frontend and a Go backend in two; ours serves the page and its API from one process) on 8081,
// the Service on 80 as upstream's, reading flows from the hubble-relay Service and, read-only,
// namespaces and the policy objects an explanation is decided against.
import { k8s } from 'cdk8s-plus-32';
import { Construct } from 'constructs';
import { RELAY_NAME } from './relay.js';
import type { RbacRule } from './rbac.js';
import { type RenderContext, componentLabels, imageRef, include, withImagePullSecrets } from './render-context.js';

export const HUBBLE_UI_NAME = 'hubble-ui';
export const HUBBLE_UI_SELECTOR = { 'k8s-app': 'hubble-ui' };
/** Upstream's frontend port (Helm templates/hubble-ui/deployment.yaml), the Service's targetPort. */
export const HUBBLE_UI_PORT = 8081;

const READ = ['get', 'list', 'watch'] as const;

/** ClusterRole `hubble-ui`: read-only, what the page shows and what an explanation reads. */
export const HUBBLE_UI_RULES: readonly RbacRule[] = [
  { apiGroups: [''], resources: ['namespaces'], verbs: READ, why: 'the namespace selector of the page' },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumnetworkpolicies', 'ciliumclusterwidenetworkpolicies'],
    verbs: READ,
    why: 'a verdict is explained by deciding the flow again against the policies the agents enforce',
  },
  {
    apiGroups: ['networking.k8s.io'],
    resources: ['networkpolicies'],
    verbs: READ,
    why: 'Kubernetes NetworkPolicies take part in the decision an explanation reproduces',
  },
  {
    apiGroups: ['cilium.io'],
    resources: ['ciliumidentities', 'ciliumendpoints'],
    verbs: READ,
    why: "the identities and endpoints the agents' engine decides with (selectors, named ports, peers' IPs)",
  },
];

export class HubbleUi extends Construct {
  constructor(scope: Construct, id: string, ctx: RenderContext) {
    super(scope, id);
    const v = ctx.values;
    const ui = v.hubble.ui;
    const ns = ctx.namespace;
    const labels = { ...componentLabels('hubble-ui', 'ui'), ...HUBBLE_UI_SELECTOR };
    const probe: k8s.Probe = {
      httpGet: { path: '/healthz', port: k8s.IntOrString.fromString('http') },
      periodSeconds: 10,
      timeoutSeconds: 3,
    };

    include(ctx, ['hubble.enabled', 'hubble.relay.enabled', 'hubble.ui.enabled'], () => [
      new k8s.KubeServiceAccount(this, 'sa', { metadata: { name: HUBBLE_UI_NAME, namespace: ns, labels } }),
      new k8s.KubeClusterRole(this, 'role', {
        metadata: { name: HUBBLE_UI_NAME, labels },
        rules: HUBBLE_UI_RULES.map((r) => ({
          apiGroups: [...r.apiGroups],
          resources: [...r.resources],
          verbs: [...r.verbs],
        })),
      }),
      new k8s.KubeClusterRoleBinding(this, 'binding', {
        metadata: { name: HUBBLE_UI_NAME, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: HUBBLE_UI_NAME },
        subjects: [{ kind: 'ServiceAccount', name: HUBBLE_UI_NAME, namespace: ns }],
      }),
      withImagePullSecrets(
        ctx,
        new k8s.KubeDeployment(this, 'deployment', {
          metadata: { name: HUBBLE_UI_NAME, namespace: ns, labels },
          spec: {
            replicas: ui.replicas,
            selector: { matchLabels: HUBBLE_UI_SELECTOR },
            template: {
              metadata: { labels },
              spec: {
                serviceAccountName: HUBBLE_UI_NAME,
                nodeSelector: { 'kubernetes.io/os': 'linux' },
                containers: [
                  {
                    name: 'hubble-ui',
                    image: imageRef(ctx, 'hubble.ui.image'),
                    imagePullPolicy: ui.image.pullPolicy,
                    command: ['hubble-ui'],
                    args: [
                      `--listen-address=:${HUBBLE_UI_PORT}`,
                      `--relay=${RELAY_NAME}.${ns}.svc.cluster.local:${v.hubble.relay.servicePort}`,
                      `--base-url=${ui.baseUrl}`,
                    ],
                    ports: [{ name: 'http', containerPort: HUBBLE_UI_PORT, protocol: 'TCP' }],
                    readinessProbe: probe,
                    livenessProbe: { ...probe, initialDelaySeconds: 10, failureThreshold: 6 },
                    resources: {
                      requests: {
                        cpu: k8s.Quantity.fromString(ui.resources.requests.cpu),
                        memory: k8s.Quantity.fromString(ui.resources.requests.memory),
                      },
                      limits: { memory: k8s.Quantity.fromString(ui.resources.limits.memory) },
                    },
                    securityContext: {
                      allowPrivilegeEscalation: false,
                      readOnlyRootFilesystem: true,
                      runAsNonRoot: true,
                      runAsUser: 65532,
                      capabilities: { drop: ['ALL'] },
                      seccompProfile: { type: 'RuntimeDefault' },
                    },
                    terminationMessagePolicy: 'FallbackToLogsOnError',
                  },
                ],
              },
            },
          },
        }),
      ),
      new k8s.KubeService(this, 'service', {
        metadata: { name: HUBBLE_UI_NAME, namespace: ns, labels },
        spec: {
          type: ui.service.type,
          selector: HUBBLE_UI_SELECTOR,
          ports: [{ name: 'http', port: 80, targetPort: k8s.IntOrString.fromString('http'), protocol: 'TCP' }],
        },
      }),
    ]);
  }
}
