// The CNI tests' stand-in agent (test/cni/fake-agent.ts) answers as the real REST server does:
// the same requests, run against both, get the same status and AGENT_ERR_* code, so the plugin's
// tests cannot pass against answers the real agent never gives (it once said 500 where the agent
// says 503 for an exhausted pod CIDR).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeAgent } from '../../cni/fake-agent.js';
import { rawRequest, startRealApi, type RealApi } from './api-harness.js';

let real: RealApi;
let fake: FakeAgent;
let dir: string;

beforeAll(async () => {
  // a /29: 5 addresses besides the router, so exhaustion is reachable on both
  real = await startRealApi('10.78.0.0/29');
  dir = mkdtempSync(join(tmpdir(), 'kts-agent-contract-'));
  fake = new FakeAgent({ socketPath: join(dir, 'fake.sock'), cidr: '10.78.0.0/29' });
  await fake.start();
});
afterAll(async () => {
  await real?.close();
  await fake?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const endpointBody = (ip: string, pod: string) =>
  JSON.stringify({
    'container-id': 'ctr',
    'container-interface-name': 'eth0',
    'interface-name': 'lxcctr',
    'interface-index': 9,
    mac: '02:00:00:00:00:01',
    'host-mac': '02:00:00:00:00:02',
    addressing: { ipv4: ip },
    'k8s-pod-name': pod,
    'k8s-namespace': 'demo',
  });

/** Steps run in order on each server; each yields [what, status, code]. */
const STEPS: [string, string, string, (ips: string[]) => string | undefined][] = [
  ['allocate', 'POST', '/v1/ipam?family=ipv4&owner=demo/a&container=ca', () => undefined],
  ['allocate without owner', 'POST', '/v1/ipam?family=ipv4', () => undefined],
  ['release by another owner', 'DELETE', '/v1/ipam/{0}?owner=demo/b', () => undefined],
  ['release of an unallocated address', 'DELETE', '/v1/ipam/10.78.0.6?owner=demo/a', () => undefined],
  ['release without owner', 'DELETE', '/v1/ipam/{0}', () => undefined],
  ['release with a bad escape', 'DELETE', '/v1/ipam/%zz?owner=demo/a', () => undefined],
  [
    'endpoint with another pod’s address',
    'PUT',
    '/v1/endpoint/cni-attachment-id:ctr:eth0',
    (ips) => endpointBody(ips[0]!, 'b'),
  ],
  [
    'endpoint with an unallocated address',
    'PUT',
    '/v1/endpoint/cni-attachment-id:ctr:eth0',
    () => endpointBody('10.78.0.6', 'a'),
  ],
  ['endpoint body not JSON', 'PUT', '/v1/endpoint/cni-attachment-id:ctr:eth0', () => '{'],
  ['endpoint body null', 'PUT', '/v1/endpoint/cni-attachment-id:ctr:eth0', () => 'null'],
  ['get an unknown endpoint', 'GET', '/v1/endpoint/cni-attachment-id:nope:eth0', () => undefined],
  ['delete an unknown endpoint', 'DELETE', '/v1/endpoint/cni-attachment-id:nope:eth0', () => undefined],
  ['unknown route', 'GET', '/v1/nothing-here', () => undefined],
  ['release what the container never used', 'DELETE', '/v1/ipam?owner=demo/a&container=ca', () => undefined],
  ['fill 1', 'POST', '/v1/ipam?owner=demo/f', () => undefined],
  ['fill 2', 'POST', '/v1/ipam?owner=demo/f', () => undefined],
  ['fill 3', 'POST', '/v1/ipam?owner=demo/f', () => undefined],
  ['fill 4', 'POST', '/v1/ipam?owner=demo/f', () => undefined],
  ['fill 5', 'POST', '/v1/ipam?owner=demo/f', () => undefined],
  ['exhausted', 'POST', '/v1/ipam?owner=demo/f', () => undefined],
  ['release by the owner', 'DELETE', '/v1/ipam/{0}?owner=demo/f', () => undefined],
];

async function run(socketPath: string): Promise<[string, number, string | undefined][]> {
  const ips: string[] = [];
  const out: [string, number, string | undefined][] = [];
  for (const [what, method, path, body] of STEPS) {
    const b = body(ips);
    const p = path.replace('{0}', ips[0] ?? '10.78.0.2');
    const r = await rawRequest(socketPath, method, p, b, b ? { 'content-type': 'application/json' } : {});
    const ip = (r.body.address as { ipv4?: string } | undefined)?.ipv4;
    if (ip) ips.unshift(ip);
    out.push([what, r.status, r.body.code]);
  }
  return out;
}

describe('fake agent vs real REST server', () => {
  it('answer every step with the same status and code', async () => {
    const fromReal = await run(real.socketPath);
    const fromFake = await run(fake.o.socketPath);
    expect(fromFake).toEqual(fromReal);
    // and the scenario reaches what it means to: a refusal of each kind, exhaustion, success
    const statuses = new Set(fromReal.map(([, s]) => s));
    for (const s of [200, 400, 403, 404, 503]) expect(statuses).toContain(s);
  });
});
