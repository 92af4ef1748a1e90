// The agent's REST server under 10,000 random requests (methods, paths with odd escapes, owners,
// near-valid and garbage bodies): it never answers 500, every refusal carries an AGENT_ERR_* code
// and a message, and it still answers /healthz afterwards.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isAgentErrorCode } from '../../controllers/agent/errors.js';
import { rawRequest, startRealApi, type RealApi } from '../controllers/agent/api-harness.js';
import { gen, report } from './seed.js';

const CASES = 10_000;
let api: RealApi;
beforeAll(async () => void (api = await startRealApi('10.79.0.0/24', { maxBodyBytes: 8192 })));
afterAll(() => api?.close());

describe('agent REST API fuzzing', () => {
  it(`${CASES} requests: never a 500, every refusal coded`, async () => {
    const g = gen(0xa91);
    const started = performance.now();
    const statuses: Record<number, number> = {};
    const ips: string[] = [];
    const odd = () => g.pick(['%', '%zz', '%E0%A4%A', '%00', '..', '\u00e9', g.str(g.int(12)), '']);
    const owner = () => g.pick(['demo/web', 'demo/db', 'a b', '', 'x'.repeat(400), `demo/${odd()}`]);
    const body = (): string | undefined => {
      const ep = {
        'container-id': g.pick(['c1', 'c2', '', '-x', 'c'.repeat(300)]),
        'container-interface-name': g.pick(['eth0', 'eth0\n', '', 'x'.repeat(16)]),
        'interface-name': g.pick(['lxc1', '..', 'lxc/1']),
        'interface-index': g.pick<unknown>([7, 0, -1, 1.5, '7', null, 2 ** 40]),
        mac: g.pick(['02:00:00:00:00:01', 'zz', '']),
        'host-mac': '02:00:00:00:00:02',
        addressing: g.pick<unknown>([
          { ipv4: g.pick(ips.length ? ips : ['10.79.0.9']) },
          { ipv4: '999.1.1.1' },
          {},
          null,
          'x',
        ]),
        'k8s-pod-name': g.pick(['web', 'db', 'Web', '']),
        'k8s-namespace': g.pick(['demo', 'Demo', '']),
        'sync-build': g.pick<unknown>([true, 'yes', undefined]),
      };
      const trace = {
        source: g.pick<unknown>([
          { identity: 1 },
          { identity: -1 },
          { labels: ['k8s:app=web'] },
          { labels: { app: 'web' } },
          'x',
          null,
          { labels: 5 },
        ]),
        destination: g.pick<unknown>([{ identity: 2 }, { labels: [] }, 7, {}]),
        port: g.pick<unknown>([80, 70_000, '80', undefined]),
        protocol: g.pick<unknown>(['TCP', 'udp', 6, 300, {}, undefined]),
      };
      return g.pick<() => string | undefined>([
        () => undefined,
        () => JSON.stringify(ep),
        () => JSON.stringify(trace),
        () => JSON.stringify(g.pick<unknown>([null, [], 1, 'x', true])),
        () => JSON.stringify(ep).slice(0, g.int(80)),
        () => g.str(g.int(100)),
        () => 'x'.repeat(9000),
      ])();
    };
    const paths = (): [string, string] => {
      const id = g.pick(['cni-attachment-id:c1:eth0', 'cni-attachment-id:c2:eth0', '12', 'pod-name:demo/web', odd()]);
      const ip = g.pick([...ips.slice(-3), '10.79.0.1', '10.79.0.200', 'x', odd()]);
      return g.pick<[string, string]>([
        ['POST', `/v1/ipam?family=${g.pick(['ipv4', 'ipv6', ''])}&owner=${encodeURIComponent(owner())}`],
        ['POST', `/v1/ipam?owner=${odd()}&container=${odd()}`],
        ['DELETE', `/v1/ipam/${ip}?owner=${encodeURIComponent(owner())}`],
        ['DELETE', `/v1/ipam?owner=${encodeURIComponent(owner())}&container=${g.pick(['c1', odd()])}`],
        ['PUT', `/v1/endpoint/${id}`],
        ['GET', `/v1/endpoint/${id}`],
        ['DELETE', `/v1/endpoint/${id}`],
        ['GET', '/v1/endpoint'],
        ['POST', '/v1/policy/trace'],
        ['GET', `/v1/identity/${g.pick(['1', '99999999999999999999', 'x'])}`],
        ['GET', `/v1/policy/entries/${g.int(5)}`],
        ['GET', `/v1/map/policy/${g.int(5)}`],
        [g.pick(['PATCH', 'GET', 'POST']), `/v1/${odd()}`],
      ]);
    };
    for (let i = 0; i < CASES; i++) {
      const [method, rawPath] = paths();
      // what any HTTP client does with a path: non-ASCII and blanks %-encoded (odd escapes stay odd)
      const path = rawPath.replace(/[^!-~]/gu, (c) => encodeURIComponent(c));
      const b = body();
      const r = await rawRequest(api.socketPath, method, path, b, b ? { 'content-type': 'application/json' } : {});
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status >= 500 && r.body.code !== 'AGENT_ERR_IPAM_EXHAUSTED') {
        throw new Error(`${method} ${path} ${b?.slice(0, 200)} → ${r.status} ${JSON.stringify(r.body)}`);
      }
      if (r.status >= 400) {
        if (!isAgentErrorCode(r.body.code))
          throw new Error(
            `${method} ${JSON.stringify(path)} ${JSON.stringify(b?.slice(0, 120))} len=${b?.length} → ${r.status} ${JSON.stringify(r.body)}`,
          );
        expect(typeof r.body.message).toBe('string');
      }
      const got = (r.body.address as { ipv4?: string } | undefined)?.ipv4;
      if (got) ips.push(got);
    }
    expect((await rawRequest(api.socketPath, 'GET', '/v1/healthz')).status).toBe(200);
    report('agent-api', CASES, started, Object.fromEntries(Object.entries(statuses).map(([k, v]) => [`s${k}`, v])));
    expect(Object.keys(statuses).length).toBeGreaterThanOrEqual(5);
  }, 300_000);
});
