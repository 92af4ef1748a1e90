// `hubble observe` on L7 flows, in-process against one node's Hubble server fed with proxy
// events (and an L3/L4 flow beside them): -t l7, the HTTP, DNS and FQDN filters, --protocol, and
// compact / dict / json lines as upstream prints them.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { observeRequest, runHubbleCli } from '../../hubble/cli.js';
import { compileFilter } from '../../hubble/filter.js';
import { HubbleServer } from '../../hubble/server.js';
import type { Flow } from '../../hubble/types.js';
import { eventsFor, resolver, simDatapath } from './fixtures.js';
import { dnsPair, httpPair } from './l7-fixtures.js';

let hubble: HubbleServer;
const T0 = Date.UTC(2026, 10, 25, 14, 0, 0);

async function observe(...argv: string[]): Promise<string[]> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runHubbleCli(['--server', hubble.tcpAddress!, 'observe', '--last', '100', ...argv], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    now: () => T0 + 60_000,
  });
  expect({ code, err }).toEqual({ code: 0, err: [] });
  return out;
}

beforeAll(async () => {
  let t = T0;
  const r = resolver();
  r.setNames('10.9.9.9', ['api.example.test.']);
  hubble = new HubbleServer({ nodeName: 'node-a', resolver: r, now: () => t, uuids: false });
  const dp = simDatapath();
  dp.onEvent((e) => hubble.observe(e));
  eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', dport: 80 });
  const l7 = (events: Parameters<typeof hubble.observer.observeL7>[0][]) => {
    for (const e of events) {
      t += 1;
      hubble.observer.observeL7(e);
    }
  };
  l7(dnsPair());
  const [otherQ, otherA] = dnsPair('other.example.test.', 5);
  l7([
    { ...otherQ!, verdict: 'DROPPED' },
    { ...otherA!, verdict: 'DROPPED' },
  ]);
  l7(httpPair('/public', 200));
  l7(httpPair('/private', 403, 'DROPPED'));
  l7(httpPair('/public', 403, 'DROPPED').map((e) => ({ ...e, method: 'POST' })));
  // a request to an outside address the FQDN cache knows
  l7(httpPair('/v1/items', 200).map((e) => ({ ...e, destination: { address: '10.9.9.9', port: 443 } })));
  await hubble.listen({ tcp: '127.0.0.1:0' });
});

afterAll(async () => {
  await hubble?.close();
});

const rest = (lines: string[]): string[] => lines.map((l) => l.replace(/^\w+ \d+ [\d:.]+: /, ''));

