// The agent's DNS proxy end to end on veth pairs: a CiliumNetworkPolicy letting a client pod ask
// only api.example.test of the DNS server pod, compiled by the policy engine into map entries with
// the DNS proxy port, the kernel datapath redirecting the client's queries (UDP: the proxy's socket
// assigned and the original destination kept in cilium_proxy4; TCP: the transparent listener), and
// controllers/agent/l7's DnsRedirect enforcing rules.dns: the allowed name is answered by the server
// and the pod's resolver socket (connected to server:53, so it takes nothing from elsewhere) gets it,
// after beforeRelease saw what it taught; the denied one gets REFUSED, from server:53 too.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DnsRedirect } from '../../controllers/agent/l7/dns-redirect.js';
import { PROXY_PORTS } from '../../datapath/constants.js';
import type { KernelDatapath } from '../../datapath/kernel.js';
import { ProxyMap } from '../../datapath/proxy-map.js';
import type { DnsLearned } from '../../proxy/dns-proxy.js';
import type { L7Event } from '../../proxy/l7-flow.js';
import { pinRoot, removePins } from './harness.js';
import { l7Redirect } from './l7-redirect-harness.js';
import { Topology } from './netns.js';

const run = async (cmd: string, args: string[]): Promise<string> =>
  (await promisify(execFile)(cmd, args, { timeout: 20_000 })).stdout;

const A = { id: 131, identity: 1301, app: 'client' };
const B = { id: 132, identity: 2302, app: 'dns' };
const topo = new Topology();
const pins = pinRoot();
let dp: KernelDatapath;
let proxy: DnsRedirect;
let proxyMap: ProxyMap;
const l7: L7Event[] = [];
const learned: (DnsLearned & { at: number })[] = [];

// the DNS server pod: UDP and TCP on :53, two names
const server = `const dgram = require('dgram'), net = require('net'), dp = require('dns-packet');
const zone = { 'api.example.test': '10.210.0.1', 'other.example.test': '10.210.0.2' };
const answer = (q) => dp.encode({ type: 'response', id: q.id, flags: dp.RECURSION_DESIRED | dp.RECURSION_AVAILABLE,
  questions: q.questions, rcode: zone[q.questions[0].name] ? 'NOERROR' : 'NXDOMAIN',
  answers: zone[q.questions[0].name] ? [{ type: 'A', name: q.questions[0].name, ttl: 30, data: zone[q.questions[0].name] }] : [] });
const u = dgram.createSocket('udp4'); u.on('message', (m, r) => u.send(answer(dp.decode(m)), r.port, r.address)); u.bind(53, '0.0.0.0');
net.createServer((s) => { let b = Buffer.alloc(0); s.on('data', (d) => { b = Buffer.concat([b, d]);
  if (b.length >= 2 && b.length >= 2 + b.readUInt16BE(0)) { const a = answer(dp.decode(b.subarray(2, 2 + b.readUInt16BE(0))));
    const h = Buffer.alloc(2); h.writeUInt16BE(a.length); s.end(Buffer.concat([h, a])); } }); s.on('error', () => {}); }).listen(53, '0.0.0.0');`;

// the client pod's resolver: one query, prints what came back, from where, and when
const client = `const [server, transport, name] = process.argv.slice(1);
const dgram = require('dgram'), net = require('net'), dp = require('dns-packet');
const q = dp.encode({ type: 'query', id: 4242, flags: dp.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
const done = (m, from, port) => { const p = dp.decode(m);
  console.log(JSON.stringify({ from, port, rcode: p.rcode, ips: p.answers.map((a) => a.data), at: Date.now() })); process.exit(0); };
setTimeout(() => { console.log(JSON.stringify({ timeout: true })); process.exit(0); }, 5000);
if (transport === 'udp') { const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => done(m, r.address + ':' + r.port, s.address().port)); s.connect(53, server, () => s.send(q)); }
else { const s = net.connect(53, server, () => { const h = Buffer.alloc(2); h.writeUInt16BE(q.length); s.write(Buffer.concat([h, q])); });
  let b = Buffer.alloc(0); s.on('data', (d) => { b = Buffer.concat([b, d]);
    if (b.length >= 2 + b.readUInt16BE(0)) done(b.subarray(2), s.remoteAddress + ':' + s.remotePort, s.localPort); }); }`;

