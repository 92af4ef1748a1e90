// The devcluster's cluster DNS add-on, shaped as kubeadm installs CoreDNS: a ServiceAccount with
// read access to Services and EndpointSlices (upstream's system:coredns ClusterRole), a Deployment
// labelled k8s-app=kube-dns, and the `kube-dns` Service on the well-known ClusterIP 10.96.0.10
// (53/UDP and 53/TCP) that the kubelet writes into pods' /etc/resolv.conf. The server runs as a
// hostNetwork pod (the node's namespace, where no CNI is needed and the socket LB of the node
// translates pods' queries to it); it is our cluster-dns.ts, not CoreDNS. The `coredns-custom`
// ConfigMap (no data: tests add `hosts` and `ttl`, hosts.ts) holds extra records; a Role lets the
// server read ConfigMaps in kube-system.
import type { InstallObject } from '../../cdk8s/process-launch.js';
import { CLUSTER_DNS_DEFAULTS } from './cluster-dns.js';
import { HOSTS_DEFAULTS } from './hosts.js';

/** The kube-dns Service's ClusterIP (kubeadm: the 10th address of the service CIDR). */
export const CLUSTER_DNS_IP = '10.96.0.10';
export const CLUSTER_DNS_NAMESPACE = 'kube-system';
export const CLUSTER_DNS_SELECTOR = { 'k8s-app': 'kube-dns' };
const NAME = 'coredns';

export function clusterDnsObjects(o: { replicas?: number } = {}): InstallObject[] {
  const ns = CLUSTER_DNS_NAMESPACE;
  const labels = { ...CLUSTER_DNS_SELECTOR, 'kubernetes.io/name': 'CoreDNS' };
  const objects: Record<string, unknown>[] = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: NAME, namespace: ns } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'system:coredns' },
      rules: [
        { apiGroups: [''], resources: ['services'], verbs: ['list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'system:coredns' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
      subjects: [{ kind: 'ServiceAccount', name: NAME, namespace: ns }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'coredns-custom-reader', namespace: HOSTS_DEFAULTS.configMapNamespace },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'coredns-custom-reader', namespace: HOSTS_DEFAULTS.configMapNamespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'coredns-custom-reader' },
      subjects: [{ kind: 'ServiceAccount', name: NAME, namespace: ns }],
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: HOSTS_DEFAULTS.configMapName, namespace: HOSTS_DEFAULTS.configMapNamespace, labels },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: NAME, namespace: ns, labels },
      spec: {
        replicas: o.replicas ?? 1,
        selector: { matchLabels: CLUSTER_DNS_SELECTOR },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: NAME,
            hostNetwork: true,
            dnsPolicy: 'Default',
            containers: [
              {
                name: 'coredns',
                image: 'devcluster/cluster-dns',
                command: ['node', '/app/build/devcluster/dns/main.js'],
                args: ['--listen-address=0.0.0.0:53', `--zone=${CLUSTER_DNS_DEFAULTS.zone}`],
                ports: [
                  { name: 'dns', containerPort: 53, protocol: 'UDP' },
                  { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
                ],
                readinessProbe: { tcpSocket: { port: 53 }, periodSeconds: 2 },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: ns, labels },
      spec: {
        selector: CLUSTER_DNS_SELECTOR,
        clusterIP: CLUSTER_DNS_IP,
        ports: [
          { name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, targetPort: 53, protocol: 'TCP' },
        ],
      },
    },
  ];
  return objects as InstallObject[];
}
