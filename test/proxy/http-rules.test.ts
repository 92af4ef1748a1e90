// rules.http matching: each row names the upstream behaviour it pins ("docs: http" is
// https://docs.cilium.io/en/stable/security/policy/language/, "HTTP" under "Layer 7 Examples").
import { describe, expect, it } from '@jest/globals';
import { HttpRuleSet, type HttpRule, type HttpRequestView } from '../../proxy/http-rules.js';

const req = (method: string, path: string, headers: Record<string, string> = {}, host = 'svc'): HttpRequestView => ({
  method,
  path,
  host,
  headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
});

const ROWS: { pins: string; rules: HttpRule[]; allow: HttpRequestView[]; deny: HttpRequestView[] }[] = [
  {
    pins: 'docs: http "Allow GET /public": only that method and path',
    rules: [{ method: 'GET', path: '/public' }],
    allow: [req('GET', '/public')],
    deny: [req('GET', '/private'), req('POST', '/public'), req('PUT', '/public')],
  },
  {
    pins: 'Envoy safe_regex is a full match: the path and method regexes are anchored at both ends',
    rules: [{ method: 'GET', path: '/public' }],
    allow: [],
    deny: [req('GET', '/public/x'), req('GET', '/publicity'), req('GET', '/x/public'), req('GETX', '/public')],
  },
  {
    pins: "the path is Envoy's :path, query included",
    rules: [{ path: '/public' }, { path: '/search\\?q=.*' }],
    allow: [req('GET', '/search?q=cilium')],
    deny: [req('GET', '/public?x=1')],
  },
  {
    pins: 'docs: http: method and path are extended regexes',
    rules: [{ method: 'GET|HEAD', path: '/v1/.*' }],
    allow: [req('GET', '/v1/a'), req('HEAD', '/v1/b/c')],
    deny: [req('POST', '/v1/a'), req('GET', '/v2/a')],
  },
  {
    pins: 'docs: http: an omitted field matches anything; any matching rule allows',
    rules: [{ method: 'POST' }, { path: '/health' }],
    allow: [req('POST', '/anything'), req('DELETE', '/health')],
    deny: [req('GET', '/anything')],
  },
  {
    pins: 'docs: http "PUT /path2 when header set": `Name: value` needs exactly that value, header names ignore case',
    rules: [{ method: 'PUT', path: '/path2', headers: ['X-My-Header: true'] }],
    allow: [req('PUT', '/path2', { 'x-my-header': 'true' })],
    deny: [req('PUT', '/path2'), req('PUT', '/path2', { 'X-My-Header': 'false' })],
  },
  {
    pins: 'a bare header name requires the header to be present',
    rules: [{ headers: ['X-Token'] }],
    allow: [req('GET', '/', { 'X-Token': 'anything' })],
    deny: [req('GET', '/')],
  },
  {
    pins: 'docs: http: host is a regex matched against the Host header',
    rules: [{ host: 'api\\.example\\.test(:80)?' }],
    allow: [req('GET', '/', {}, 'api.example.test'), req('GET', '/', {}, 'api.example.test:80')],
    deny: [req('GET', '/', {}, 'evil.test'), req('GET', '/', {}, 'xapi.example.test')],
  },
  {
    pins: 'headerMatches without mismatch require the value; with a mismatch action they do not block',
    rules: [
      {
        headerMatches: [
          { name: 'x-env', value: 'prod' },
          { name: 'x-log', value: 'y', mismatch: 'LOG' },
        ],
      },
    ],
    allow: [req('GET', '/', { 'x-env': 'prod' })],
    deny: [req('GET', '/', { 'x-env': 'dev' })],
  },
  {
    pins: 'docs: l7: "If no rules are specified, then all traffic is permitted" (an empty list)',
    rules: [],
    allow: [req('DELETE', '/anything')],
    deny: [],
  },
];

describe('rules.http', () => {
  describe.each(ROWS.map((r) => [r.pins, r] as const))('%s', (_pins, row) => {
    const set = new HttpRuleSet(row.rules);
    it('compiles', () => expect(set.problems).toEqual([]));
    if (row.allow.length)
      it.each(row.allow.map((r) => [`${r.method} ${r.path}`, r] as const))('allows %s', (_n, r) =>
        expect(set.allows(r)).toBe(true),
      );
    if (row.deny.length)
      it.each(row.deny.map((r) => [`${r.method} ${r.path}`, r] as const))('denies %s', (_n, r) =>
        expect(set.allows(r)).toBe(false),
      );
  });

  it('an invalid regex is reported and its rule matches nothing (fail closed)', () => {
    const set = new HttpRuleSet([{ path: '/a(' }, { path: '/b' }]);
    expect(set.problems).toHaveLength(1);
    expect(set.problems[0]).toMatch(/^http\[0\]: path/);
    expect(set.allows(req('GET', '/a('))).toBe(false);
    expect(set.allows(req('GET', '/b'))).toBe(true);
  });

  it('a secret-valued headerMatch never matches (the proxy reads no secrets)', () => {
    const set = new HttpRuleSet([{ headerMatches: [{ name: 'x', secret: { name: 's', namespace: 'n' } }] }]);
    expect(set.allows(req('GET', '/', { x: 'v' }))).toBe(false);
  });
});
