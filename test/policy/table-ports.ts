// Verdict table: Ports and protocols, several rules merging, the host firewall.
// Each scenario names the upstream behaviour it pins; verdicts.test.ts runs them.
import { ccnp, cnp, P } from './fixture.js';
import { type Scenario, app, tcp, ports } from './table.js';

export const PORTS_TABLE: Scenario[] = [
  // ---- ports ---------------------------------------------------------------------------------
  {
    pins: 'port + endPort: a port range',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [app('api')], toPorts: ports(tcp(5000, 5999)) }],
      }),
    ],
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
    policies: [
      cnp('prod', 'api', {
        endpointSelector: app('api'),
        ingress: [{ fromEndpoints: [app('web')], toPorts: ports({ port: '53', protocol: 'ANY' }) }],
      }),
    ],
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
    policies: [
      cnp('prod', 'api', {
        endpointSelector: app('api'),
        ingress: [{ fromEndpoints: [app('web')], toPorts: ports({ port: '80' }) }],
      }),
    ],
    checks: [
      ['prod/web', 'prod/api', P.UDP, 80, 'allow'],
      ['prod/web', 'prod/api', P.TCP, 80, 'allow'],
    ],
  },
  {
    pins: 'a protocol without a port (port 0) means every port of that protocol',
    policies: [
      cnp('prod', 'api', {
        endpointSelector: app('api'),
        ingress: [{ fromEndpoints: [app('web')], toPorts: ports({ protocol: 'TCP' }) }],
      }),
    ],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 1, 'allow'],
      ['prod/web', 'prod/api', P.TCP, 65535, 'allow'],
      ['prod/web', 'prod/api', P.UDP, 53, 'drop'],
    ],
  },
  {
    pins: 'port 0 with protocol ANY means all traffic',
    policies: [
      cnp('prod', 'api', {
        endpointSelector: app('api'),
        ingress: [{ fromEndpoints: [app('web')], toPorts: ports({ port: '0', protocol: 'ANY' }) }],
      }),
    ],
    checks: [
      ['prod/web', 'prod/api', P.UDP, 9, 'allow'],
      ['prod/web', 'prod/api', P.ICMP, 8, 'allow'],
    ],
  },
  {
    pins: 'several ports in one rule are a union',
    policies: [
      cnp('prod', 'api', {
        endpointSelector: app('api'),
        ingress: [{ fromEndpoints: [app('web')], toPorts: ports(tcp(80), tcp(443)) }],
      }),
    ],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 80, 'allow'],
      ['prod/web', 'prod/api', P.TCP, 443, 'allow'],
      ['prod/web', 'prod/api', P.TCP, 8080, 'drop'],
    ],
  },
  {
    pins: "named ports resolve against the destination pod's container port names (docs: security/policy/layer4, PortProtocol)",
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
    policies: [
      cnp('prod', 'api', {
        endpointSelector: app('api'),
        ingress: [{ fromEndpoints: [app('web')], toPorts: ports({ port: 'dns' }) }],
      }),
    ],
    checks: [
      ['prod/web', 'prod/api', P.UDP, 53, 'allow'],
      ['prod/web', 'prod/api', P.TCP, 53, 'drop'],
    ],
  },
  {
    pins: 'a named port with a different protocol than the container port matches nothing',
    policies: [
      cnp('prod', 'api', {
        endpointSelector: app('api'),
        ingress: [{ fromEndpoints: [app('web')], toPorts: ports({ port: 'dns', protocol: 'TCP' }) }],
      }),
    ],
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
      cnp('prod', 'db-api', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [app('api')], toPorts: ports(tcp(5432)) }],
      }),
      cnp('prod', 'db-web', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [app('web')], toPorts: ports(tcp(5432)) }],
      }),
    ],
    checks: [
      ['prod/api', 'prod/db', P.TCP, 5432, 'allow'],
      ['prod/web', 'prod/db', P.TCP, 5432, 'allow'],
      ['dev/client', 'prod/db', P.TCP, 5432, 'drop'],
    ],
  },
  {
    pins: 'an L3-only rule and an L4-only rule merge (L4-only applies to every peer)',
    policies: [
      cnp('prod', 'db', {
        endpointSelector: app('db'),
        ingress: [{ fromEndpoints: [app('api')] }, { toPorts: ports(tcp(80)) }],
      }),
    ],
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
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        egress: [{ toEndpoints: [app('db')], toPorts: ports(tcp(5432)) }],
      }),
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
      cnp('prod', 'web', {
        endpointSelector: app('web'),
        egress: [{ toEndpoints: [app('db')], toPorts: ports(tcp(5432)) }],
      }),
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
];
