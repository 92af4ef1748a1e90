// The workloads `cilium connectivity test` deploys, laid out as upstream's cilium-cli does: a client
// and a second client with other labels and another ServiceAccount, an echo server beside the client
// (required pod affinity) and one on another node (required anti-affinity), Services in front of the
// echo servers (NodePort), a host-network DaemonSet on every node (client and echo server in the
// node's own namespace), and a client in a second namespace for namespace selectors.
//
// Every container runs one small Node.js program (`node -e`), so the default image is the agent's
// own (it has node); `--image` points elsewhere on a cluster that cannot pull it. On the devcluster
// the image is not pulled: the command runs as a process in the pod's namespaces.
import type { KubernetesObject } from '@kubernetes/client-node';

export interface WorkloadOptions {
  /** The test namespace (upstream's default is `cilium-test-1`). */
  namespace: string;
  /** The second namespace, for namespace-selector scenarios. */
  otherNamespace: string;
  /** The image every container runs (must have `node` on PATH). */
  image: string;
  /** The echo servers' ports: the first is named `http-8080`, the second `alt-8081` (named-port scenarios). */
  echoPorts: readonly [number, number];
  /** The port the host-network echo server listens on in every node's namespace. */
  hostPort: number;
  /** imagePullSecrets for every pod. */
  imagePullSecrets: string[];
}

/** Labels on everything this test creates, so that a later run (or `--cleanup`) finds it. */
export const TEST_LABEL = { 'app.kubernetes.io/part-of': 'cilium-connectivity-test' };

/**
 * An HTTP server on each given port answering every request with where it runs (JSON), so a
 * probe sees which backend a Service picked. Exits on SIGTERM at once (no state to drain).
 */
export const ECHO_SERVER = `
const http = require('http');
const me = JSON.stringify({ pod: process.env.POD_NAME || require('os').hostname(), node: process.env.NODE_NAME || '' });
for (const port of process.argv.slice(1).map(Number))
  http.createServer((req, res) => { res.setHeader('content-type', 'application/json'); res.end(me); }).listen(port);
process.on('SIGTERM', () => process.exit(0));
`;

const SLEEPER = `setInterval(() => {}, 1 << 30); process.on('SIGTERM', () => process.exit(0));`;

type Labels = Record<string, string>;

function container(o: WorkloadOptions, name: string, script: string, args: string[] = [], ports: object[] = []) {
  return {
    name,
    image: o.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['node', '-e', script, ...args],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    ],
    ...(ports.length ? { ports } : {}),
  };
}

function hostnameTerm(labels: Labels) {
  return {
    requiredDuringSchedulingIgnoredDuringExecution: [
      { labelSelector: { matchLabels: labels }, topologyKey: 'kubernetes.io/hostname' },
    ],
  };
}

function deployment(
  o: WorkloadOptions,
  namespace: string,
  name: string,
  labels: Labels,
  podSpec: Record<string, unknown>,
): KubernetesObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { ...TEST_LABEL, ...labels } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { name } },
      template: {
        metadata: { labels: { ...TEST_LABEL, ...labels } },
        spec: {
          terminationGracePeriodSeconds: 1,
          ...(o.imagePullSecrets.length ? { imagePullSecrets: o.imagePullSecrets.map((n) => ({ name: n })) } : {}),
          ...podSpec,
        },
      },
    },
  } as KubernetesObject;
}

/** The echo servers' container ports, named as the named-port scenario refers to them. */
export function echoPortNames(o: WorkloadOptions): [string, string] {
  return [`http-${o.echoPorts[0]}`, `alt-${o.echoPorts[1]}`];
}

/** Every object of the test, in apply order. */
export function testWorkloads(o: WorkloadOptions): KubernetesObject[] {
  const ns = o.namespace;
  const [p1, p2] = o.echoPorts;
  const [n1, n2] = echoPortNames(o);
  const echoPorts = [
    { name: n1, containerPort: p1, protocol: 'TCP' },
    { name: n2, containerPort: p2, protocol: 'TCP' },
  ];
  const objects: KubernetesObject[] = [];
  for (const name of [ns, o.otherNamespace])
    objects.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...TEST_LABEL } } });
  for (const sa of ['client', 'client2'])
    objects.push({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: sa, namespace: ns, labels: { ...TEST_LABEL } },
    });
  const client = (name: string, namespace = ns, serviceAccountName = name) =>
    deployment(
      o,
      namespace,
      name,
      { kind: 'client', name },
      {
        serviceAccountName: namespace === ns ? serviceAccountName : 'default',
        containers: [container(o, 'client', SLEEPER)],
      },
    );
  objects.push(client('client'), client('client2'), client('client-other-ns', o.otherNamespace));
  const echo = (name: string, affinity: Record<string, unknown>) =>
    deployment(
      o,
      ns,
      name,
      { kind: 'echo', name },
      {
        affinity,
        containers: [
          {
            ...container(o, 'echo', ECHO_SERVER, [String(p1), String(p2)], echoPorts),
            readinessProbe: { tcpSocket: { port: n1 }, periodSeconds: 1 },
          },
        ],
      },
    );
  objects.push(
    echo('echo-same-node', { podAffinity: hostnameTerm({ name: 'client' }) }),
    echo('echo-other-node', { podAntiAffinity: hostnameTerm({ name: 'client' }) }),
  );
  for (const name of ['echo-same-node', 'echo-other-node'])
    objects.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: ns, labels: { ...TEST_LABEL, kind: 'echo' } },
      spec: {
        type: 'NodePort',
        selector: { name },
        ports: [
          { name: n1, port: p1, targetPort: n1, protocol: 'TCP' },
          { name: n2, port: p2, targetPort: n2, protocol: 'TCP' },
        ],
      },
    } as KubernetesObject);
  objects.push({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'host-netns', namespace: ns, labels: { ...TEST_LABEL, kind: 'host-netns' } },
    spec: {
      selector: { matchLabels: { name: 'host-netns' } },
      template: {
        metadata: { labels: { ...TEST_LABEL, kind: 'host-netns', name: 'host-netns' } },
        spec: {
          hostNetwork: true,
          terminationGracePeriodSeconds: 1,
          tolerations: [{ operator: 'Exists' }],
          ...(o.imagePullSecrets.length ? { imagePullSecrets: o.imagePullSecrets.map((n) => ({ name: n })) } : {}),
          containers: [container(o, 'host-netns', ECHO_SERVER, [String(o.hostPort)])],
        },
      },
    },
  } as KubernetesObject);
  return objects;
}
