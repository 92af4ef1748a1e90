// The verdict table: each row names the upstream behaviour it pins (docs.cilium.io policy
// language, Kubernetes NetworkPolicy docs, reference §8) and checks that the datapath's map
// lookup at both ends and the policy trace give the same, expected verdict.
import { describe, expect, it } from '@jest/globals';
import type { EngineOptions, PolicyObject } from '../../policy/index.js';
import { ccnp, cnp, Fixture, knp, P, type Expect } from './fixture.js';

type Check = [from: string, to: string, proto: number, port: number, expect: Expect];
interface Scenario {
  pins: string;
  policies: PolicyObject[];
  options?: Partial<EngineOptions>;
  checks: Check[];
}

const app = (a: string) => ({ matchLabels: { app: a } });
const tcp = (port: string | number, endPort?: number) => ({ port: String(port), protocol: 'TCP', ...(endPort ? { endPort } : {}) });
const ports = (...p: object[]) => [{ ports: p }];
const NS = 'k8s:io.kubernetes.pod.namespace';
const noLocalhost = { allowLocalhost: false };

const scenarios: Scenario[] = [
  // ---- default deny per direction ------------------------------------------------------------
  {
    pins: 'no rule selects an endpoint: all traffic allowed (enforcement "default")',
    policies: [],
    checks: [
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['ip:8.8.8.8', 'prod/web', P.TCP, 80, 'allow'],
      ['prod/web', 'ip:8.8.8.8', P.UDP, 53, 'allow'],
    ],
  },
  {
    pins: 'an ingress rule puts the selected endpoint in ingress default deny only',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [app('api')], toPorts: ports(tcp(5432)) }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/api', 'prod/db', P.TCP, 5433, 'drop'],
      ['prod/api', 'prod/db', P.UDP, 5432, 'drop'],
      ['prod/db', 'ip:8.8.8.8', P.TCP, 443, 'allow'],
      ['prod/db', 'prod/web', P.TCP, 8080, 'allow'],
    ],
  },
  {
    pins: 'an egress rule puts the selected endpoint in egress default deny only',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), egress: [{ toEndpoints: [app('api')], toPorts: ports(tcp(9090)) }] })],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 9090, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'drop'],
      ['prod/db', 'prod/web', P.TCP, 80, 'allow'],
      ['prod/web2', 'prod/api', P.TCP, 9090, 'allow'],
    ],
  },
  {
    pins: 'an empty rule `ingress: [{}]` is deny-all, not allow-all (§8.5)',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{}] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
      ['ip:8.8.8.8', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/db', 'prod/api', P.TCP, 9090, 'allow'],
    ],
  },
  {
    pins: 'an empty rule `egress: [{}]` blocks all egress (§8.5)',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), egress: [{}] })],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 9090, 'drop'],
      ['prod/web', 'ip:8.8.8.8', P.UDP, 53, 'drop'],
      ['prod/api', 'prod/web', P.TCP, 8080, 'allow'],
    ],
  },
  {
    pins: 'policy-enforcement=always: an endpoint without rules is in default deny',
    policies: [],
    options: { enforcement: 'always' },
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/db', 'ip:8.8.8.8', P.TCP, 443, 'drop'],
    ],
  },
  {
    pins: 'policy-enforcement=never: rules are not enforced',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [app('api')] }] })],
    options: { enforcement: 'never' },
    checks: [
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['ip:8.8.8.8', 'prod/db', P.TCP, 1, 'allow'],
    ],
  },
  {
    pins: 'allow-localhost: the local host reaches an endpoint in default deny (kubelet probes)',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{}] })],
    checks: [
      ['host', 'prod/db', P.TCP, 5432, 'allow'],
      ['remote-node', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'allow-localhost does not beat an explicit deny from the host',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingressDeny: [{ fromEntities: ['host'] }] })],
    checks: [['host', 'prod/db', P.TCP, 5432, 'deny']],
  },
  {
    pins: 'allow-localhost off: the host is a peer like any other',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{}] })],
    options: noLocalhost,
    checks: [['host', 'prod/db', P.TCP, 5432, 'drop']],
  },
  // ---- deny precedence -----------------------------------------------------------------------
  {
    pins: 'deny wins over allow for the same peer, whatever the order',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingressDeny: [{ fromEndpoints: [app('api')], toPorts: ports(tcp(22)) }],
        ingress: [{ fromEndpoints: [app('api')] }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/api', 'prod/db', P.TCP, 22, 'deny'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'deny on all ports beats a more specific (single-port) allow',
    policies: [
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        ingress: [{ fromEndpoints: [app('api')], toPorts: ports(tcp(8080)) }],
        ingressDeny: [{ fromEndpoints: [app('api')] }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/web', P.TCP, 8080, 'deny'],
      ['prod/api', 'prod/web', P.UDP, 53, 'deny'],
      ['prod/db', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'a deny in one policy beats an allow in another policy',
    policies: [
      cnp('prod', 'web-ns', { endpointSelector: app('web'), ingress: [{ fromEndpoints: [{}] }] }),
      ccnp('web-deny-api', { endpointSelector: app('web'), ingressDeny: [{ fromEndpoints: [app('api')] }] }),
    ],
    checks: [
      ['prod/api', 'prod/web', P.TCP, 8080, 'deny'],
      ['prod/db', 'prod/web', P.TCP, 8080, 'allow'],
      ['dev/web', 'prod/web', P.TCP, 8080, 'drop'],
      ['prod/db', 'dev/web', P.TCP, 8080, 'drop'],
      ['prod/api', 'dev/web', P.TCP, 8080, 'deny'],
    ],
  },
  {
    pins: 'a deny-only policy enables default deny for its direction (§8.3)',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingressDeny: [{ fromEndpoints: [app('web')] }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'deny'],
    ],
  },
  {
    pins: 'enableDefaultDeny.ingress=false: a deny-only policy denies just its peers',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), enableDefaultDeny: { ingress: false }, ingressDeny: [{ fromEndpoints: [app('web')] }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'deny'],
      ['ip:8.8.8.8', 'prod/db', P.TCP, 5432, 'allow'],
    ],
  },
  {
    pins: 'enableDefaultDeny=false on an allow policy: the endpoint stays open',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), enableDefaultDeny: { ingress: false }, ingress: [{ fromEndpoints: [app('web')], toPorts: ports(tcp(5432)) }] })],
    checks: [
      ['dev/client', 'prod/db', P.TCP, 80, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
    ],
  },
  {
    pins: 'if any policy requests default deny, the endpoint gets it',
    policies: [
      cnp('prod', 'db-open', { endpointSelector: app('db'), enableDefaultDeny: { ingress: false }, ingress: [{ fromEndpoints: [app('web')] }] }),
      cnp('prod', 'db-strict', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [app('api')] }] }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/client', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'enableDefaultDeny.egress=true puts egress in default deny even without egress rules',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), enableDefaultDeny: { egress: true }, ingress: [{ fromEndpoints: [app('api')] }] })],
    checks: [
      ['prod/db', 'ip:8.8.8.8', P.TCP, 443, 'drop'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
    ],
  },
  {
    pins: 'an explicitly empty peer list (fromEntities: []) makes the whole rule select no peer',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEntities: [], fromEndpoints: [app('api')] }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
      ['world', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'enableDefaultDeny is per direction: egress=false keeps egress open',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), enableDefaultDeny: { egress: false }, egressDeny: [{ toEntities: ['world'] }], ingress: [{}] })],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 9090, 'allow'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'deny'],
      ['prod/api', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'deny is narrow: a TCP 8080 deny leaves ICMP, UDP and other ports alone (§8.4)',
    policies: [
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        ingress: [{ fromEndpoints: [app('api')] }],
        ingressDeny: [{ fromEndpoints: [app('api')], toPorts: ports(tcp(8080)) }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/web', P.TCP, 8080, 'deny'],
      ['prod/api', 'prod/web', P.ICMP, 8, 'allow'],
      ['prod/api', 'prod/web', P.UDP, 8080, 'allow'],
      ['prod/api', 'prod/web', P.TCP, 8081, 'allow'],
    ],
  },
  {
    pins: 'an ICMP type-8 deny leaves TCP and echo replies alone (§8.4)',
    policies: [
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        ingress: [{ fromEndpoints: [app('api')] }],
        ingressDeny: [{ fromEndpoints: [app('api')], icmps: [{ fields: [{ type: 8 }] }] }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/web', P.ICMP, 8, 'deny'],
      ['prod/api', 'prod/web', P.ICMP, 0, 'allow'],
      ['prod/api', 'prod/web', P.TCP, 8080, 'allow'],
    ],
  },
  {
    pins: 'icmps allow only the listed types, by number or name, per family',
    policies: [
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        ingress: [{ fromEndpoints: [app('api')], icmps: [{ fields: [{ type: 8 }, { type: 'EchoRequest', family: 'IPv6' }] }] }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/web', P.ICMP, 8, 'allow'],
      ['prod/api', 'prod/web', P.ICMP, 13, 'drop'],
      ['prod/api', 'prod/web', P.TCP, 8080, 'drop'],
      ['prod/api', 'prod/web', P.ICMPV6, 128, 'allow'],
      ['prod/api', 'prod/web', P.ICMP, 128, 'drop'],
    ],
  },
  {
    pins: 'a deny port range inside an allowed protocol denies only the range',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [app('api')], toPorts: ports({ protocol: 'TCP' }) }],
        ingressDeny: [{ fromEndpoints: [app('api')], toPorts: ports(tcp(8000, 8999)) }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 8500, 'deny'],
      ['prod/api', 'prod/db', P.TCP, 8000, 'deny'],
      ['prod/api', 'prod/db', P.TCP, 8999, 'deny'],
      ['prod/api', 'prod/db', P.TCP, 9000, 'allow'],
      ['prod/api', 'prod/db', P.TCP, 7999, 'allow'],
    ],
  },
  {
    pins: 'overlapping allow and deny ranges: the overlap is denied',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [app('api')], toPorts: ports(tcp(1000, 2000)) }],
        ingressDeny: [{ fromEndpoints: [app('api')], toPorts: ports(tcp(1500, 2500)) }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 1200, 'allow'],
      ['prod/api', 'prod/db', P.TCP, 1600, 'deny'],
      ['prod/api', 'prod/db', P.TCP, 2200, 'deny'],
      ['prod/api', 'prod/db', P.TCP, 2600, 'drop'],
    ],
  },
  {
    pins: 'a deny for every peer (fromEntities all) beats an allow for one peer',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [app('api')] }],
        ingressDeny: [{ fromEntities: ['all'], toPorts: ports(tcp(23)) }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 23, 'deny'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['ip:8.8.8.8', 'prod/db', P.TCP, 23, 'deny'],
    ],
  },
  // ---- fromRequires / toRequires -------------------------------------------------------------
  {
    pins: 'fromRequires: only peers that also match the requirement are allowed',
    policies: [
      ccnp('db', {
        endpointSelector: app('db'),
        ingress: [{ fromRequires: [{ matchLabels: { [NS]: 'prod' } }] }, { fromEndpoints: [app('web')] }],
      }),
    ],
    checks: [
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/web', 'prod/db', P.TCP, 5432, 'drop'],
      ['other/web', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'fromRequires grants nothing by itself',
    policies: [ccnp('db', { endpointSelector: app('db'), ingress: [{ fromRequires: [{ matchLabels: { [NS]: 'prod' } }] }] })],
    checks: [
      ['prod/web', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'fromRequires of one policy constrains fromEndpoints of another policy selecting the endpoint',
    policies: [
      ccnp('db-from-web', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [app('web')] }] }),
      ccnp('db-requires-prod', { endpointSelector: app('db'), ingress: [{ fromRequires: [{ matchLabels: { [NS]: 'prod' } }] }] }),
    ],
    checks: [
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/web', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'fromRequires does not constrain entities or CIDRs',
    policies: [
      ccnp('db', {
        endpointSelector: app('db'),
        ingress: [{ fromRequires: [{ matchLabels: { [NS]: 'prod' } }] }, { fromEntities: ['world'] }],
      }),
    ],
    checks: [
      ['ip:8.8.8.8', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/web', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'toRequires constrains egress peers the same way',
    policies: [
      ccnp('client', {
        endpointSelector: app('client'),
        egress: [{ toRequires: [{ matchLabels: { [NS]: 'prod' } }] }, { toEndpoints: [app('web')] }],
      }),
    ],
    checks: [
      ['dev/client', 'prod/web', P.TCP, 8080, 'allow'],
      ['dev/client', 'dev/web', P.TCP, 8080, 'drop'],
      ['other/client', 'other/web', P.TCP, 8080, 'drop'],
    ],
  },
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
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }] }] })],
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
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), egress: [{ toCIDRSet: [{ cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }] }] })],
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
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), egress: [{ toEntities: ['world'] }], egressDeny: [{ toCIDR: ['192.168.0.0/16'] }] })],
    checks: [
      ['prod/web', 'ip:192.168.1.5', P.TCP, 443, 'deny'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'allow'],
    ],
  },
  {
    pins: 'CIDR with toPorts: L3 and L4 both must match',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), egress: [{ toCIDR: ['8.8.8.8/32'], toPorts: ports({ port: '53', protocol: 'UDP' }) }] })],
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
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), egress: [{ toEntities: ['kube-apiserver'], toPorts: ports(tcp(443)) }] })],
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
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEntities: ['unmanaged', 'init'] }] })],
    checks: [
      ['unmanaged', 'prod/web', P.TCP, 8080, 'allow'],
      ['init', 'prod/web', P.TCP, 8080, 'allow'],
      ['health', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  // ---- namespace scoping, selectors ---------------------------------------------------------
  {
    pins: 'a CNP with endpointSelector {} selects only its own namespace (§8.7)',
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
    pins: 'a CNP label-only peer is confined to the policy namespace (§8.7)',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEndpoints: [app('client')] }] })],
    checks: [
      ['dev/client', 'prod/web', P.TCP, 8080, 'drop'],
      ['other/client', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'a CNP peer naming k8s:io.kubernetes.pod.namespace reaches that namespace',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEndpoints: [{ matchLabels: { app: 'client', [NS]: 'dev' } }] }] })],
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
    policies: [ccnp('prod', { endpointSelector: { matchLabels: { [NS]: 'prod' } }, ingress: [{ fromEndpoints: [{ matchLabels: { 'io.kubernetes.pod.namespace': 'prod' } }] }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/client', 'prod/db', P.TCP, 5432, 'drop'],
      ['dev/client', 'dev/web', P.TCP, 8080, 'allow'],
    ],
  },
  {
    pins: 'namespace labels are selectable as io.cilium.k8s.namespace.labels.*',
    policies: [ccnp('db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [{ matchLabels: { 'io.cilium.k8s.namespace.labels.team': 'payments' } }] }] })],
    checks: [
      ['dev/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['other/client', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'a CNP peer selecting namespace labels is not confined to the policy namespace',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [{ matchLabels: { 'io.cilium.k8s.namespace.labels.team': 'payments' } }] }] })],
    checks: [
      ['dev/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['other/client', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'selector keys may carry the k8s: source prefix',
    policies: [cnp('prod', 'web', { endpointSelector: { matchLabels: { 'k8s:app': 'web' } }, ingress: [{ fromEndpoints: [{ matchLabels: { 'k8s:app': 'api' } }] }] })],
    checks: [
      ['prod/api', 'prod/web', P.TCP, 8080, 'allow'],
      ['prod/db', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'the any: source prefix matches a label of any source',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEndpoints: [{ matchLabels: { 'any:app': 'api' } }] }] })],
    checks: [['prod/api', 'prod/web', P.TCP, 8080, 'allow']],
  },
  {
    pins: 'a reserved: peer selector selects the reserved identity and is not namespace-confined',
    policies: [cnp('prod', 'web', { endpointSelector: app('web'), ingress: [{ fromEndpoints: [{ matchLabels: { 'reserved:host': '' } }] }] })],
    options: noLocalhost,
    checks: [
      ['host', 'prod/web', P.TCP, 8080, 'allow'],
      ['remote-node', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'the service account is an identity label usable as a peer (§8.2)',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [{ matchLabels: { 'io.cilium.k8s.policy.serviceaccount': 'api' } }] }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'the service account selects the subject endpoints too (§8.2)',
    policies: [cnp('prod', 'sa', { endpointSelector: { matchLabels: { 'io.cilium.k8s.policy.serviceaccount': 'web' } }, ingress: [{}] })],
    checks: [
      ['prod/api', 'prod/web', P.TCP, 8080, 'drop'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
    ],
  },
  {
    pins: 'every pod carries io.cilium.k8s.policy.cluster: the allow-in-cluster idiom selects all pods, not nodes (§8.1)',
    policies: [ccnp('db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [{ matchExpressions: [{ key: 'io.cilium.k8s.policy.cluster', operator: 'Exists' }] }] }] })],
    checks: [
      ['dev/client', 'prod/db', P.TCP, 5432, 'allow'],
      ['other/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['world', 'prod/db', P.TCP, 5432, 'drop'],
      ['remote-node', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'pod-template-hash is not identity-relevant: a selector on it selects nothing',
    policies: [ccnp('db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [{ matchLabels: { 'pod-template-hash': '5d9c7b' } }] }, { fromEndpoints: [app('client')], toPorts: ports(tcp(1)) }] })],
    checks: [
      ['other/client', 'prod/db', P.TCP, 5432, 'drop'],
      ['other/client', 'prod/db', P.TCP, 1, 'allow'],
    ],
  },
  {
    pins: 'controller-revision-hash is not identity-relevant',
    policies: [ccnp('db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [{ matchLabels: { 'controller-revision-hash': 'abc' } }] }] })],
    checks: [['other/web', 'prod/db', P.TCP, 5432, 'drop']],
  },
  {
    pins: 'matchExpressions In',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['api', 'web'] }] }] }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/web', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'matchExpressions NotIn also matches endpoints without the key',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [{ matchExpressions: [{ key: 'role', operator: 'NotIn', values: ['primary'] }] }] }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/db', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'matchExpressions Exists',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }] }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/db', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'matchExpressions DoesNotExist',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [{ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }] }] })],
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
        ingress: [{ fromEndpoints: [{ matchLabels: { tier: 'front' }, matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] }] }],
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
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [], toPorts: ports(tcp(80)) }] })],
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
  // ---- ports ---------------------------------------------------------------------------------
  {
    pins: 'port + endPort: a port range',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [app('api')], toPorts: ports(tcp(5000, 5999)) }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5000, 'allow'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/api', 'prod/db', P.TCP, 5999, 'allow'],
      ['prod/api', 'prod/db', P.TCP, 6000, 'drop'],
      ['prod/api', 'prod/db', P.TCP, 4999, 'drop'],
      ['prod/api', 'prod/db', P.UDP, 5432, 'drop'],
    ],
  },
  {
    pins: 'protocol ANY with a port covers TCP, UDP and SCTP on that port',
    policies: [cnp('prod', 'api', { endpointSelector: app('api'), ingress: [{ fromEndpoints: [app('web')], toPorts: ports({ port: '53', protocol: 'ANY' }) }] })],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 53, 'allow'],
      ['prod/web', 'prod/api', P.UDP, 53, 'allow'],
      ['prod/web', 'prod/api', P.SCTP, 53, 'allow'],
      ['prod/web', 'prod/api', P.UDP, 54, 'drop'],
      ['prod/web', 'prod/api', P.ICMP, 53, 'drop'],
    ],
  },
  {
    pins: 'an omitted protocol means ANY',
    policies: [cnp('prod', 'api', { endpointSelector: app('api'), ingress: [{ fromEndpoints: [app('web')], toPorts: ports({ port: '80' }) }] })],
    checks: [
      ['prod/web', 'prod/api', P.UDP, 80, 'allow'],
      ['prod/web', 'prod/api', P.TCP, 80, 'allow'],
    ],
  },
  {
    pins: 'a protocol without a port (port 0) means every port of that protocol',
    policies: [cnp('prod', 'api', { endpointSelector: app('api'), ingress: [{ fromEndpoints: [app('web')], toPorts: ports({ protocol: 'TCP' }) }] })],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 1, 'allow'],
      ['prod/web', 'prod/api', P.TCP, 65535, 'allow'],
      ['prod/web', 'prod/api', P.UDP, 53, 'drop'],
    ],
  },
  {
    pins: 'port 0 with protocol ANY means all traffic',
    policies: [cnp('prod', 'api', { endpointSelector: app('api'), ingress: [{ fromEndpoints: [app('web')], toPorts: ports({ port: '0', protocol: 'ANY' }) }] })],
    checks: [
      ['prod/web', 'prod/api', P.UDP, 9, 'allow'],
      ['prod/web', 'prod/api', P.ICMP, 8, 'allow'],
    ],
  },
  {
    pins: 'several ports in one rule are a union',
    policies: [cnp('prod', 'api', { endpointSelector: app('api'), ingress: [{ fromEndpoints: [app('web')], toPorts: ports(tcp(80), tcp(443)) }] })],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 80, 'allow'],
      ['prod/web', 'prod/api', P.TCP, 443, 'allow'],
      ['prod/web', 'prod/api', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: "named ports resolve against the destination pod's container port names (§8.8)",
    policies: [
      ccnp('http', {
        endpointSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] },
        ingress: [{ fromEntities: ['cluster'], toPorts: ports({ port: 'http', protocol: 'TCP' }) }],
      }),
    ],
    checks: [
      ['dev/client', 'prod/web', P.TCP, 8080, 'allow'],
      ['dev/client', 'prod/web', P.TCP, 9090, 'drop'],
      ['dev/client', 'prod/api', P.TCP, 9090, 'allow'],
      ['dev/client', 'prod/api', P.TCP, 8080, 'drop'],
      ['dev/client', 'dev/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: "a named port with protocol ANY takes the container port's protocol",
    policies: [cnp('prod', 'api', { endpointSelector: app('api'), ingress: [{ fromEndpoints: [app('web')], toPorts: ports({ port: 'dns' }) }] })],
    checks: [
      ['prod/web', 'prod/api', P.UDP, 53, 'allow'],
      ['prod/web', 'prod/api', P.TCP, 53, 'drop'],
    ],
  },
  {
    pins: 'a named port with a different protocol than the container port matches nothing',
    policies: [cnp('prod', 'api', { endpointSelector: app('api'), ingress: [{ fromEndpoints: [app('web')], toPorts: ports({ port: 'dns', protocol: 'TCP' }) }] })],
    checks: [
      ['prod/web', 'prod/api', P.UDP, 53, 'drop'],
      ['prod/web', 'prod/api', P.TCP, 53, 'drop'],
    ],
  },
  // ---- several rules merging -----------------------------------------------------------------
  {
    pins: 'two rules in one policy are a union, each with its own ports',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingress: [
          { fromEndpoints: [app('api')], toPorts: ports(tcp(5432)) },
          { fromEndpoints: [app('web')], toPorts: ports(tcp(6379)) },
        ],
      }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/api', 'prod/db', P.TCP, 6379, 'drop'],
      ['prod/web', 'prod/db', P.TCP, 6379, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'specs: several rules in one CNP, each with its own subject',
    policies: [
      cnp('prod', 'multi', [
        { endpointSelector: app('db'), ingress: [{ fromEndpoints: [app('api')] }] },
        { endpointSelector: app('web'), egress: [{ toEndpoints: [app('db')] }] },
      ]),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/web', 'prod/api', P.TCP, 9090, 'drop'],
    ],
  },
  {
    pins: 'two policies selecting the same endpoint merge their allows',
    policies: [
      cnp('prod', 'db-api', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [app('api')], toPorts: ports(tcp(5432)) }] }),
      cnp('prod', 'db-web', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [app('web')], toPorts: ports(tcp(5432)) }] }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/client', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'an L3-only rule and an L4-only rule merge (L4-only applies to every peer)',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [app('api')] }, { toPorts: ports(tcp(80)) }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 80, 'allow'],
      ['world', 'prod/db', P.TCP, 80, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'both ends must allow: egress of the source and ingress of the destination',
    policies: [
      cnp('prod', 'web', { endpointSelector: app('web'), egress: [{ toEndpoints: [app('db')], toPorts: ports(tcp(5432)) }] }),
      cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [app('api')] }] }),
    ],
    checks: [
      ['prod/web', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
    ],
  },
  {
    pins: 'both ends allow: the connection is allowed',
    policies: [
      cnp('prod', 'web', { endpointSelector: app('web'), egress: [{ toEndpoints: [app('db')], toPorts: ports(tcp(5432)) }] }),
      cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [app('web')] }] }),
    ],
    checks: [
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5433, 'drop'],
    ],
  },
  // ---- host firewall -------------------------------------------------------------------------
  {
    pins: 'a nodeSelector rule applies to the host endpoint only',
    policies: [ccnp('host', { nodeSelector: {}, ingress: [{ fromEntities: ['cluster'] }] })],
    checks: [
      ['ip:8.8.8.8', 'host', P.TCP, 22, 'drop'],
      ['remote-node', 'host', P.TCP, 22, 'allow'],
      ['prod/api', 'host', P.TCP, 10250, 'allow'],
      ['ip:8.8.8.8', 'prod/web', P.TCP, 8080, 'allow'],
    ],
  },
  {
    pins: 'a CCNP endpointSelector {} selects every pod but never the host',
    policies: [ccnp('pods', { endpointSelector: {}, ingress: [{}] })],
    checks: [
      ['world', 'host', P.TCP, 22, 'allow'],
      ['world', 'prod/web', P.TCP, 8080, 'drop'],
      ['prod/api', 'dev/web', P.TCP, 8080, 'drop'],
    ],
  },
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
    pins: 'NetworkPolicy deny all egress: policyTypes [Egress] without rules (§8.5)',
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
    policies: [knp('prod', 'from-dev', { podSelector: app('db'), ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'dev' } } }] }] })],
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
    policies: [knp('prod', 'from-other', { podSelector: app('db'), ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'other' } } }] }] })],
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
    policies: [knp('prod', 'or', { podSelector: app('db'), ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'search' } } }, { podSelector: app('api') }] }] })],
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
    policies: [knp('prod', 'from-cluster', { podSelector: app('db'), ingress: [{ from: [{ namespaceSelector: {} }] }] })],
    checks: [
      ['other/client', 'prod/db', P.TCP, 5432, 'allow'],
      ['world', 'prod/db', P.TCP, 5432, 'drop'],
      ['remote-node', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy ipBlock with except',
    policies: [knp('prod', 'ipblock', { podSelector: app('web'), ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] }] })],
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
        egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ protocol: 'TCP', port: 32000, endPort: 32768 }] }],
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
    policies: [knp('prod', 'sctp', { podSelector: app('db'), ingress: [{ ports: [{ port: 9999, protocol: 'SCTP' }] }] })],
    checks: [
      ['prod/api', 'prod/db', P.SCTP, 9999, 'allow'],
      ['prod/api', 'prod/db', P.TCP, 9999, 'drop'],
    ],
  },
  {
    pins: 'NetworkPolicy named ports (§8.8)',
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
    policies: [knp('prod', 'egress-only', { podSelector: app('web'), policyTypes: ['Egress'], egress: [{ to: [{ podSelector: app('db') }] }] })],
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
    policies: [knp('prod', 'egress-implied', { podSelector: app('web'), egress: [{ to: [{ podSelector: app('db') }] }] })],
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
        egress: [{ to: [{ namespaceSelector: { matchLabels: { env: 'prod' } } }], ports: [{ port: 53, protocol: 'UDP' }] }],
      }),
    ],
    checks: [
      ['dev/client', 'prod/api', P.UDP, 53, 'allow'],
      ['dev/client', 'prod/api', P.TCP, 53, 'drop'],
      ['dev/client', 'other/web', P.UDP, 53, 'drop'],
    ],
  },
];

const rows = scenarios.flatMap((s) => s.checks.map((c) => ({ s, c })));

describe('policy verdicts (map lookup at both ends and trace agree with upstream)', () => {
  it(`has at least 150 rows (${rows.length})`, () => {
    expect(rows.length).toBeGreaterThanOrEqual(150);
  });
  const fixtures = new Map<Scenario, Fixture>();
  const fixtureOf = (s: Scenario): Fixture => {
    let f = fixtures.get(s);
    if (!f) fixtures.set(s, (f = new Fixture(s.policies, s.options)));
    return f;
  };
  describe.each(scenarios.map((s) => [s.pins, s] as const))('%s', (_pins, s) => {
    it.each(s.checks.map((c) => [`${c[0]} -> ${c[1]} proto ${c[2]} port ${c[3]} = ${c[4]}`, c] as const))('%s', (_name, [from, to, proto, port, want]) => {
      const f = fixtureOf(s);
      expect({ map: f.mapVerdict(from, to, proto, port), trace: f.traceVerdict(from, to, proto, port) }).toEqual({ map: want, trace: want });
    });
    it('incremental maps equal a full recomputation', () => {
      expect(fixtureOf(s).consistent()).toBe(true);
    });
  });
});
