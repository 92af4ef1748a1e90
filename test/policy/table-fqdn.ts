// Selector table: toFQDNs / rules.dns `matchName` and `matchPattern`. Each row names the upstream
// behaviour it pins ("docs: dns" is https://docs.cilium.io/en/stable/security/policy/language/,
// "DNS Policy and IP Discovery"; "matchpattern" is upstream's pkg/fqdn/matchpattern tests);
// fqdn-selector.test.ts runs them.
import type { FqdnSelector } from '../../policy/fqdn-selector.js';
import type { NameDelta, PolicyObject } from '../../policy/index.js';
import { cnp, P } from './fixture.js';
import { app, ports, tcp, type Check } from './table.js';

export interface FqdnRow {
  pins: string;
  selector: FqdnSelector;
  accept: string[];
  reject: string[];
}

export const FQDN_TABLE: FqdnRow[] = [
  {
    pins: 'docs: dns: matchName selects exactly that name',
    selector: { matchName: 'cilium.io' },
    accept: ['cilium.io', 'cilium.io.'],
    reject: ['sub.cilium.io', 'cilium.io.evil', 'ilium.io', ''],
  },
  {
    pins: 'matchpattern: names compare case-insensitively, the pattern and the name both',
    selector: { matchName: 'API.Example.TEST' },
    accept: ['api.example.test', 'API.EXAMPLE.TEST.', 'Api.Example.Test'],
    reject: ['api.example.tes'],
  },
  {
    pins: 'matchpattern: a trailing dot is implied (Sanitize: "*.com" is "*.com.")',
    selector: { matchPattern: '*.com' },
    accept: ['example.com.', 'example.com'],
    reject: ['example.org.'],
  },
  {
    pins: 'docs: dns: "*.cilium.io" matches sub.cilium.io but not cilium.io',
    selector: { matchPattern: '*.cilium.io' },
    accept: ['sub.cilium.io', 'anysub.cilium.io.'],
    reject: ['cilium.io', 'anysub.ci.io', 'anysub.ciliumandmore.io'],
  },
  {
    pins: 'docs: dns: "*" within a domain never spans the "." separator (one label only)',
    selector: { matchPattern: '*.cilium.io' },
    accept: ['a-b.cilium.io'],
    reject: ['a.b.cilium.io', 'x.sub.cilium.io'],
  },
  {
    pins: 'docs: dns: "part*ial.com" matches partial.com and part-extra-ial.com (zero or more characters)',
    selector: { matchPattern: 'part*ial.com' },
    accept: ['partial.com', 'part-extra-ial.com'],
    reject: ['parti.al.com', 'xpartial.com', 'partialx.com'],
  },
  {
    pins: 'matchpattern: "*.ci*.io" matches anysub.cilium.io, anysub.ci.io, anysub.ciliumandmore.io but not cilium.io',
    selector: { matchPattern: '*.ci*.io.' },
    accept: ['anysub.cilium.io.', 'anysub.ci.io.', 'anysub.ciliumandmore.io.'],
    reject: ['cilium.io.', ''],
  },
  {
    pins: 'docs: dns: "special*service.api.cilium.io" matches special-region1-service but not region1-service',
    selector: { matchPattern: 'special*service.api.cilium.io' },
    accept: ['special-region1-service.api.cilium.io', 'specialservice.api.cilium.io'],
    reject: ['region1-service.api.cilium.io'],
  },
  {
    pins: 'matchpattern: "*" alone matches every name, the root "." included (cilium/cilium#11633)',
    selector: { matchPattern: '*' },
    accept: ['.', 'io.', 'cilium.io.', 'service.namespace.svc.cluster.local.', '_foobar._tcp.cilium.io.'],
    reject: ['', '.io.', '.cilium.io.', 'a..b.'],
  },
  {
    pins: 'matchpattern: SRV and DNS-SD names (RFC 2782, RFC 6763) carry "_" and match literally or by "*"',
    selector: { matchPattern: '*.*.cilium.io' },
    accept: ['_foobar._tcp.cilium.io.'],
    reject: ['_tcp.cilium.io.', 'cilium.io.'],
  },
  {
    pins: 'docs: dns: queries for service.namespace.svc.cluster.local. need "*.*.svc.cluster.local."',
    selector: { matchPattern: '*.*.svc.cluster.local.' },
    accept: ['kube-dns.kube-system.svc.cluster.local.'],
    reject: ['kube-dns.svc.cluster.local.', 'a.b.c.svc.cluster.local.'],
  },
  {
    pins: 'matchpattern: a pattern without "*" is an exact name',
    selector: { matchPattern: 'cilium.io.' },
    accept: ['cilium.io.'],
    reject: ['anysub.cilium.io.', ''],
  },
  {
    pins: 'matchpattern: the pattern "." selects only the root',
    selector: { matchPattern: '.' },
    accept: ['.'],
    reject: ['io.', ''],
  },
];

