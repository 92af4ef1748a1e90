// Selector table: toFQDNs / rules.dns `matchName` and `matchPattern`. Each row names the upstream
// behaviour it pins ("docs: dns" is https://docs.cilium.io/en/stable/security/policy/language/,
// "DNS Policy and IP Discovery"; "matchpattern" is upstream's pkg/fqdn/matchpattern tests);
// fqdn-selector.test.ts runs them.
import type { FqdnSelector } from '../../policy/fqdn-selector.js';

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
