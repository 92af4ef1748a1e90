// The scenarios of `cilium connectivity test`, written from the behaviour Cilium documents (and
// named as upstream's cilium-cli names its tests where one matches): each applies its policies,
// then every check is a connection from a source pod to a target that must succeed or be dropped.
// Docs: https://docs.cilium.io/en/stable/security/policy/language/ (L3/L4, entities, services,
// deny), https://docs.cilium.io/en/stable/security/policy/kubernetes/ (namespaces, service accounts).
import type { KubernetesObject } from '@kubernetes/client-node';
import { TEST_LABEL } from './workloads.js';

/** Where a connection starts: a client pod, or the host-network pod on the client's node. */
export type Source = 'client' | 'client2' | 'client-other-ns' | 'host-netns';

/**
 * Where it goes: an echo pod by IP (first or second port), its Service's ClusterIP, the client's
 * own node's address at the Service's NodePort, a node's host-network echo, or the outside.
 */
export type Target =
  | 'echo-same-node'
  | 'echo-other-node'
  | 'echo-same-node:alt'
  | 'echo-other-node:alt'
  | 'service-same-node'
  | 'service-other-node'
  | 'nodeport-same-node'
  | 'host-same-node'
  | 'host-other-node'
  | 'world';

export interface Check {
  from: Source;
  to: Target;
  expect: 'ok' | 'drop';
}

export interface PolicyContext {
  namespace: string;
  otherNamespace: string;
  ports: readonly [number, number];
  portNames: readonly [string, string];
}

export interface Scenario {
  name: string;
  /** What Cilium promises here, one line. */
  promise: string;
  policies: (c: PolicyContext) => KubernetesObject[];
  checks: Check[];
}

/** The kind of a check, as upstream groups its actions (pod-to-pod, pod-to-service, …). */
export function checkKind(c: Check): string {
  if (c.from === 'host-netns') return 'host-to-pod';
  if (c.to === 'world') return 'pod-to-world';
  if (c.to.startsWith('service-')) return 'pod-to-service';
  if (c.to.startsWith('nodeport-')) return 'pod-to-nodeport';
  if (c.to.startsWith('host-')) return 'pod-to-host';
  return 'pod-to-pod';
}

const cnp = (
  c: PolicyContext,
  name: string,
  spec: Record<string, unknown>,
  namespace = c.namespace,
): KubernetesObject =>
  ({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name, namespace, labels: { ...TEST_LABEL } },
    spec,
  }) as KubernetesObject;

const ccnp = (name: string, spec: Record<string, unknown>): KubernetesObject =>
  ({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumClusterwideNetworkPolicy',
    metadata: { name, labels: { ...TEST_LABEL } },
    spec,
  }) as KubernetesObject;

const knp = (c: PolicyContext, name: string, spec: Record<string, unknown>): KubernetesObject =>
  ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: c.namespace, labels: { ...TEST_LABEL } },
    spec,
  }) as KubernetesObject;

const tcp = (port: number | string) => ({ port: String(port), protocol: 'TCP' });
const ECHO = { matchLabels: { kind: 'echo' } };
const CLIENTS = { matchLabels: { kind: 'client' } };

const ok = (from: Source, ...to: Target[]): Check[] => to.map((t) => ({ from, to: t, expect: 'ok' as const }));
const drop = (from: Source, ...to: Target[]): Check[] => to.map((t) => ({ from, to: t, expect: 'drop' as const }));

const ECHOES: Target[] = ['echo-same-node', 'echo-other-node'];
const SERVICES: Target[] = ['service-same-node', 'service-other-node'];
const HOSTS: Target[] = ['host-same-node', 'host-other-node'];