/** Selectors upstream refuses (Validate: only alphanumerics, "-", "." and "*"); they select nothing. */
export const FQDN_INVALID: { pins: string; selector: FqdnSelector }[] = [
  { pins: 'matchpattern Validate: "[" and "]" are refused', selector: { matchPattern: '[a-z].cilium.io' } },
  { pins: 'matchpattern Validate: "+", "{", "}" and "," are refused', selector: { matchPattern: 'a+.{b,c}.io' } },
  { pins: 'matchName is a DNS name, not a pattern', selector: { matchName: '*.cilium.io' } },
  { pins: 'an FQDNSelector sets one of matchName and matchPattern', selector: {} },
  {
    pins: 'an FQDNSelector sets one of matchName and matchPattern',
    selector: { matchName: 'a.io', matchPattern: '*' },
  },
  { pins: 'a pattern with an empty label selects nothing', selector: { matchPattern: 'a..io' } },
];

// ---- toFQDNs in the engine --------------------------------------------------------------------
// Verdict rows for toFQDNs peers: the IPs the DNS proxy learned (name deltas, as the FQDN cache
// emits them) select through their node-local CIDR identities. "docs: dns" as above; "docs:
// identities" is https://docs.cilium.io/en/stable/internals/security-identities/ (CIDR/FQDN
// identities are node-local, bit 24); fqdn-policy.test.ts runs them.

export interface FqdnScenario {
  pins: string;
  policies: PolicyObject[];
  /** name deltas fed before the policies (the lookup happened first) */
  before?: NameDelta[];
  /** name deltas fed after the policies */
  after?: NameDelta[];
  checks: Check[];
}

const added = (name: string, ...ips: string[]): NameDelta => ({ type: 'ipsAdded', name, ips });
const expired = (name: string, ...ips: string[]): NameDelta => ({ type: 'ipsExpired', name, ips });
const toApi = (fqdns: object[], port = 443) => ({
  endpointSelector: app('web'),
  egress: [{ toFQDNs: fqdns, toPorts: ports(tcp(port)) }],
});

