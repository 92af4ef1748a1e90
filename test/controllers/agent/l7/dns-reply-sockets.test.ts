// The DNS proxy's answer sockets: one per original destination, reused, the least recently used
// closed past the cap, and a destination no socket can be bound for reported (undefined), not thrown.
// Real sockets on loopback, made by the addon as the agent makes them (IP_TRANSPARENT, SO_REUSEADDR).
import { afterEach, describe, expect, it } from '@jest/globals';
import { createSocket } from 'node:dgram';
import { ReplySockets, type TransparentUdpFactory } from '../../../../controllers/agent/l7/dns-reply-sockets.js';
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
    pool.get(dest)!.send('one', r.port, '127.0.0.1');
    pool.get(dest)!.send('two', r.port, '127.0.0.1');
    await waitFor(() => r.got().length === 2);
    expect(r.got()).toEqual([
      { text: 'one', from: `127.0.0.1:${dest.port}` },
      { text: 'two', from: `127.0.0.1:${dest.port}` },
    ]);
    expect(pool.stats).toEqual({ opened: 1, evicted: 0, failed: 0 });
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
    expect(pool.stats).toEqual({ opened: 3, evicted: 1, failed: 0 });
    expect(pool.get(d(p1))).toBe(first);
  });

  it('a destination it cannot bind (a local server without SO_REUSEADDR) is undefined and counted, not thrown', async () => {
    const server = createSocket('udp4');
    await new Promise<void>((ok) => server.bind(0, '127.0.0.1', () => ok()));
    pool = new ReplySockets(factory, 2);
    expect(pool.get({ address: '127.0.0.1', port: server.address().port })).toBeUndefined();
    expect(pool.stats).toEqual({ opened: 0, evicted: 0, failed: 1 });
    server.close();
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