export const SCENARIOS: Scenario[] = [
  {
    name: 'no-policies',
    promise: 'without policies every pod reaches every pod, Service and node, and nodes reach pods',
    policies: () => [],
    checks: [
      ...ok('client', ...ECHOES, ...SERVICES, 'nodeport-same-node', ...HOSTS, 'world'),
      ...ok('host-netns', ...ECHOES),
    ],
  },
  {
    name: 'allow-all-except-world',
    promise: 'ingress from and egress to the cluster entity allow everything inside the cluster',
    policies: (c) => [
      cnp(c, 'allow-all-except-world', {
        endpointSelector: {},
        ingress: [{ fromEntities: ['cluster'] }],
        egress: [{ toEntities: ['cluster'] }],
      }),
    ],
    checks: [...ok('client', ...ECHOES, ...SERVICES, ...HOSTS), ...drop('client', 'world')],
  },
  {
    name: 'all-ingress-deny',
    promise: 'an empty ingress rule puts the selected pods in default deny with nothing allowed',
    policies: (c) => [cnp(c, 'all-ingress-deny', { endpointSelector: {}, ingress: [{}] })],
    checks: [...drop('client', ...ECHOES, ...SERVICES), ...ok('client', ...HOSTS)],
  },
  {
    name: 'all-egress-deny',
    promise: 'an empty egress rule blocks every connection the selected pods start',
    policies: (c) => [cnp(c, 'all-egress-deny', { endpointSelector: {}, egress: [{}] })],
    checks: drop('client', ...ECHOES, ...SERVICES, ...HOSTS),
  },
  {
    name: 'all-entities-deny',
    promise: 'a deny toward the all entity wins over any allow',
    policies: (c) => [
      cnp(c, 'allow-all', { endpointSelector: {}, egress: [{ toEntities: ['all'] }] }),
      cnp(c, 'all-entities-deny', { endpointSelector: {}, egressDeny: [{ toEntities: ['all'] }] }),
    ],
    checks: drop('client', ...ECHOES, ...HOSTS),
  },
  {
    name: 'cluster-entity',
    promise: 'toEntities cluster reaches pods and nodes of the cluster',
    policies: (c) => [
      cnp(c, 'client-egress-to-cluster', { endpointSelector: CLIENTS, egress: [{ toEntities: ['cluster'] }] }),
    ],
    checks: [...ok('client', ...ECHOES, ...HOSTS), ...drop('client', 'world')],
  },
  {
    name: 'host-entity',
    promise: 'toEntities host and remote-node reach the nodes and nothing else',
    policies: (c) => [
      cnp(c, 'client-egress-to-host', { endpointSelector: CLIENTS, egress: [{ toEntities: ['host', 'remote-node'] }] }),
    ],
    checks: [...ok('client', ...HOSTS), ...drop('client', ...ECHOES)],
  },
  {
    name: 'echo-ingress',
    promise: 'L3 by labels and L4 by port: clients of this namespace reach the first port only',
    policies: (c) => [
      cnp(c, 'echo-ingress-from-client', {
        endpointSelector: ECHO,
        ingress: [{ fromEndpoints: [CLIENTS], toPorts: [{ ports: [tcp(c.ports[0])] }] }],
      }),
    ],
    checks: [
      ...ok('client', ...ECHOES, ...SERVICES),
      ...drop('client', 'echo-same-node:alt', 'echo-other-node:alt'),
      // a label-only peer is confined to the policy's namespace
      ...drop('client-other-ns', ...ECHOES),
    ],
  },
  {
    name: 'echo-ingress-knp',
    promise: 'the same as a Kubernetes NetworkPolicy',
    policies: (c) => [
      knp(c, 'echo-ingress-from-client', {
        podSelector: ECHO,
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ podSelector: CLIENTS }], ports: [{ port: c.ports[0], protocol: 'TCP' }] }],
      }),
    ],
    checks: [
      ...ok('client', ...ECHOES),
      ...drop('client', 'echo-same-node:alt', 'echo-other-node:alt'),
      ...drop('client-other-ns', ...ECHOES),
    ],
  },
  {
    name: 'client-egress-l4-port-range',
    promise: 'a port range (port + endPort) allows every port in it and none outside',
    policies: (c) => [
      cnp(c, 'client-egress-port-range', {
        endpointSelector: CLIENTS,
        egress: [
          {
            toEndpoints: [ECHO],
            toPorts: [{ ports: [{ port: String(c.ports[0] - 10), endPort: c.ports[0], protocol: 'TCP' }] }],
          },
        ],
      }),
    ],
    checks: [...ok('client', ...ECHOES), ...drop('client', 'echo-same-node:alt', 'echo-other-node:alt')],
  },
  {
    name: 'client-ingress-to-echo-named-port',
    promise: "a named port resolves against the destination pod's container ports",
    policies: (c) => [
      cnp(c, 'echo-ingress-named-port', {
        endpointSelector: ECHO,
        ingress: [{ fromEndpoints: [CLIENTS], toPorts: [{ ports: [{ port: c.portNames[0], protocol: 'TCP' }] }] }],
      }),
    ],
    checks: [...ok('client', ...ECHOES), ...drop('client', 'echo-same-node:alt', 'echo-other-node:alt')],
  },
  {
    name: 'echo-ingress-from-other-client-deny',
    promise: 'a deny rule wins over an allow that also matches',
    policies: (c) => [
      cnp(c, 'echo-ingress-all', { endpointSelector: ECHO, ingress: [{ fromEndpoints: [{}] }] }),
      cnp(c, 'echo-ingress-deny-client2', {
        endpointSelector: ECHO,
        ingressDeny: [{ fromEndpoints: [{ matchLabels: { name: 'client2' } }] }],
      }),
    ],
    checks: [...ok('client', ...ECHOES), ...drop('client2', ...ECHOES)],
  },
  {
    name: 'client-egress-to-echo-service-account',
    promise: 'io.cilium.k8s.policy.serviceaccount selects pods by their ServiceAccount',
    policies: (c) => [
      cnp(c, 'echo-ingress-from-sa-client', {
        endpointSelector: ECHO,
        ingress: [{ fromEndpoints: [{ matchLabels: { 'io.cilium.k8s.policy.serviceaccount': 'client' } }] }],
      }),
    ],
    checks: [...ok('client', ...ECHOES), ...drop('client2', ...ECHOES)],
  },
  {
    name: 'echo-ingress-from-other-namespace',
    promise: 'k8s:io.kubernetes.pod.namespace selects peers in another namespace',
    policies: (c) => [
      cnp(c, 'echo-ingress-from-other-ns', {
        endpointSelector: ECHO,
        ingress: [{ fromEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': c.otherNamespace } }] }],
      }),
    ],
    checks: [...ok('client-other-ns', ...ECHOES), ...drop('client', ...ECHOES)],
  },
  {
    name: 'echo-ingress-ccnp',
    promise: 'a clusterwide policy selects pods of any namespace by namespace and labels',
    policies: (c) => [
      ccnp('cilium-connectivity-test-echo-ingress', {
        endpointSelector: { matchLabels: { 'k8s:io.kubernetes.pod.namespace': c.namespace, kind: 'echo' } },
        ingress: [
          { fromEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': c.namespace, name: 'client' } }] },
        ],
      }),
    ],
    checks: [...ok('client', ...ECHOES), ...drop('client2', ...ECHOES), ...drop('client-other-ns', ...ECHOES)],
  },
  {
    name: 'client-egress-to-echo-service',
    promise: "policy applies to the backend's identity after the Service is translated",
    policies: (c) => [
      cnp(c, 'client-egress-to-echo', {
        endpointSelector: CLIENTS,
        egress: [{ toEndpoints: [ECHO], toPorts: [{ ports: [tcp(c.ports[0])] }] }],
      }),
    ],
    checks: [...ok('client', ...SERVICES, ...ECHOES), ...drop('client', ...HOSTS)],
  },
];
