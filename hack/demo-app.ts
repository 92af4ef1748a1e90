// The demo app (`npm run demo`, hack/demo.ts) and its example policies, shared with the tests that
// run the same app (test/e2e/whatif.test.ts, test/whatif/saved-run.test.ts): two namespaces, five
// pods across both nodes, each serving TCP on its ports.

export interface AppPod {
  ns: string;
  name: string;
  node: string;
  ports: number[];
}

/** Who runs where, listening on which ports. */
export const APP: AppPod[] = [
  { ns: 'shop', name: 'frontend', node: 'node-1', ports: [8080] },
  { ns: 'shop', name: 'backend', node: 'node-2', ports: [8080] },
  { ns: 'shop', name: 'intruder', node: 'node-1', ports: [8080] },
  { ns: 'data', name: 'db', node: 'node-2', ports: [5432, 8080] },
  { ns: 'data', name: 'reporting', node: 'node-1', ports: [8080] },
];
export const APP_NAMESPACES = ['shop', 'data'];
/** The reachability matrix: its rows ("namespace/name") and columns ("namespace/name:port"). */
export const SOURCES = ['shop/frontend', 'shop/backend', 'shop/intruder', 'data/reporting'];
export const TARGETS = ['shop/frontend:8080', 'shop/backend:8080', 'data/db:5432', 'data/db:8080'];

export const APP_YAML = [
  ...APP_NAMESPACES.map((ns) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}, labels: {team: ${ns}}}`),
  ...APP.map(
    (p) => `apiVersion: v1
kind: Pod
metadata: {name: ${p.name}, namespace: ${p.ns}, labels: {app: ${p.name}}}
spec:
  nodeName: ${p.node}
  containers:
${p.ports.map((port) => `    - {name: srv-${port}, image: none, command: [python3, -m, http.server, "${port}"], ports: [{name: p${port}, containerPort: ${port}}]}`).join('\n')}`,
  ),
].join('\n---\n');

export const BACKEND_FROM_FRONTEND = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: backend-from-frontend, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: backend}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: frontend}}]`;
export const FRONTEND_DENY_INTRUDER = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: frontend-deny-intruder, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: frontend}}
  ingressDeny:
    - fromEndpoints: [{matchLabels: {app: intruder}}]
  ingress:
    - fromEntities: [all]`;
export const DB_INGRESS = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: data}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
    - from: [{namespaceSelector: {matchLabels: {team: shop}}, podSelector: {matchLabels: {app: backend}}}]
      ports: [{port: 5432, protocol: TCP}]
    - from: [{podSelector: {}}]`;
export const REPORTING_STAYS = `apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: reporting-stays-in-data}
spec:
  endpointSelector: {matchLabels: {app: reporting, k8s:io.kubernetes.pod.namespace: data}}
  egress:
    - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: data}}]`;

/** The example policies in the order the demo applies them: L3, a deny, L4 (a NetworkPolicy), a CCNP. */
export const POLICIES: { what: string; yaml: string }[] = [
  { what: 'L3 (CNP): only the frontend may reach the backend', yaml: BACKEND_FROM_FRONTEND },
  { what: 'deny (CNP): the intruder may not reach the frontend, everyone else may', yaml: FRONTEND_DENY_INTRUDER },
  {
    what: 'L4 (NetworkPolicy): the db takes 5432 from shop/backend, anything from its own namespace',
    yaml: DB_INGRESS,
  },
  { what: 'CCNP: reporting may only talk to the data namespace', yaml: REPORTING_STAYS },
];