export const FQDN_POLICY_TABLE: FqdnScenario[] = [
  {
    pins: "docs: dns: toFQDNs matchName allows egress to the IPs learned for that name, on the rule's ports only",
    policies: [cnp('prod', 'to-api', toApi([{ matchName: 'api.example.test' }]))],
    after: [added('api.example.test', '192.0.2.10'), added('other.example.test', '192.0.2.20')],
    checks: [
      ['prod/web', 'ip:192.0.2.10', P.TCP, 443, 'allow'],
      ['prod/web', 'ip:192.0.2.10', P.TCP, 80, 'drop'],
      ['prod/web', 'ip:192.0.2.20', P.TCP, 443, 'drop'],
      ['prod/web', 'ip:8.8.8.8', P.TCP, 443, 'drop'],
      ['prod/db', 'ip:192.0.2.10', P.TCP, 443, 'allow'],
    ],
  },
  {
    pins: 'docs: dns: a toFQDNs selector added after the lookup selects the IPs already learned at once',
    before: [added('api.example.test', '192.0.2.10')],
    policies: [cnp('prod', 'to-api', toApi([{ matchName: 'API.example.test.' }]))],
    checks: [
      ['prod/web', 'ip:192.0.2.10', P.TCP, 443, 'allow'],
      ['prod/web', 'ip:192.0.2.11', P.TCP, 443, 'drop'],
    ],
  },
  {
    pins: 'docs: dns: matchPattern "*.example.test" selects the IPs of sub.example.test, not of example.test',
    policies: [cnp('prod', 'to-sub', toApi([{ matchPattern: '*.example.test' }]))],
    after: [added('a.example.test', '192.0.2.10'), added('example.test', '192.0.2.20')],
    checks: [
      ['prod/web', 'ip:192.0.2.10', P.TCP, 443, 'allow'],
      ['prod/web', 'ip:192.0.2.20', P.TCP, 443, 'drop'],
    ],
  },
  {
    pins: 'docs: dns: a learned IP stops being allowed when its name expires (the TTL, raised to tofqdns-min-ttl)',
    policies: [cnp('prod', 'to-api', toApi([{ matchName: 'api.example.test' }]))],
    after: [added('api.example.test', '192.0.2.10', '192.0.2.11'), expired('api.example.test', '192.0.2.10')],
    checks: [
      ['prod/web', 'ip:192.0.2.10', P.TCP, 443, 'drop'],
      ['prod/web', 'ip:192.0.2.11', P.TCP, 443, 'allow'],
    ],
  },
  {
    pins: 'docs: dns: a record changed to a new IP: the new one is allowed, the old one until it expires',
    policies: [cnp('prod', 'to-api', toApi([{ matchName: 'api.example.test' }]))],
    after: [added('api.example.test', '192.0.2.10'), added('api.example.test', '192.0.2.11')],
    checks: [
      ['prod/web', 'ip:192.0.2.10', P.TCP, 443, 'allow'],
      ['prod/web', 'ip:192.0.2.11', P.TCP, 443, 'allow'],
    ],
  },
  {
    pins: 'docs: dns: a CNAME chain: the IPs are learned for every name of it, the alias selects them',
    policies: [cnp('prod', 'to-alias', toApi([{ matchName: 'www.example.test' }]))],
    after: [added('www.example.test', '192.0.2.10'), added('edge.cdn.test', '192.0.2.10')],
    checks: [['prod/web', 'ip:192.0.2.10', P.TCP, 443, 'allow']],
  },
  {
    pins: 'docs: dns: AAAA answers: IPv6 addresses get /128 identities and are selected alike',
    policies: [cnp('prod', 'to-api', toApi([{ matchName: 'api.example.test' }]))],
    after: [added('api.example.test', '2001:DB8:0::10')],
    checks: [
      ['prod/web', 'ip6:2001:db8::10', P.TCP, 443, 'allow'],
      ['prod/web', 'ip6:2001:db8::1', P.TCP, 443, 'drop'],
    ],
  },
  {
    pins: 'docs: identities: a learned IP is in the world: toEntities world and a toCIDR covering it select it too',
    policies: [
      cnp('prod', 'to-api', toApi([{ matchName: 'api.example.test' }])),
      cnp('prod', 'db-world', { endpointSelector: app('db'), egress: [{ toEntities: ['world'] }] }),
      cnp('prod', 'api-cidr', { endpointSelector: app('api'), egress: [{ toCIDR: ['192.0.2.0/24'] }] }),
    ],
    after: [added('api.example.test', '192.0.2.10')],
    checks: [
      ['prod/db', 'ip:192.0.2.10', P.TCP, 443, 'allow'],
      ['prod/api', 'ip:192.0.2.10', P.TCP, 443, 'allow'],
      ['prod/api', 'ip:192.0.2.20', P.TCP, 443, 'allow'],
      ['prod/web', 'ip:192.0.2.20', P.TCP, 443, 'drop'],
    ],
  },
  {
    pins: 'docs: dns: toCIDR and toFQDNs naming one IP: the name expiring leaves the toCIDR allow',
    policies: [
      cnp('prod', 'to-api', {
        endpointSelector: app('web'),
        egress: [
          { toFQDNs: [{ matchName: 'api.example.test' }] },
          { toCIDR: ['192.0.2.10/32'], toPorts: ports(tcp(80)) },
        ],
      }),
    ],
    after: [added('api.example.test', '192.0.2.10'), expired('api.example.test', '192.0.2.10')],
    checks: [
      ['prod/web', 'ip:192.0.2.10', P.TCP, 80, 'allow'],
      ['prod/web', 'ip:192.0.2.10', P.TCP, 443, 'drop'],
    ],
  },
  {
    pins: 'docs: dns: toFQDNs is egress only and puts egress in default deny; names never learned select nothing',
    policies: [cnp('prod', 'to-api', toApi([{ matchName: 'api.example.test' }]))],
    checks: [
      ['prod/web', 'ip:192.0.2.10', P.TCP, 443, 'drop'],
      ['prod/web', 'prod/api', P.TCP, 443, 'drop'],
      ['prod/api', 'prod/web', P.TCP, 443, 'allow'],
    ],
  },
];
