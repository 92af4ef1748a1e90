// Verdict table: Default deny per direction, deny precedence, fromRequires/toRequires.
// Each scenario names the upstream behaviour it pins; verdicts.test.ts runs them.
import { ccnp, cnp, P } from './fixture.js';
import { type Scenario, app, tcp, ports, NS, noLocalhost } from './table.js';

export const DENY_TABLE: Scenario[] = [
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
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [app('api')], toPorts: ports(tcp(5432)) }],
      }),
    ],
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
    policies: [
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        egress: [{ toEndpoints: [app('api')], toPorts: ports(tcp(9090)) }],
      }),
    ],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 9090, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'drop'],
      ['prod/db', 'prod/web', P.TCP, 80, 'allow'],
      ['prod/web2', 'prod/api', P.TCP, 9090, 'allow'],
    ],
  },
  {
    pins: 'an empty rule `ingress: [{}]` is deny-all, not allow-all (docs: security/policy/language, Ingress/Egress Default Deny)',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{}] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
      ['ip:8.8.8.8', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/db', 'prod/api', P.TCP, 9090, 'allow'],
    ],
  },
  {
    pins: 'an empty rule `egress: [{}]` blocks all egress (docs: security/policy/language, Ingress/Egress Default Deny)',
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
    pins: 'a deny-only policy enables default deny for its direction (docs: security/policy/deny)',
    policies: [cnp('prod', 'db', { endpointSelector: app('db'), ingressDeny: [{ fromEndpoints: [app('web')] }] })],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'deny'],
    ],
  },
  {
    pins: 'enableDefaultDeny.ingress=false: a deny-only policy denies just its peers',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        enableDefaultDeny: { ingress: false },
        ingressDeny: [{ fromEndpoints: [app('web')] }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'deny'],
      ['ip:8.8.8.8', 'prod/db', P.TCP, 5432, 'allow'],
    ],
  },
  {
    pins: 'enableDefaultDeny=false on an allow policy: the endpoint stays open',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        enableDefaultDeny: { ingress: false },
        ingress: [{ fromEndpoints: [app('web')], toPorts: ports(tcp(5432)) }],
      }),
    ],
    checks: [
      ['dev/client', 'prod/db', P.TCP, 80, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
    ],
  },
  {
    pins: 'if any policy requests default deny, the endpoint gets it',
    policies: [
      cnp('prod', 'db-open', {
        endpointSelector: app('db'),
        enableDefaultDeny: { ingress: false },
        ingress: [{ fromEndpoints: [app('web')] }],
      }),
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
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        enableDefaultDeny: { egress: true },
        ingress: [{ fromEndpoints: [app('api')] }],
      }),
    ],
    checks: [
      ['prod/db', 'ip:8.8.8.8', P.TCP, 443, 'drop'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
    ],
  },
  {
    pins: 'an explicitly empty peer list (fromEntities: []) makes the whole rule select no peer',
    policies: [
      cnp('prod', 'db', { endpointSelector: app('db'), ingress: [{ fromEntities: [], fromEndpoints: [app('api')] }] }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
      ['world', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'enableDefaultDeny is per direction: egress=false keeps egress open',
    policies: [
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        enableDefaultDeny: { egress: false },
        egressDeny: [{ toEntities: ['world'] }],
        ingress: [{}],
      }),
    ],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 9090, 'allow'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'deny'],
      ['prod/api', 'prod/web', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: 'deny is narrow: a TCP 8080 deny leaves ICMP, UDP and other ports alone (docs: security/policy/deny)',
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
    pins: 'an ICMP type-8 deny leaves TCP and echo replies alone (docs: security/policy/deny)',
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
        ingress: [
          { fromEndpoints: [app('api')], icmps: [{ fields: [{ type: 8 }, { type: 'EchoRequest', family: 'IPv6' }] }] },
        ],
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
    policies: [
      ccnp('db', { endpointSelector: app('db'), ingress: [{ fromRequires: [{ matchLabels: { [NS]: 'prod' } }] }] }),
    ],
    checks: [
      ['prod/web', 'prod/db', P.TCP, 5432, 'drop'],
      ['prod/api', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'fromRequires of one policy constrains fromEndpoints of another policy selecting the endpoint',
    policies: [
      ccnp('db-from-web', { endpointSelector: app('db'), ingress: [{ fromEndpoints: [app('web')] }] }),
      ccnp('db-requires-prod', {
        endpointSelector: app('db'),
        ingress: [{ fromRequires: [{ matchLabels: { [NS]: 'prod' } }] }],
      }),
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
];
