// The DNS proxy's answer sockets: one per original destination, reused, the least recently used
// closed past the cap, and a destination no socket can be bound for reported (undefined), not thrown,
// or, given a raw socket, answered by whole packets from that destination.
// Real sockets on loopback, made by the addon as the agent makes them (IP_TRANSPARENT, SO_REUSEADDR).
import { afterEach, describe, expect, it } from '@jest/globals';
import { createSocket } from 'node:dgram';
import {
  ReplySockets,
  udp4Packet,
  type RawIpv4,
  type TransparentUdpFactory,
} from '../../../../controllers/agent/l7/dns-reply-sockets.js';
import { loadAddon } from '../../../../datapath/addon.js';

/** Receives on a free loopback port; returns it and what came in, with the sender's port. */
async function receiver(): Promise<{ port: number; got: () => { text: string; from: string }[]; close: () => void }> {
  const s = createSocket('udp4');
  const got: { text: string; from: string }[] = [];
  s.on('message', (m, r) => got.push({ text: m.toString(), from: `${r.address}:${r.port}` }));
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', () => ok()));
  return { port: s.address().port, got: () => got, close: () => s.close() };
}

let pool: ReplySockets | undefined;
afterEach(() => pool?.closeAll());

describe('ReplySockets', () => {
  const factory: TransparentUdpFactory = (family, address, port) =>
    loadAddon().transparentListen(null, family, 'udp', address, port);

  it('answers leave from the socket bound to the destination, reused for the next answer', async () => {
    const r = await receiver();
    pool = new ReplySockets(factory, 4);
    const dest = { address: '127.0.0.1', port: await freePort() };
    pool.get(dest)!.send(Buffer.from('one'), r.port, '127.0.0.1');
    pool.get(dest)!.send(Buffer.from('two'), r.port, '127.0.0.1');
    await waitFor(() => r.got().length === 2);
    expect(r.got()).toEqual([
      { text: 'one', from: `127.0.0.1:${dest.port}` },
      { text: 'two', from: `127.0.0.1:${dest.port}` },
    ]);
    expect(pool.stats).toEqual({ opened: 1, evicted: 0, failed: 0, raw: 0 });
    r.close();
  });

  it('keeps at most `cap` sockets, closing the least recently used', async () => {
    pool = new ReplySockets(factory, 2);
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
    const d = (port: number) => ({ address: '127.0.0.1', port });
    const first = pool.get(d(p1))!;
    pool.get(d(p2));
    pool.get(d(p1)); // p1 used again: p2 is now the oldest
    pool.get(d(p3));
    expect(pool.size).toBe(2);
    expect(pool.stats).toEqual({ opened: 3, evicted: 1, failed: 0, raw: 0 });
    expect(pool.get(d(p1))).toBe(first);
  });

  it('a destination it cannot bind (a local server without SO_REUSEADDR) is undefined and counted, not thrown', async () => {
    const server = createSocket('udp4');
    await new Promise<void>((ok) => server.bind(0, '127.0.0.1', () => ok()));
    pool = new ReplySockets(factory, 2);
    expect(pool.get({ address: '127.0.0.1', port: server.address().port })).toBeUndefined();
    expect(pool.stats).toEqual({ opened: 0, evicted: 0, failed: 1, raw: 0 });
    server.close();
  });

  it('with a raw socket, answers for such a destination still leave from its address:port, checksummed', async () => {
    const server = createSocket('udp4');
    await new Promise<void>((ok) => server.bind(0, '127.0.0.1', () => ok()));
    const addon = loadAddon();
    const raw: RawIpv4 = {
      open: () => addon.rawSocketIn(null),
      send: (fd, a, p) => addon.rawSendTo(fd, a, p),
      close: (fd) => addon.close(fd),
    };
    const r = await receiver();
    pool = new ReplySockets(factory, 2, raw);
    const dest = { address: '127.0.0.1', port: server.address().port };
    pool.get(dest)!.send(Buffer.from('odd length'), r.port, '127.0.0.1');
    pool.get(dest)!.send(Buffer.from('even length!'), r.port, '127.0.0.1');
    await waitFor(() => r.got().length === 2);
    expect(r.got()).toEqual([
      { text: 'odd length', from: `127.0.0.1:${dest.port}` },
      { text: 'even length!', from: `127.0.0.1:${dest.port}` },
    ]);
    expect(pool.stats).toEqual({ opened: 0, evicted: 0, failed: 2, raw: 2 });
    r.close();
    server.close();
  });
});

describe('udp4Packet', () => {
  it('is an IPv4 header and a UDP datagram whose checksum verifies (RFC 768: the sum over the pseudo-header is 0xffff)', () => {
    for (const payload of ['x', 'ab', 'a DNS answer of odd length']) {
      const p = udp4Packet(
        { address: '10.0.0.1', port: 53 },
        { address: '10.200.0.7', port: 40000 },
        Buffer.from(payload),
      );
      expect([...p.subarray(0, 4)]).toEqual([0x45, 0, 0, 28 + payload.length]);
      expect(p[9]).toBe(17);
      expect([...p.subarray(12, 20)]).toEqual([10, 0, 0, 1, 10, 200, 0, 7]);
      expect([p.readUInt16BE(20), p.readUInt16BE(22), p.readUInt16BE(24)]).toEqual([53, 40000, 8 + payload.length]);
      let sum = 17 + p.readUInt16BE(24);
      for (let i = 12; i < 20; i += 2) sum += p.readUInt16BE(i);
      for (let i = 20; i < p.length; i += 2) sum += i + 1 < p.length ? p.readUInt16BE(i) : p[i]! << 8;
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      expect(sum).toBe(0xffff);
      expect(p.subarray(28).toString()).toBe(payload);
    }
  });
});

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', () => ok()));
  const { port } = s.address();
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; !cond();) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