describe('hubble observe on L7 flows', () => {
  it('-t l7 shows the proxy flows only, in upstream compact form', async () => {
    const lines = rest(await observe('-t', 'l7'));
    expect(lines.slice(0, 4)).toEqual([
      'demo/frontend-7d9f:53000 (ID:1001) -> 10.96.0.10:53 dns-request proxy FORWARDED (DNS Query api.example.test. A)',
      'demo/frontend-7d9f:53000 (ID:1001) <- 10.96.0.10:53 dns-response proxy FORWARDED (DNS Answer "10.9.9.9" TTL: 30 (Proxy api.example.test. A))',
      'demo/frontend-7d9f:53000 (ID:1001) -> 10.96.0.10:53 dns-request proxy DROPPED (DNS Query other.example.test. A)',
      'demo/frontend-7d9f:53000 (ID:1001) <- 10.96.0.10:53 dns-response proxy DROPPED (DNS Answer RCode: Query Refused TTL: 30 (Proxy other.example.test. A))',
    ]);
    expect(lines.slice(4, 6)).toEqual([
      'demo/frontend-7d9f:40000 (ID:1001) -> demo/backend-55c4:80 (ID:2002) http-request FORWARDED (HTTP/1.1 GET http://backend.demo/public)',
      'demo/frontend-7d9f:40000 (ID:1001) <- demo/backend-55c4:80 (ID:2002) http-response FORWARDED (HTTP/1.1 200 3ms (GET http://backend.demo/public))',
    ]);
    expect(lines).toHaveLength(12);
    expect(lines.some((l) => l.includes('TCP Flags'))).toBe(false);
  });

  it('--http-status 403 (and 4+, 40+) shows the denied requests; 5+ shows none', async () => {
    const denied = rest(await observe('--http-status', '403'));
    expect(denied).toEqual([
      'demo/frontend-7d9f:40000 (ID:1001) <- demo/backend-55c4:80 (ID:2002) http-response DROPPED (HTTP/1.1 403 3ms (GET http://backend.demo/private))',
      'demo/frontend-7d9f:40000 (ID:1001) <- demo/backend-55c4:80 (ID:2002) http-response DROPPED (HTTP/1.1 403 3ms (POST http://backend.demo/public))',
    ]);
    expect(rest(await observe('-t', 'l7', '--http-status', '4+'))).toEqual(denied);
    expect(rest(await observe('--http-status', '40+'))).toEqual(denied);
    expect(await observe('--http-status', '5+')).toEqual([]);
  });

  it('--http-method, --http-path and --http-url select requests and responses by their fields', async () => {
    const post = await observe('--http-method', 'post');
    expect(post.map((l) => / (http-\w+) /.exec(l)?.[1])).toEqual(['http-request', 'http-response']);
    const paths = await observe('--http-path', '^/p(ub|riv)', '--verdict', 'FORWARDED');
    expect(paths).toHaveLength(2);
    expect(paths.every((l) => l.includes('/public'))).toBe(true);
    const url = await observe('--http-url', '^http://backend\\.demo/v1/');
    expect(url).toHaveLength(2);
    expect(await observe('--http-url', 'nothing-like-this')).toEqual([]);
  });

  it('--dns-query takes a regex; --protocol dns / http split the L7 flows', async () => {
    const other = await observe('--dns-query', '^other\\.');
    expect(other).toHaveLength(2);
    expect(other.every((l) => l.includes('other.example.test.'))).toBe(true);
    expect(await observe('--protocol', 'dns')).toHaveLength(4);
    expect(await observe('--protocol', 'http')).toHaveLength(8);
  });

  it('--to-fqdn, --from-fqdn and --fqdn match the names the FQDN cache holds, and the host is printed by name', async () => {
    const to = rest(await observe('--to-fqdn', '*.example.test'));
    expect(to).toEqual([
      'demo/frontend-7d9f:40000 (ID:1001) -> api.example.test:443 http-request FORWARDED (HTTP/1.1 GET http://backend.demo/v1/items)',
    ]);
    expect(rest(await observe('--from-fqdn', 'api.example.test'))).toEqual([
      'demo/frontend-7d9f:40000 (ID:1001) <- api.example.test:443 http-response FORWARDED (HTTP/1.1 200 3ms (GET http://backend.demo/v1/items))',
    ]);
    expect(await observe('--fqdn', 'api.example.test')).toHaveLength(2);
    expect(await observe('--fqdn', 'other.example.test')).toEqual([]);
  });

  it('-o dict and -o json show the L7 record as upstream names it', async () => {
    const dict = await observe('--http-status', '403', '--http-method', 'POST', '-o', 'dict');
    expect(dict[0]).toContain('       TYPE: http-response');
    expect(dict[0]).toContain('    SUMMARY: HTTP/1.1 403 3ms (POST http://backend.demo/public)');
    const [json] = await observe('--dns-query', 'api', '--type', 'l7', '-o', 'json');
    const f = JSON.parse(json!) as Record<string, unknown>;
    expect(f).toMatchObject({
      Type: 'L7',
      verdict: 'FORWARDED',
      l7: { type: 'REQUEST', dns: { query: 'api.example.test.', observationSource: 'proxy', qtypes: ['A'] } },
      eventType: { type: 129 },
      isReply: false,
      trafficDirection: 'EGRESS',
    });
    const [resp] = await observe('--dns-query', 'api', '--type', 'l7', '-o', 'json', '--last', '1');
    expect(JSON.parse(resp!)).toMatchObject({
      l7: { type: 'RESPONSE', latencyNs: '1000000', dns: { ips: ['10.9.9.9'], ttl: 30 } },
    });
  });
});

describe('L7 filter flags', () => {
  it('build upstream FlowFilter fields; --fqdn and --http-header as upstream', () => {
    const req = observeRequest(
      {
        'http-status': ['4+'],
        'http-method': ['GET'],
        'http-path': ['/a'],
        'http-url': ['^http://'],
        'http-header': ['x-user:alice'],
        'dns-query': ['example'],
        'to-fqdn': ['*.test'],
      },
      0,
    );
    expect(req.whitelist).toEqual([
      {
        destination_fqdn: ['*.test'],
        http_status_code: ['4+'],
        http_method: ['GET'],
        http_path: ['/a'],
        http_url: ['^http://'],
        dns_query: ['example'],
        http_header: [{ key: 'x-user', value: 'alice' }],
      },
    ]);
    expect(observeRequest({ fqdn: ['a.test'] }, 0).whitelist).toEqual([
      { source_fqdn: ['a.test'] },
      { destination_fqdn: ['a.test'] },
    ]);
    expect(() => observeRequest({ 'http-header': ['novalue'] }, 0)).toThrow(/KEY:VALUE/);
  });

  it('--http-status takes upstream forms only; headers match key and value exactly', () => {
    for (const bad of ['4', '600', '4xx', '+', '404+', '0+'])
      expect(() => compileFilter({ http_status_code: [bad] })).toThrow(/HTTP status code/);
    const f: Flow = { l7: { type: 'REQUEST', http: { headers: [{ key: 'x-user', value: 'alice' }] } } };
    expect(compileFilter({ http_header: [{ key: 'x-user', value: 'alice' }] })(f)).toBe(true);
    expect(compileFilter({ http_header: [{ key: 'x-user', value: 'bob' }] })(f)).toBe(false);
    expect(compileFilter({ http_status_code: ['2+'] })(f)).toBe(false);
  });
});
