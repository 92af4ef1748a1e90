// Verdict table: Kubernetes NetworkPolicy, as upstream translates it.
// Each scenario names the upstream behaviour it pins; verdicts.test.ts runs them.
import { cnp, knp, P } from './fixture.js';
import { type Scenario, app } from './table.js';

export const NETWORK_POLICY_TABLE: Scenario[] = [
  // ---- Kubernetes NetworkPolicy --------------------------------------------------------------
  {
    pins: 'NetworkPolicy deny all ingress: podSelector {} and policyTypes [Ingress]',
    policies: [knp('prod', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
      ['dev/client', 'prod/web', P.TCP, 8080, 'drop'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'allow'],
      ['dev/client', 'dev/web', P.TCP, 8080, 'allow'],
    ],
  },
  {
    pins: 'NetworkPolicy without policyTypes and rules: Ingress implied, deny all ingress',
    policies: [knp('prod', 'default-deny', { podSelector: {} })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/db', 'ip:8.8.8.8', P.TCP, 443, 'allow'],
    ],
  },
  {
    pins: 'NetworkPolicy allow all ingress: `ingress: [{}]` (unlike a CNP empty rule)',
    policies: [knp('prod', 'allow-all', { podSelector: {}, ingress: [{}] })],
    checks: [
      ['world', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/client', 'prod/db', P.UDP, 53, 'allow'],
    ],
  },
  {
    pins: 'NetworkPolicy deny all egress: policyTypes [Egress] without rules (kubernetes.io network-policies, Default deny all egress)',
    policies: [knp('prod', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] })],
    checks: [
      ['prod/web', 'ip:8.8.8.8', P.UDP, 53, 'drop'],
      ['prod/web', 'prod/api', P.TCP, 9090, 'drop'],
      ['dev/client', 'prod/web', P.TCP, 8080, 'allow'],
    ],
  },
  {
    pins: 'NetworkPolicy default deny both directions',
    policies: [knp('prod', 'deny-both', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })],
    checks: [
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'drop'],
      ['ip:8.8.8.8', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy allow from a namespace (namespaceSelector on namespace labels)',
    policies: [
      knp('prod', 'from-dev', {
        podSelector: app('db'),
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'dev' } } }] }],
      }),
    ],
    checks: [
      ['dev/client', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['other/client', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
      ['world', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy namespaceSelector on kubernetes.io/metadata.name',
    policies: [
      knp('prod', 'from-other', {
        podSelector: app('db'),
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'other' } } }] }],
      }),
    ],
    checks: [
      ['other/client', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/client', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy allow from a pod in a namespace: both selectors in one peer are ANDed',
    policies: [
      knp('prod', 'from-search-client', {
        podSelector: app('db'),
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'search' } }, podSelector: app('client') }] }],
      }),
    ],
    checks: [
      ['other/client', 'prod/db', P.TCP, 5432, 'allow'],
      ['other/web', 'prod/db', P.TCP, 5432, 'drop'],
      ['dev/client', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy: two peers in `from` are ORed',
    policies: [
      knp('prod', 'or', {
        podSelector: app('db'),
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'search' } } }, { podSelector: app('api') }] }],
      }),
    ],
    checks: [
      ['other/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/client', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: "NetworkPolicy podSelector peer alone: pods of the policy's namespace",
    policies: [knp('prod', 'from-web', { podSelector: app('db'), ingress: [{ from: [{ podSelector: app('web') }] }] })],
    checks: [
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/web', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy namespaceSelector {}: every pod in every namespace, not outside peers',
    policies: [
      knp('prod', 'from-cluster', { podSelector: app('db'), ingress: [{ from: [{ namespaceSelector: {} }] }] }),
    ],
    checks: [
      ['other/client', 'prod/db', P.TCP, 5432, 'allow'],
      ['world', 'prod/db', P.TCP, 5432, 'drop'],
      ['remote-node', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy ipBlock with except',
    policies: [
      knp('prod', 'ipblock', {
        podSelector: app('web'),
        ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] }],
      }),
    ],
    checks: [
      ['ip:10.2.0.1', 'prod/web', P.TCP, 8080, 'allow'],
      ['ip:10.1.2.3', 'prod/web', P.TCP, 8080, 'drop'],
      ['ip:8.8.8.8', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy egress to a port range (endPort)',
    policies: [
      knp('prod', 'egress-range', {
        podSelector: app('web'),
        policyTypes: ['Egress'],
        egress: [
          { to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ protocol: 'TCP', port: 32000, endPort: 32768 }] },
        ],
      }),
    ],
    checks: [
      ['prod/web', 'ip:8.8.8.8', P.TCP, 32000, 'allow'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 32768, 'allow'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 32769, 'drop'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 31999, 'drop'],
      ['prod/web', 'ip:8.8.8.8', P.UDP, 32000, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy ports without a protocol default to TCP',
    policies: [knp('prod', 'tcp', { podSelector: app('db'), ingress: [{ ports: [{ port: 5432 }] }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/api', 'prod/db', P.UDP, 5432, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy SCTP ports',
    policies: [
      knp('prod', 'sctp', { podSelector: app('db'), ingress: [{ ports: [{ port: 9999, protocol: 'SCTP' }] }] }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.SCTP, 9999, 'allow'],
      ['prod/api', 'prod/db', P.TCP, 9999, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy named ports (kubernetes.io network-policies, NetworkPolicyPort)',
    policies: [knp('prod', 'named', { podSelector: app('web'), ingress: [{ ports: [{ port: 'http' }] }] })],
    checks: [
      ['world', 'prod/web', P.TCP, 8080, 'allow'],
      ['world', 'prod/web', P.TCP, 9090, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy: Cilium reads egress rules even when policyTypes lists only Ingress (ParseNetworkPolicy)',
    policies: [
      knp('prod', 'ingress-only', {
        podSelector: app('web'),
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ podSelector: app('api') }] }],
        egress: [{ to: [{ podSelector: app('db') }] }],
      }),
    ],
    checks: [
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'drop'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/api', 'prod/web', P.TCP, 8080, 'allow'],
      ['prod/db', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy policyTypes [Egress] without ingress rules leaves ingress open',
    policies: [
      knp('prod', 'egress-only', {
        podSelector: app('web'),
        policyTypes: ['Egress'],
        egress: [{ to: [{ podSelector: app('db') }] }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/web', P.TCP, 8080, 'allow'],
      ['prod/web', 'prod/api', P.TCP, 9090, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy: a peer with no selector and no ipBlock selects nothing',
    policies: [knp('prod', 'empty-peer', { podSelector: app('db'), ingress: [{ from: [{}] }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
      ['world', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy egress rules without policyTypes imply [Ingress, Egress]',
    policies: [
      knp('prod', 'egress-implied', { podSelector: app('web'), egress: [{ to: [{ podSelector: app('db') }] }] }),
    ],
    checks: [
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/api', P.TCP, 9090, 'drop'],
      ['prod/api', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: "NetworkPolicy podSelector selects pods of the policy's namespace only",
    policies: [knp('prod', 'web', { podSelector: app('web'), policyTypes: ['Ingress'] })],
    checks: [
      ['dev/client', 'dev/web', P.TCP, 8080, 'allow'],
      ['prod/api', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy and CiliumNetworkPolicy selecting the same pod merge',
    policies: [
      knp('prod', 'db-api', { podSelector: app('db'), ingress: [{ from: [{ podSelector: app('api') }] }] }),
      cnp('prod', 'db-web', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [app('web')] }] }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/client', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy egress to a namespace on one port',
    policies: [
      knp('dev', 'dns', {
        podSelector: app('client'),
        policyTypes: ['Egress'],
        egress: [
          { to: [{ namespaceSelector: { matchLabels: { env: 'prod' } } }], ports: [{ port: 53, protocol: 'UDP' }] },
        ],
      }),
    ],
    checks: [
      ['dev/client', 'prod/api', P.UDP, 53, 'allow'],
      ['dev/client', 'prod/api', P.TCP, 53, 'drop'],
      ['dev/client', 'other/web', P.UDP, 53, 'drop'],
    ],
  },
];
