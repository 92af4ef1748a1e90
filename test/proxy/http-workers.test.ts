// The HTTP proxy on worker threads (HttpProxyOptions.workers): each worker listens on the one port,
// the calling thread answers every connection's policy and gets the L7 events; a real node:http
// server behind, real worker threads, loopback only.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Agent, createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { HttpProxy, type HttpConnection } from '../../proxy/http-proxy.js';
import { HttpRuleSet } from '../../proxy/http-rules.js';
import type { HttpL7Event, L7Peer } from '../../proxy/l7-flow.js';
import { ProxyErrorCode } from '../../proxy/errors.js';

// each test starts two worker threads, which load the TypeScript sources through tsx: slow on a loaded machine
jest.setTimeout(120_000);

let backend: Server;
let backendPort = 0;

beforeAll(async () => {
  backend = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(`${req.method} ${req.url}`));
  });
  await new Promise<void>((ok) => backend.listen(0, '127.0.0.1', () => ok()));
  backendPort = (backend.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise<void>((ok) => backend.close(() => ok()));
});

function get(port: number, path: string, agent?: Agent, method = 'GET') {
  return new Promise<{ status: number; body: string }>((ok, fail) => {
    const r = request({ host: '127.0.0.1', port, path, method, agent }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    });
    r.on('error', fail);
    r.end();
  });
}

function workersProxy(connectionOf: (source: L7Peer, local: L7Peer) => HttpConnection | undefined) {
  const events: HttpL7Event[] = [];
  const proxy = new HttpProxy({ workers: 2, connectionOf, onEvent: (e) => events.push(e) });
  return { proxy, events };
}

const RULES = new HttpRuleSet([{ method: 'GET', path: '/public' }]);

describe('HttpProxy with workers', () => {
  it('enforces the rules the calling thread gives each connection, counts and reports every request', async () => {
    const asked: L7Peer[] = [];
    const { proxy, events } = workersProxy((source, local) => {
      asked.push(local);
      return {
        endpoint: { id: 7, identity: 4321 },
        source,
        destination: { address: '127.0.0.1', port: backendPort },
        rules: RULES,
      };
    });
    const { port } = await proxy.start();
    try {
      expect(await get(port, '/public')).toEqual({ status: 200, body: 'GET /public' });
      expect(await get(port, '/private')).toEqual({ status: 403, body: 'Access denied\r\n' });
      expect(await get(port, '/public', undefined, 'POST')).toMatchObject({ status: 403 });
      expect(asked.every((l) => l.port === port)).toBe(true);
      expect(proxy.stats).toEqual({ requests: 3, allowed: 1, denied: 2, errors: 0 });
      // events come in batches from the workers: wait for the last response's
      for (let i = 0; i < 500 && events.length < 6; i++) await new Promise((ok) => setTimeout(ok, 20));
      const seen = events.map((e) => [e.kind, e.verdict, e.method, e.url, e.code]);
      expect(seen).toEqual(
        expect.arrayContaining([
          ['request', 'FORWARDED', 'GET', `http://127.0.0.1:${port}/public`, undefined],
          ['response', 'FORWARDED', 'GET', `http://127.0.0.1:${port}/public`, 200],
          ['response', 'DROPPED', 'GET', `http://127.0.0.1:${port}/private`, 403],
          ['response', 'DROPPED', 'POST', `http://127.0.0.1:${port}/public`, 403],
        ]),
      );
      expect(events).toHaveLength(6);
      expect(events[0]!.endpoint).toEqual({ id: 7, identity: 4321 });
    } finally {
      await proxy.close();
    }
  });

  it('spreads connections over its workers; the same rule set serves them all and keep-alive works', async () => {
    const { proxy } = workersProxy((source) => ({
      source,
      destination: { address: '127.0.0.1', port: backendPort },
      rules: RULES,
    }));
    const { port } = await proxy.start();
    try {
      // 32 connections, 2 requests each: all on one worker would be a 1 in 2^31 hash draw
      const agents = Array.from({ length: 32 }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
      const answers = await Promise.all(agents.flatMap((a) => [get(port, '/public', a), get(port, '/public', a)]));
      expect(answers.every((a) => a.status === 200)).toBe(true);
      for (const a of agents) a.destroy();
      expect(proxy.perWorker).toHaveLength(2);
      expect(proxy.perWorker.every((n) => n > 0)).toBe(true);
      expect(proxy.stats.requests).toBe(64);
    } finally {
      await proxy.close();
    }
  });

  it('closes a connection no policy governs, and takes an answer that comes later', async () => {
    let n = 0;
    const proxy = new HttpProxy({
      workers: 2,
      connectionOf: async (source) => {
        await new Promise((ok) => setTimeout(ok, 30));
        return n++ === 0
          ? undefined
          : { source, destination: { address: '127.0.0.1', port: backendPort }, rules: RULES };
      },
    });
    const { port } = await proxy.start();
    try {
      const closed = await new Promise<string>((ok) => {
        const s = connect(port, '127.0.0.1', () => s.write('GET /public HTTP/1.1\r\nhost: x\r\n\r\n'));
        let got = '';
        s.on('data', (c: Buffer) => (got += c.toString()));
        s.on('error', () => {});
        s.on('close', () => ok(got));
      });
      expect(closed).toBe('');
      expect(await get(port, '/public')).toEqual({ status: 200, body: 'GET /public' });
    } finally {
      await proxy.close();
    }
  });

  it('stops every worker on close: the port refuses connections', async () => {
    const { proxy } = workersProxy((source) => ({ source, destination: { address: '127.0.0.1', port: backendPort } }));
    const { port } = await proxy.start();
    expect(await get(port, '/x')).toMatchObject({ status: 403 });
    await proxy.close();
    await expect(get(port, '/x')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('refuses a thread count that is not a whole number ≥ 1, and workers with a given listener', () => {
    const connectionOf = () => undefined;
    expect(() => new HttpProxy({ workers: 0, connectionOf })).toThrow(
      expect.objectContaining({ code: ProxyErrorCode.BadOption, message: expect.stringContaining('workers') }),
    );
    expect(() => new HttpProxy({ workers: 1.5, connectionOf })).toThrow(
      expect.objectContaining({ code: ProxyErrorCode.BadOption }),
    );
    expect(() => new HttpProxy({ workers: 2, fd: 3, connectionOf })).toThrow(
      expect.objectContaining({ code: ProxyErrorCode.BadOption, message: expect.stringContaining('fd') }),
    );
  });
});
