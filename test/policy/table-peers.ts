// Verdict table: Peers: CIDRs, entities, namespace scoping and selectors.
// Each scenario names the upstream behaviour it pins; verdicts.test.ts runs them.
import { ccnp, cnp, P } from './fixture.js';
import { type Scenario, app, tcp, ports, NS, noLocalhost } from './table.js';

export const PEERS_TABLE: Scenario[] = [
  // ---- CIDR ----------------------------------------------------------------------------------
  {
    pins: 'fromCIDR selects outside traffic by prefix, never pods (CIDR rules apply outside the cluster)',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromCIDR: ['10.0.0.0/8'] }] })],
    checks: [
      ['ip:10.1.2.3', 'prod/web', P.TCP, 8080, 'allow'],
      ['ip:8.8.8.8', 'prod/web', P.TCP, 8080, 'drop'],
      ['prod/api', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'toCIDRSet except carves a hole out of the prefix',
    policies: [
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }] }],
      }),
    ],
    checks: [
      ['prod/web', 'ip:10.2.0.1', P.TCP, 443, 'allow'],
      ['prod/web', 'ip:10.1.2.3', P.TCP, 443, 'drop'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'drop'],
    ],
  },
  {
    pins: 'toCIDR 0.0.0.0/0 covers the world identity and every IPv4 CIDR identity, not pods',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), egress: [{ toCIDR: ['0.0.0.0/0'] }] })],
    checks: [
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'allow'],
      ['prod/web', 'prod/api', P.TCP, 9090, 'drop'],
    ],
  },
  {
    pins: '0.0.0.0/0 except 10.0.0.0/8: everything outside but private space',
    policies: [
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        egress: [{ toCIDRSet: [{ cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }] }],
      }),
    ],
    checks: [
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'allow'],
      ['prod/web', 'ip:10.1.2.3', P.TCP, 443, 'drop'],
      ['prod/web', 'ip:192.168.1.5', P.TCP, 443, 'allow'],
    ],
  },
  {
    pins: 'a narrower CIDR identity made for another policy stays inside a broader CIDR allow',
    policies: [
      cnp('prod', 'web', { endpointSelector: app('web'), egress: [{ toCIDR: ['10.0.0.0/8'] }] }),
      cnp('prod', 'db', { endpointSelector: app('db'), egress: [{ toCIDR: ['10.1.0.0/16'] }] }),
    ],
    checks: [
      ['prod/web', 'ip:10.1.2.3', P.TCP, 443, 'allow'],
      ['prod/web', 'ip:10.2.0.1', P.TCP, 443, 'allow'],
      ['prod/db', 'ip:10.2.0.1', P.TCP, 443, 'drop'],
      ['prod/db', 'ip:10.1.2.3', P.TCP, 443, 'allow'],
    ],
  },
  {
    pins: 'a CIDR deny beats an allow of the world entity',
    policies: [
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        egress: [{ toEntities: ['world'] }],
        egressDeny: [{ toCIDR: ['192.168.0.0/16'] }],
      }),
    ],
    checks: [
      ['prod/web', 'ip:192.168.1.5', P.TCP, 443, 'deny'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'allow'],
    ],
  },
  {
    pins: 'CIDR with toPorts: L3 and L4 both must match',
    policies: [
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        egress: [{ toCIDR: ['8.8.8.8/32'], toPorts: ports({ port: '53', protocol: 'UDP' }) }],
      }),
    ],
    checks: [
      ['prod/web', 'ip:8.8.8.8', P.UDP, 53, 'allow'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 53, 'drop'],
      ['prod/web', 'ip:172.16.0.9', P.UDP, 53, 'drop'],
    ],
  },
  {
    pins: 'IPv6 CIDRs select IPv6 peers only',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), egress: [{ toCIDR: ['2001:db8::/32'] }] })],
    checks: [
      ['prod/web', 'ip6:2001:db8::1', P.TCP, 443, 'allow'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'drop'],
    ],
  },
  // ---- entities ------------------------------------------------------------------------------
  {
    pins: 'entity world: outside IPs and the world identity, not pods or nodes',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEntities: ['world'] }] })],
    checks: [
      ['ip:8.8.8.8', 'prod/web', P.TCP, 8080, 'allow'],
      ['world', 'prod/web', P.TCP, 8080, 'allow'],
      ['prod/api', 'prod/web', P.TCP, 8080, 'drop'],
      ['remote-node', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'entity world also selects CIDR identities made by other policies',
    policies: [
      cnp('prod', 'web', { endpointSelector: app('web'), egress: [{ toEntities: ['world'] }] }),
      cnp('prod', 'db', { endpointSelector: app('db'), egress: [{ toCIDR: ['10.0.0.0/8'] }] }),
    ],
    checks: [
      ['prod/web', 'ip:10.1.2.3', P.TCP, 443, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'entity world-ipv4 selects IPv4 CIDR identities',
    policies: [
      cnp('prod', 'web', { endpointSelector: app('web'), egress: [{ toEntities: ['world-ipv4'] }] }),
      cnp('prod', 'db', { endpointSelector: app('db'), egress: [{ toCIDR: ['10.0.0.0/8'] }] }),
    ],
    checks: [['prod/web', 'ip:10.1.2.3', P.TCP, 443, 'allow']],
  },
  {
    pins: 'entity cluster: every pod, the host, remote nodes, health and kube-apiserver; not world',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEntities: ['cluster'] }] })],
    checks: [
      ['dev/client', 'prod/web', P.TCP, 8080, 'allow'],
      ['other/client', 'prod/web', P.TCP, 8080, 'allow'],
      ['remote-node', 'prod/web', P.TCP, 8080, 'allow'],
      ['health', 'prod/web', P.TCP, 8080, 'allow'],
      ['kube-apiserver', 'prod/web', P.TCP, 8080, 'allow'],
      ['init', 'prod/web', P.TCP, 8080, 'allow'],
      ['ip:8.8.8.8', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'entity cluster follows the cluster name (io.cilium.k8s.policy.cluster)',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEntities: ['cluster'] }] })],
    options: { clusterName: 'east' },
    checks: [
      ['dev/client', 'prod/web', P.TCP, 8080, 'allow'],
      ['world', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'entity host: the local host only, not remote nodes',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEntities: ['host'] }] })],
    options: noLocalhost,
    checks: [
      ['host', 'prod/web', P.TCP, 8080, 'allow'],
      ['remote-node', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'entity remote-node: other nodes only, not the local host',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEntities: ['remote-node'] }] })],
    options: noLocalhost,
    checks: [
      ['remote-node', 'prod/web', P.TCP, 8080, 'allow'],
      ['host', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'entity all: every peer, inside or outside the cluster (identity 0)',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEntities: ['all'] }] })],
    checks: [
      ['world', 'prod/web', P.TCP, 8080, 'allow'],
      ['ip:8.8.8.8', 'prod/web', P.UDP, 9, 'allow'],
      ['dev/client', 'prod/web', P.TCP, 8080, 'allow'],
      ['remote-node', 'prod/web', P.TCP, 8080, 'allow'],
    ],
  },
  {
    pins: 'entity kube-apiserver: the API server identity only',
    policies: [
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        egress: [{ toEntities: ['kube-apiserver'], toPorts: ports(tcp(443)) }],
      }),
    ],
    checks: [
      ['prod/web', 'kube-apiserver', P.TCP, 443, 'allow'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'drop'],
      ['prod/web', 'host', P.TCP, 443, 'drop'],
    ],
  },
  {
    pins: 'entity health: the health endpoints only',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEntities: ['health'] }] })],
    checks: [
      ['health', 'prod/web', P.TCP, 4240, 'allow'],
      ['world', 'prod/web', P.TCP, 4240, 'drop'],
    ],
  },
  {
    pins: 'entity ingress: the ingress (Envoy) identity only',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEntities: ['ingress'] }] })],
    checks: [
      ['ingress', 'prod/web', P.TCP, 8080, 'allow'],
      ['world', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'entity none selects nothing, yet the rule enables default deny',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEntities: ['none'] }] })],
    checks: [
      ['dev/client', 'prod/web', P.TCP, 8080, 'drop'],
      ['world', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'entities unmanaged and init select their reserved identities',
    policies: [
      cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEntities: ['unmanaged', 'init'] }] }),
    ],
    checks: [
      ['unmanaged', 'prod/web', P.TCP, 8080, 'allow'],
      ['init', 'prod/web', P.TCP, 8080, 'allow'],
      ['health', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  // ---- namespace scoping, selectors ---------------------------------------------------------
  {
    pins: 'a CNP with endpointSelector {} selects only its own namespace (docs: security/policy/kubernetes, Namespaces)',
    policies: [cnp('prod', 'all', { endpointSelector: {}, ingress: [{ fromEndpoints: [{}] }] })],
    checks: [
      ['prod/api', 'prod/web', P.TCP, 8080, 'allow'],
      ['dev/client', 'prod/web', P.TCP, 8080, 'drop'],
      ['dev/client', 'dev/web', P.TCP, 8080, 'allow'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['ip:8.8.8.8', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'a CNP label-only peer is confined to the policy namespace (docs: security/policy/kubernetes, Namespaces)',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEndpoints: [app('client')] }] })],
    checks: [
      ['dev/client', 'prod/web', P.TCP, 8080, 'drop'],
      ['other/client', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'a CNP peer naming k8s:io.kubernetes.pod.namespace reaches that namespace',
    policies: [
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        ingress: [{ fromEndpoints: [{ matchLabels: { app: 'client', [NS]: 'dev' } }] }],
      }),
    ],
    checks: [
      ['dev/client', 'prod/web', P.TCP, 8080, 'allow'],
      ['other/client', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'a CNP cannot select endpoints of another namespace, even by naming it',
    policies: [cnp('prod', 'x', { endpointSelector: { matchLabels: { app: 'client', [NS]: 'dev' } }, ingress: [{}] })],
    checks: [['prod/web', 'dev/client', P.TCP, 80, 'allow']],
  },
  {
    pins: 'a CCNP selects endpoints in every namespace and its peers are not confined',
    policies: [ccnp('web', { endpointSelector: app('web'), ingress: [{ fromEndpoints: [app('client')] }] })],
    checks: [
      ['dev/client', 'prod/web', P.TCP, 8080, 'allow'],
      ['other/client', 'dev/web', P.TCP, 8080, 'allow'],
      ['prod/api', 'other/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'a CCNP names namespaces with k8s:io.kubernetes.pod.namespace',
    policies: [
      ccnp('prod', {
        endpointSelector: { matchLabels: { [NS]: 'prod' } },
        ingress: [{ fromEndpoints: [{ matchLabels: { 'io.kubernetes.pod.namespace': 'prod' } }] }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/client', 'prod/db', P.TCP, 5432, 'drop'],
      ['dev/client', 'dev/web', P.TCP, 8080, 'allow'],
    ],
  },
  {
    pins: 'namespace labels are selectable as io.cilium.k8s.namespace.labels.*',
    policies: [
      ccnp('db', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [{ matchLabels: { 'io.cilium.k8s.namespace.labels.team': 'payments' } }] }],
      }),
    ],
    checks: [
      ['dev/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['other/client', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'a CNP peer selecting namespace labels is not confined to the policy namespace',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [{ matchLabels: { 'io.cilium.k8s.namespace.labels.team': 'payments' } }] }],
      }),
    ],
    checks: [
      ['dev/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['other/client', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'selector keys may carry the k8s: source prefix',
    policies: [
      cnp('prod', 'web', {
        endpointSelector: { matchLabels: { 'k8s:app': 'web' } },
        ingress: [{ fromEndpoints: [{ matchLabels: { 'k8s:app': 'api' } }] }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/web', P.TCP, 8080, 'allow'],
      ['prod/db', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'the any: source prefix matches a label of any source',
    policies: [
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        ingress: [{ fromEndpoints: [{ matchLabels: { 'any:app': 'api' } }] }],
      }),
    ],
    checks: [['prod/api', 'prod/web', P.TCP, 8080, 'allow']],
  },
  {
    pins: 'a reserved: peer selector selects the reserved identity and is not namespace-confined',
    policies: [
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        ingress: [{ fromEndpoints: [{ matchLabels: { 'reserved:host': '' } }] }],
      }),
    ],
    options: noLocalhost,
    checks: [
      ['host', 'prod/web', P.TCP, 8080, 'allow'],
      ['remote-node', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'the service account is an identity label usable as a peer (docs: security/policy/kubernetes, ServiceAccounts)',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [{ matchLabels: { 'io.cilium.k8s.policy.serviceaccount': 'api' } }] }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'the service account selects the subject endpoints too (docs: security/policy/kubernetes, ServiceAccounts)',
    policies: [
      cnp('prod', 'sa', {
        endpointSelector: { matchLabels: { 'io.cilium.k8s.policy.serviceaccount': 'web' } },
        ingress: [{}],
      }),
    ],
    checks: [
      ['prod/api', 'prod/web', P.TCP, 8080, 'drop'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
    ],
  },
  {
    pins: 'every pod carries io.cilium.k8s.policy.cluster: the allow-in-cluster idiom selects all pods, not nodes (docs: security/policy/kubernetes, Multi-Cluster)',
    policies: [
      ccnp('db', {
        endpointSelector: app('db'),
        ingress: [
          { fromEndpoints: [{ matchExpressions: [{ key: 'io.cilium.k8s.policy.cluster', operator: 'Exists' }] }] },
        ],
      }),
    ],
    checks: [
      ['dev/client', 'prod/db', P.TCP, 5432, 'allow'],
      ['other/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['world', 'prod/db', P.TCP, 5432, 'drop'],
      ['remote-node', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'pod-template-hash is not identity-relevant: a selector on it selects nothing',
    policies: [
      ccnp('db', {
        endpointSelector: app('db'),
        ingress: [
          { fromEndpoints: [{ matchLabels: { 'pod-template-hash': '5d9c7b' } }] },
          { fromEndpoints: [app('client')], toPorts: ports(tcp(1)) },
        ],
      }),
    ],
    checks: [
      ['other/client', 'prod/db', P.TCP, 5432, 'drop'],
      ['other/client', 'prod/db', P.TCP, 1, 'allow'],
    ],
  },
  {
    pins: 'controller-revision-hash is not identity-relevant',
    policies: [
      ccnp('db', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [{ matchLabels: { 'controller-revision-hash': 'abc' } }] }],
      }),
    ],
    checks: [['other/web', 'prod/db', P.TCP, 5432, 'drop']],
  },
  {
    pins: 'matchExpressions In',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['api', 'web'] }] }] }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/web', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'matchExpressions NotIn also matches endpoints without the key',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [{ matchExpressions: [{ key: 'role', operator: 'NotIn', values: ['primary'] }] }] }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/db', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'matchExpressions Exists',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }] }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/db', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'matchExpressions DoesNotExist',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [{ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }] }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/db', 'prod/db', P.TCP, 5432, 'allow'],
    ],
  },
  {
    pins: 'matchLabels and matchExpressions are ANDed',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingress: [
          {
            fromEndpoints: [
              {
                matchLabels: { tier: 'front' },
                matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }],
              },
            ],
          },
        ],
      }),
    ],
    checks: [
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'fromEndpoints: [{}] in a CNP is every pod of the namespace, not world',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [{}] }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['world', 'prod/db', P.TCP, 5432, 'drop'],
      ['dev/client', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'fromEndpoints: [{}] in a CCNP is every pod of the cluster (namespace label Exists), never world or nodes',
    policies: [ccnp('db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [{}] }] })],
    checks: [
      ['world', 'prod/db', P.TCP, 5432, 'drop'],
      ['dev/client', 'prod/db', P.TCP, 5432, 'allow'],
      ['other/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['remote-node', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'fromEndpoints: [] (an empty list) selects no peer',
    policies: [
      cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [], toPorts: ports(tcp(80)) }] }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 80, 'drop'],
      ['world', 'prod/db', P.TCP, 80, 'drop'],
    ],
  },
  {
    pins: 'toPorts without a peer field allows the port from every peer (L4-only rule)',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ toPorts: ports(tcp(8080)) }] })],
    checks: [
      ['ip:8.8.8.8', 'prod/web', P.TCP, 8080, 'allow'],
      ['dev/client', 'prod/web', P.TCP, 8080, 'allow'],
      ['ip:8.8.8.8', 'prod/web', P.TCP, 8081, 'drop'],
    ],
  },
];
