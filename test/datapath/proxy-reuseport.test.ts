// The L7 redirect to a SO_REUSEPORT group (docs/design.md decision 34): the agent and
// cilium-l7proxy each hold a transparent listener on the same proxy port. to_proxy's
// bpf_sk_lookup_tcp/udp (no skb) finds the group and bpf_sk_assign hands the packet to it; the
// kernel then picks a member by the flow's hash (Linux >= 6.5 accepts a reuseport socket in
// bpf_sk_assign). Asserted here on veth pairs, TCP and UDP: new flows reach both members, and once
// one member is closed (its process killed) every new flow reaches the other.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import dgram from 'node:dgram';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadAddon } from '../../datapath/addon.js';
import { PROXY_PORTS } from '../../datapath/constants.js';
import { pinRoot } from './harness.js';
import { l7Redirect, l7Teardown, type L7Redirect } from './l7-redirect-harness.js';
import { Topology } from './netns.js';

const A = { id: 121, identity: 1201, app: 'client' };
const B = { id: 122, identity: 2202, app: 'server' };
const PORT = 5353;
const FLOWS = 32;

const topo = new Topology();
const pins = pinRoot();
let redirect: L7Redirect | undefined;

/**
 * FLOWS new flows from pod A to B:PORT, each from its own source port: TCP connects (and closes),
 * UDP sends one datagram each. Prints how many TCP connects completed.
 */
function flows(proto: 'tcp' | 'udp'): number {
  const script = `
const [proto, ip, port, n] = process.argv.slice(1);
let ok = 0;
const one = (i) => new Promise((res) => {
  if (proto === 'udp') {
    const s = require('node:dgram').createSocket('udp4');
    s.send(String(i), Number(port), ip, () => { ok++; s.close(); res(); });
    return;
  }
  const c = require('node:net').connect({ host: ip, port: Number(port) });
  const t = setTimeout(() => { c.destroy(); res(); }, 5000);
  c.on('connect', () => { ok++; clearTimeout(t); c.destroy(); res(); });
  c.on('error', () => { clearTimeout(t); res(); });
});
(async () => { for (let i = 0; i < Number(n); i++) await one(i); console.log(ok); })();`;
  const out = topo.execIn(topo.a.ns, process.execPath, '-e', script, proto, topo.b.ip, String(PORT), String(FLOWS));
  return Number(out.trim());
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (let waited = 0; !cond() && waited < ms; waited += 20) await sleep(20);
}

beforeAll(() => {
  topo.create();
  // the client's DNS to the server on PORT, UDP and TCP, goes to the DNS proxy's port
  redirect = l7Redirect(topo, pins, A, B, 'dns-to-server', {
    endpointSelector: { matchLabels: { app: 'client' } },
    egress: [
      {
        toEndpoints: [{ matchLabels: { app: 'server' } }],
        toPorts: [
          {
            ports: [
              { port: String(PORT), protocol: 'UDP' },
              { port: String(PORT), protocol: 'TCP' },
            ],
            rules: { dns: [{ matchPattern: '*' }] },
          },
        ],
      },
    ],
  });
});

afterAll(() => l7Teardown(redirect, topo, pins));

describe('L7 redirect to a SO_REUSEPORT group of transparent listeners', () => {
  it('TCP: connections reach both listeners; with one closed, every connection reaches the other', async () => {
    const addon = loadAddon();
    const got = { first: 0, second: 0 };
    const servers = (['first', 'second'] as const).map((name) => {
      const fd = addon.transparentListen(topo.nodePath, 4, 'tcp', '0.0.0.0', PROXY_PORTS.dns, true);
      const s = net.createServer((c) => {
        got[name]++;
        c.on('error', () => {});
        c.destroy();
      });
      return { s, fd };
    });
    try {
      for (const { s, fd } of servers) await new Promise<void>((ok) => s.listen({ fd }, ok));
      expect(flows('tcp')).toBe(FLOWS);
      await until(() => got.first + got.second === FLOWS);
      // spread by the flow hash: 32 flows on one member of two has odds 2^-31
      expect(got.first).toBeGreaterThan(0);
      expect(got.second).toBeGreaterThan(0);
      expect(got.first + got.second).toBe(FLOWS);

      await new Promise((r) => servers[0]!.s.close(r));
      got.first = got.second = 0;
      expect(flows('tcp')).toBe(FLOWS);
      await until(() => got.second === FLOWS);
      expect(got).toEqual({ first: 0, second: FLOWS });
    } finally {
      for (const { s } of servers) if (s.listening) await new Promise((r) => s.close(r));
    }
  });

  it('UDP: datagrams reach both sockets; with one closed, every datagram reaches the other', async () => {
    const addon = loadAddon();
    const got = { first: new Set<string>(), second: new Set<string>() };
    const sockets = (['first', 'second'] as const).map((name) => {
      const s = dgram.createSocket('udp4');
      s.on('message', (m) => got[name].add(m.toString()));
      s.bind({ fd: addon.transparentListen(topo.nodePath, 4, 'udp', '0.0.0.0', PROXY_PORTS.dns, true) });
      return s;
    });
    let firstOpen = true;
    try {
      expect(flows('udp')).toBe(FLOWS);
      await until(() => got.first.size + got.second.size === FLOWS);
      expect(got.first.size).toBeGreaterThan(0);
      expect(got.second.size).toBeGreaterThan(0);
      expect(got.first.size + got.second.size).toBe(FLOWS);

      sockets[0]!.close();
      firstOpen = false;
      got.first.clear();
      got.second.clear();
      expect(flows('udp')).toBe(FLOWS);
      await until(() => got.second.size === FLOWS);
      expect({ first: got.first.size, second: got.second.size }).toEqual({ first: 0, second: FLOWS });
    } finally {
      if (firstOpen) sockets[0]!.close();
      sockets[1]!.close();
    }
  });

  it('without SO_REUSEPORT a second listener on the port is refused (why both sides must set it)', () => {
    const addon = loadAddon();
    const fd = addon.transparentListen(topo.nodePath, 4, 'tcp', '0.0.0.0', PROXY_PORTS.http);
    try {
      expect(() => addon.transparentListen(topo.nodePath, 4, 'tcp', '0.0.0.0', PROXY_PORTS.http)).toThrow(/bind/);
    } finally {
      addon.close(fd);
    }
  });
});