interface Resolved {
  from: string;
  port: number;
  rcode: string;
  ips: string[];
  at: number;
  timeout?: boolean;
}
const resolve = async (transport: 'udp' | 'tcp', name: string): Promise<Resolved> =>
  JSON.parse(
    (await run('ip', ['netns', 'exec', topo.a.ns, process.execPath, '-e', client, topo.b.ip, transport, name])).trim(),
  ) as Resolved;

beforeAll(async () => {
  topo.create();
  const r = l7Redirect(topo, pins, A, B, 'dns-api-only', {
    endpointSelector: { matchLabels: { app: 'client' } },
    egress: [
      {
        toEndpoints: [{ matchLabels: { app: 'dns' } }],
        toPorts: [
          {
            ports: [
              { port: '53', protocol: 'UDP' },
              { port: '53', protocol: 'TCP' },
            ],
            rules: { dns: [{ matchName: 'api.example.test' }] },
          },
        ],
      },
    ],
  });
  dp = r.dp;
  proxyMap = new ProxyMap(pins);
  proxy = new DnsRedirect(
    {
      endpointByIp: r.endpointByIp,
      identityOf: (ip) => r.ipcache[ip] ?? 2,
      l7Rules: (...a) => r.engine.l7Rules(...a),
      udpOriginal: (source, port) => proxyMap.udpOriginal(source, port),
      // slow on purpose: the answer must wait for it
      beforeRelease: async (l) => {
        await new Promise((r) => setTimeout(r, 30));
        learned.push({ ...l, at: Date.now() });
      },
      onL7Event: (e) => l7.push(e),
    },
    { netns: topo.nodePath },
  );
  await proxy.start();
  topo.spawnIn(topo.b.ns, process.execPath, '-e', server);
  for (let i = 0; i < 50; i++) {
    const up = topo.execIn(topo.b.ns, 'ss', '-lntu');
    if ((up.match(/:53 /g) ?? []).length >= 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(async () => {
  try {
    await proxy?.close();
    proxyMap?.close();
    dp?.close();
  } finally {
    topo.destroy();
    removePins(pins);
  }
});

describe('rules.dns enforced by the agent DNS proxy (CNP allowing only api.example.test)', () => {
  it.each(['udp', 'tcp'] as const)(
    '%s: the allowed name is answered from server:53, after beforeRelease learned it',
    async (transport) => {
      const before = learned.length;
      const r = await resolve(transport, 'api.example.test');
      expect(r).toMatchObject({ from: `${topo.b.ip}:53`, rcode: 'NOERROR', ips: ['10.210.0.1'] });
      const l = learned.slice(before);
      expect(l).toEqual([
        expect.objectContaining({ endpoint: { id: A.id, identity: A.identity }, name: 'api.example.test.', ttl: 30 }),
      ]);
      expect(l[0]!.ips).toEqual(['10.210.0.1']);
      expect(l[0]!.at).toBeLessThanOrEqual(r.at);
      if (transport === 'udp')
        // the datapath's record of where the datagram went, with the sender's identity
        expect(proxyMap.udpOriginal({ address: topo.a.ip, port: r.port }, PROXY_PORTS.dns)).toEqual({
          address: topo.b.ip,
          port: 53,
          identity: A.identity,
        });
    },
  );

  it.each(['udp', 'tcp'] as const)('%s: a denied name gets REFUSED from server:53', async (transport) => {
    const before = learned.length;
    const r = await resolve(transport, 'other.example.test');
    expect(r).toMatchObject({ from: `${topo.b.ip}:53`, rcode: 'REFUSED', ips: [] });
    expect(learned.length).toBe(before);
    const denied = l7.filter(
      (e) => e.protocol === 'dns' && e.kind === 'request' && e.verdict === 'DROPPED' && e.transport === transport,
    );
    expect(denied).toEqual([
      expect.objectContaining({
        query: 'other.example.test.',
        endpoint: { id: A.id, identity: A.identity },
        destination: { address: topo.b.ip, port: 53 },
      }),
    ]);
  });

  it('counts what it served', () => {
    expect(proxy.stats.proxy).toMatchObject({ queries: 4, allowed: 2, denied: 2, errors: 0 });
    expect(proxy.stats.replySockets).toMatchObject({ opened: 1, failed: 0 });
  });
});
