// The agent's HTTP proxy end to end on veth pairs: a CiliumNetworkPolicy allowing only GET /public
// on a backend pod, compiled by the policy engine into map entries with the HTTP proxy port, the
// kernel datapath redirecting the client's connection, and controllers/agent/l7's transparent proxy
// enforcing rules.http per request: GET /public → 200 from the backend, GET /private → 403,
// POST /public → 403, on one keep-alive connection.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { HttpRedirect } from '../../controllers/agent/l7/http-redirect.js';
import type { KernelDatapath } from '../../datapath/kernel.js';
import type { L7Event } from '../../proxy/l7-flow.js';
import { pinRoot, removePins } from './harness.js';
import { l7Redirect } from './l7-redirect-harness.js';
import { Topology } from './netns.js';

const run = async (cmd: string, args: string[]): Promise<string> =>
  (await promisify(execFile)(cmd, args, { timeout: 20_000 })).stdout;

const A = { id: 121, identity: 1201, app: 'client' };
const B = { id: 122, identity: 2301, app: 'backend' };
const topo = new Topology();
const pins = pinRoot();
let dp: KernelDatapath;
let proxy: HttpRedirect;
const l7: L7Event[] = [];

const server = `require('http').createServer((q, s) => { s.end('backend ' + q.method + ' ' + q.url); })
  .listen(80, '0.0.0.0', () => console.log('ready'));`;
// three requests on one keep-alive connection; prints "status body" per request
const client = (
  ip: string,
) => `const http = require('http'); const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const one = (method, path) => new Promise((ok) => { const r = http.request({ host: '${ip}', port: 80, method, path, agent }, (res) => {
  let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => ok(res.statusCode + ' ' + b.trim())); });
  r.on('error', (e) => ok('error ' + e.code)); r.end(); });
(async () => { for (const [m, p] of [['GET', '/public'], ['GET', '/private'], ['POST', '/public']]) console.log(await one(m, p)); process.exit(0); })();`;

beforeAll(async () => {
  topo.create();
  const r = l7Redirect(topo, pins, A, B, 'public-only', {
    endpointSelector: { matchLabels: { app: 'backend' } },
    ingress: [
      {
        fromEndpoints: [{ matchLabels: { app: 'client' } }],
        toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/public' }] } }],
      },
    ],
  });
  dp = r.dp;
  proxy = new HttpRedirect(
    {
      endpointByIp: r.endpointByIp,
      identityOf: (ip) => r.ipcache[ip] ?? 2,
      l7Rules: (...a) => r.engine.l7Rules(...a),
      onL7Event: (e) => l7.push(e),
    },
    { netns: topo.nodePath },
  );
  await proxy.start();
  topo.spawnIn(topo.b.ns, process.execPath, '-e', server);
  for (let i = 0; i < 50; i++) {
    if (topo.execIn(topo.b.ns, 'ss', '-ltn').includes(':80 ')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(async () => {
  try {
    await proxy?.close();
    dp?.close();
  } finally {
    topo.destroy();
    removePins(pins);
  }
});

describe('HTTP rules enforced by the agent proxy (CNP allowing only GET /public)', () => {
  it('GET /public → 200 from the backend, GET /private → 403, POST /public → 403', async () => {
    // asynchronously: the proxy serves from this process's event loop
    const out = (await run('ip', ['netns', 'exec', topo.a.ns, process.execPath, '-e', client(topo.b.ip)]))
      .trim()
      .split('\n');
    expect(out).toEqual(['200 backend GET /public', '403 Access denied', '403 Access denied']);
    expect(proxy.stats).toMatchObject({ requests: 3, allowed: 1, denied: 2 });
    const denied = l7.filter((e) => e.kind === 'response' && e.protocol === 'http' && e.code === 403);
    expect(denied).toHaveLength(2);
    expect(denied[0]).toMatchObject({ endpoint: { id: B.id }, source: { address: topo.a.ip } });
  });
});
