// L7 redirect table: which allowed packets the datapath hands to the node's proxy (the map
// entry's proxy port), by parser. Each scenario names the upstream behaviour it pins ("docs: l7" is
// https://docs.cilium.io/en/stable/security/policy/language/#layer-7-examples; "l4.go" is upstream
// pkg/policy/l4.go and rule.go, where an L4Filter with an L7 parser redirects every peer it
// allows on that port); l7-redirect.test.ts runs them.
import { cnp, P } from './fixture.js';
import { app, tcp } from './table.js';

export type L7Expect = 'http' | 'dns' | 'none';
export type L7Check = [
  from: string,
  to: string,
  proto: number,
  port: number,
  dir: 'ingress' | 'egress',
  expect: L7Expect,
];

export interface L7Scenario {
  pins: string;
  policies: ReturnType<typeof cnp>[];
  checks: L7Check[];
  /** Verdicts at both ends are unchanged by L7 rules: these must be allowed. */
  allowed: [from: string, to: string, proto: number, port: number][];
}

const http = (...rules: object[]) => ({ http: rules });
const udp = (port: number) => ({ port: String(port), protocol: 'UDP' });

export const L7_TABLE: L7Scenario[] = [
  {
    pins: 'docs: l7: ingress rules.http on a port redirect that port from the allowed peers to the HTTP proxy',
    policies: [
      cnp('prod', 'api-l7', {
        endpointSelector: app('api'),
        ingress: [
          {
            fromEndpoints: [app('web')],
            toPorts: [{ ports: [tcp(80)], rules: http({ method: 'GET', path: '/public' }) }],
          },
        ],
      }),
    ],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 80, 'ingress', 'http'],
      ['prod/web', 'prod/api', P.TCP, 80, 'egress', 'none'],
      ['prod/web', 'prod/api', P.TCP, 81, 'ingress', 'none'],
      ['prod/db', 'prod/api', P.TCP, 80, 'ingress', 'none'],
    ],
    allowed: [['prod/web', 'prod/api', P.TCP, 80]],
  },
  {
    pins: 'docs: dns: egress rules.dns on port 53 redirect DNS (UDP and TCP) to the DNS proxy',
    policies: [
      cnp('prod', 'web-dns', {
        endpointSelector: app('web'),
        egress: [
          {
            toEndpoints: [app('api')],
            toPorts: [{ ports: [udp(53), tcp(53)], rules: { dns: [{ matchPattern: '*' }] } }],
          },
        ],
      }),
    ],
    checks: [
      ['prod/web', 'prod/api', P.UDP, 53, 'egress', 'dns'],
      ['prod/web', 'prod/api', P.TCP, 53, 'egress', 'dns'],
      ['prod/web', 'prod/api', P.UDP, 53, 'ingress', 'none'],
      ['prod/web', 'prod/api', P.UDP, 54, 'egress', 'none'],
    ],
    allowed: [
      ['prod/web', 'prod/api', P.UDP, 53],
      ['prod/web', 'prod/api', P.TCP, 53],
    ],
  },
  {
    pins: 'l4.go: an L3/L4-only rule on a port that has L7 rules is redirected too (allow-all L7 for its peers)',
    policies: [
      cnp('prod', 'api-l7', {
        endpointSelector: app('api'),
        ingress: [
          { fromEndpoints: [app('web')], toPorts: [{ ports: [tcp(80)], rules: http({ path: '/public' }) }] },
          { fromEndpoints: [app('db')], toPorts: [{ ports: [tcp(80)] }] },
        ],
      }),
    ],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 80, 'ingress', 'http'],
      ['prod/db', 'prod/api', P.TCP, 80, 'ingress', 'http'],
    ],
    allowed: [
      ['prod/web', 'prod/api', P.TCP, 80],
      ['prod/db', 'prod/api', P.TCP, 80],
    ],
  },
  {
    pins: 'l4.go: an L4-only rule with rules.http (no peer field) redirects every peer on that port',
    policies: [
      cnp('prod', 'api-l7', {
        endpointSelector: app('api'),
        ingress: [{ toPorts: [{ ports: [tcp(8080)], rules: http({}) }] }],
      }),
    ],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 8080, 'ingress', 'http'],
      ['dev/client', 'prod/api', P.TCP, 8080, 'ingress', 'http'],
      ['world', 'prod/api', P.TCP, 8080, 'ingress', 'http'],
    ],
    allowed: [['dev/client', 'prod/api', P.TCP, 8080]],
  },
  {
    pins: 'docs: l7: a deny rule on the port wins over the redirect (the packet is dropped before any proxy)',
    policies: [
      cnp('prod', 'api-l7', {
        endpointSelector: app('api'),
        ingress: [{ toPorts: [{ ports: [tcp(80)], rules: http({}) }] }],
        ingressDeny: [{ fromEndpoints: [app('db')], toPorts: [{ ports: [tcp(80)] }] }],
      }),
    ],
    checks: [
      ['prod/db', 'prod/api', P.TCP, 80, 'ingress', 'none'],
      ['prod/web', 'prod/api', P.TCP, 80, 'ingress', 'http'],
    ],
    allowed: [['prod/web', 'prod/api', P.TCP, 80]],
  },
  {
    pins: 'docs: l7: rules.http on a named port redirect the port it names in the subject pod',
    policies: [
      cnp('prod', 'api-l7', {
        endpointSelector: app('api'),
        ingress: [
          { fromEndpoints: [app('web')], toPorts: [{ ports: [{ port: 'http', protocol: 'TCP' }], rules: http({}) }] },
        ],
      }),
    ],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 9090, 'ingress', 'http'],
      ['prod/web', 'prod/api', P.TCP, 8080, 'ingress', 'none'],
    ],
    allowed: [['prod/web', 'prod/api', P.TCP, 9090]],
  },
  {
    pins: 'l4.go: L7 rules are per port: another port of the same rule without rules is not redirected',
    policies: [
      cnp('prod', 'api-l7', {
        endpointSelector: app('api'),
        ingress: [
          {
            fromEndpoints: [app('web')],
            toPorts: [{ ports: [tcp(80)], rules: http({}) }, { ports: [tcp(443)] }],
          },
        ],
      }),
    ],
    checks: [
      ['prod/web', 'prod/api', P.TCP, 80, 'ingress', 'http'],
      ['prod/web', 'prod/api', P.TCP, 443, 'ingress', 'none'],
    ],
    allowed: [
      ['prod/web', 'prod/api', P.TCP, 80],
      ['prod/web', 'prod/api', P.TCP, 443],
    ],
  },
];
