// The operator: a Deployment of (by default) two replicas that elect a leader through a Lease, its
// ServiceAccount, ClusterRole and leader-election Role, a PodDisruptionBudget and a metrics Service.
import { k8s } from 'cdk8s-plus-32';
import { Construct } from 'constructs';
import { CONFIG_MAP_NAME } from './agent.js';
import { CONFIG_DIR } from './cilium-config.js';
import { ETCD_MOUNTS, etcdVolumes } from './etcd-config.js';
import { OPERATOR_NAMESPACE_RULES, OPERATOR_RULES, toPolicyRule } from './rbac.js';
import { type RenderContext, componentLabels, imageRef, include, withImagePullSecrets } from './render-context.js';

export const OPERATOR_NAME = 'cilium-operator';
export const OPERATOR_SELECTOR = { 'io.cilium/app': 'operator', name: 'cilium-operator' };

export class Operator extends Construct {
  constructor(scope: Construct, id: string, ctx: RenderContext) {
    super(scope, id);
    const v = ctx.values;
    const ns = ctx.namespace;
    const labels = { ...componentLabels('cilium-operator', 'operator'), ...OPERATOR_SELECTOR };

    new k8s.KubeServiceAccount(this, 'sa', { metadata: { name: OPERATOR_NAME, namespace: ns, labels } });
    new k8s.KubeClusterRole(this, 'role', {
      metadata: { name: OPERATOR_NAME, labels },
      rules: OPERATOR_RULES.map(toPolicyRule),
    });
    new k8s.KubeClusterRoleBinding(this, 'binding', {
      metadata: { name: OPERATOR_NAME, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: OPERATOR_NAME },
      subjects: [{ kind: 'ServiceAccount', name: OPERATOR_NAME, namespace: ns }],
    });
    // Leases are namespaced: leader election needs no cluster-wide grant.
    new k8s.KubeRole(this, 'leader-election', {
      metadata: { name: OPERATOR_NAME, namespace: ns, labels },
      rules: OPERATOR_NAMESPACE_RULES.map(toPolicyRule),
    });
    new k8s.KubeRoleBinding(this, 'leader-election-binding', {
      metadata: { name: OPERATOR_NAME, namespace: ns, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: OPERATOR_NAME },
      subjects: [{ kind: 'ServiceAccount', name: OPERATOR_NAME, namespace: ns }],
    });

    const health: k8s.Probe = {
      httpGet: {
        host: '127.0.0.1',
        path: '/healthz',
        port: k8s.IntOrString.fromNumber(v.operator.healthPort),
        scheme: 'HTTP',
      },
      periodSeconds: 10,
      timeoutSeconds: 3,
    };

    const deployment = new k8s.KubeDeployment(this, 'deployment', {
      metadata: { name: OPERATOR_NAME, namespace: ns, labels },
      spec: {
        replicas: v.operator.replicas,
        selector: { matchLabels: OPERATOR_SELECTOR },
        // Never more than one extra replica: each binds host ports (hostNetwork).
        strategy: {
          type: 'RollingUpdate',
          rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(1) },
        },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: OPERATOR_NAME,
            automountServiceAccountToken: true,
            // The operator gives nodes their pod CIDRs, so it must run before any pod network exists.
            hostNetwork: true,
            priorityClassName: 'system-cluster-critical',
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            tolerations: [{ operator: 'Exists' }],
            // The etcd client key (etcd.enabled) is readable by this group only, not by everyone.
            securityContext: { fsGroup: 65532 },
            // Replicas on different nodes: a node failure must not take the standby with the leader,
            // and two replicas on one host would collide on the host ports.
            affinity: {
              podAntiAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: [
                  {
                    topologyKey: 'kubernetes.io/hostname',
                    labelSelector: { matchLabels: { 'io.cilium/app': 'operator' } },
                  },
                ],
              },
            },
            containers: [
              {
                name: 'cilium-operator',
                image: imageRef(ctx, 'operator.image'),
                imagePullPolicy: v.operator.image.pullPolicy,
                command: ['cilium-operator'],
                args: [`--config-dir=${CONFIG_DIR}`],
                env: [
                  { name: 'K8S_NODE_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } },
                  {
                    name: 'CILIUM_K8S_NAMESPACE',
                    valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
                  },
                ],
                ports: [
                  {
                    name: 'health',
                    containerPort: v.operator.healthPort,
                    hostPort: v.operator.healthPort,
                    protocol: 'TCP',
                  },
                  {
                    name: 'prometheus',
                    containerPort: v.operator.prometheus.port,
                    hostPort: v.operator.prometheus.port,
                    protocol: 'TCP',
                  },
                ],
                livenessProbe: { ...health, initialDelaySeconds: 60, failureThreshold: 3 },
                readinessProbe: { ...health, failureThreshold: 5 },
                resources: {
                  requests: {
                    cpu: k8s.Quantity.fromString(v.operator.resources.requests.cpu),
                    memory: k8s.Quantity.fromString(v.operator.resources.requests.memory),
                  },
                  limits: { memory: k8s.Quantity.fromString(v.operator.resources.limits.memory) },
                },
                // Only talks to the API server and serves two ports above 1024.
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
                  { name: 'cilium-config-path', mountPath: CONFIG_DIR, readOnly: true },
                  ...ETCD_MOUNTS,
                  { name: 'tmp', mountPath: '/tmp' },
                ],
                terminationMessagePolicy: 'FallbackToLogsOnError',
              },
            ],
            volumes: [
              { name: 'cilium-config-path', configMap: { name: CONFIG_MAP_NAME } },
              // The etcd config file and client certificates (optional: only used with etcd.enabled).
              ...etcdVolumes(0o440),
              { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('64Mi') } },
            ],
          },
        },
      },
    });
    withImagePullSecrets(ctx, deployment);

    // One replica may go for node maintenance; the other takes the lease.
    new k8s.KubePodDisruptionBudget(this, 'pdb', {
      metadata: { name: OPERATOR_NAME, namespace: ns, labels },
      spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: OPERATOR_SELECTOR } },
    });

    include(ctx, ['operator.prometheus.enabled'], () => [
      new k8s.KubeService(this, 'metrics', {
        metadata: { name: OPERATOR_NAME, namespace: ns, labels },
        spec: {
          clusterIp: 'None',
          selector: OPERATOR_SELECTOR,
          ports: [
            {
              name: 'metrics',
              port: v.operator.prometheus.port,
              targetPort: k8s.IntOrString.fromString('prometheus'),
              protocol: 'TCP',
            },
          ],
        },
      }),
    ]);
  }
}
