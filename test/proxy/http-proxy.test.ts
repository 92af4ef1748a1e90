// The HTTP/1.1 proxy on loopback with a real node:http server behind it: per-request policy, 403
// with upstream's body, keep-alive and pipelining in order, bounded heads, typed L7 events.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent, createServer, request, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { ACCESS_DENIED_BODY, HttpProxy, type HttpProxyOptions } from '../../proxy/http-proxy.js';
import { HttpRuleSet } from '../../proxy/http-rules.js';
import { layer7Of } from '../../hubble/l7-parser.js';
import type { HttpL7Event } from '../../proxy/l7-flow.js';

let backend: Server;
let backendPort = 0;
let backendConnections = 0;
const proxies: HttpProxy[] = [];

beforeAll(async () => {
  backend = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => {
      const reply = () => {
        res.setHeader('x-backend', 'yes');
        res.end(`${req.method} ${req.url} ${Buffer.concat(body).toString()}`);
      };
      if (req.url === '/slow') setTimeout(reply, 80);
      else if (req.url === '/stream') {
        // a body of unknown length: node:http frames it chunked (1.1) or until close (1.0)
        res.write('part1 ');
        res.end('part2');
      } else reply();
    });
  });
  backend.on('connection', () => backendConnections++);
  await new Promise<void>((ok) => backend.listen(0, '127.0.0.1', () => ok()));
  backendPort = (backend.address() as { port: number }).port;
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await new Promise<void>((ok) => backend.close(() => ok()));
});

async function proxyWith(
  rules = new HttpRuleSet([{ method: 'GET', path: '/public' }, { path: '/slow' }]),
  extra: Partial<HttpProxyOptions> = {},
) {
  const events: HttpL7Event[] = [];
  const proxy = new HttpProxy({
    connectionOf: (source) => ({
      endpoint: { id: 7, identity: 4321 },
      source,
      destination: { address: '127.0.0.1', port: backendPort },
      rules,
    }),
    onEvent: (e) => events.push(e),
    ...extra,
  });
  const { port } = await proxy.start();
  proxies.push(proxy);
  return { proxy, port, events };
}

function send(
  port: number,
  method: string,
  path: string,
  opts: { agent?: Agent; headers?: Record<string, string>; body?: string } = {},
) {
  return new Promise<{ status: number; body: string; headers: Record<string, unknown> }>((ok, fail) => {
    const r = request({ host: '127.0.0.1', port, method, path, agent: opts.agent, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        ok({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }),
      );
    });
    r.on('error', fail);
    r.end(opts.body);
  });
}

/** Writes `text` on a raw connection and collects what comes back until the proxy closes it (or `until` holds). */
function raw(port: number, text: string, opts: { until?: (got: string) => boolean; halfClose?: boolean } = {}) {
  return new Promise<{ text: string; closed: boolean }>((ok, fail) => {
    const sock = connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      sock.destroy();
      ok({ text: got, closed: false });
    }, 3000);
    sock.on('data', (c) => {
      got += c.toString('latin1');
      if (opts.until?.(got)) {
        clearTimeout(timer);
        sock.destroy();
        ok({ text: got, closed: false });
      }
    });
    sock.on('close', () => {
      clearTimeout(timer);
      ok({ text: got, closed: true });
    });
    sock.on('error', fail);
    sock.write(text);
    if (opts.halfClose) sock.end();
  });
}

const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));

describe('HttpProxy', () => {
  it('under a rule allowing only GET /public: GET /public 200, GET /private 403, POST /public 403', async () => {
    const { port, proxy } = await proxyWith();
    const ok = await send(port, 'GET', '/public');
    expect(ok).toMatchObject({ status: 200, body: 'GET /public ' });
    expect(ok.headers['x-backend']).toBe('yes');
    const priv = await send(port, 'GET', '/private');
    expect(priv).toMatchObject({ status: 403, body: ACCESS_DENIED_BODY });
    expect(priv.body).toBe('Access denied\r\n');
    expect((await send(port, 'POST', '/public', { body: 'x' })).status).toBe(403);
    expect(proxy.stats).toMatchObject({ requests: 3, allowed: 1, denied: 2 });
  });

  it('reports each request and response as a typed L7 event shaped as flow.Layer7 http', async () => {
    const { port, events } = await proxyWith();
    await send(port, 'GET', '/public', { headers: { host: 'svc.test' } });
    await send(port, 'GET', '/private', { headers: { host: 'svc.test' } });
    expect(events.map((e) => [e.kind, e.verdict, e.method, e.url, e.code])).toEqual([
      ['request', 'FORWARDED', 'GET', 'http://svc.test/public', undefined],
      ['response', 'FORWARDED', 'GET', 'http://svc.test/public', 200],
      ['request', 'DROPPED', 'GET', 'http://svc.test/private', undefined],
      ['response', 'DROPPED', 'GET', 'http://svc.test/private', 403],
    ]);
    expect(events[1]!.endpoint).toEqual({ id: 7, identity: 4321 });
    const l7 = layer7Of(events[3]!);
    expect(l7).toMatchObject({
      type: 'RESPONSE',
      http: { code: 403, method: 'GET', url: 'http://svc.test/private', protocol: 'HTTP/1.1' },
    });
    expect(l7.latency_ns).toBeGreaterThan(0);
  });

  it('keeps the client connection alive across requests, denied ones included, and pools the backend side', async () => {
    const { port } = await proxyWith();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let clientSockets = 0;
    agent.on('free', () => {});
    const before = backendConnections;
    const origCreate = agent.createConnection.bind(agent);
    agent.createConnection = ((...args: Parameters<typeof origCreate>) => {
      clientSockets++;
      return origCreate(...args);
    }) as typeof agent.createConnection;
    for (const path of ['/public', '/private', '/public', '/public']) await send(port, 'GET', path, { agent });
    agent.destroy();
    expect(clientSockets).toBe(1);
    expect(backendConnections - before).toBe(1);
  });

  it('answers pipelined requests in order; a denied one in the middle does not break the others', async () => {
    const { port } = await proxyWith();
    const raw = await new Promise<string>((ok, fail) => {
      const sock = connect(port, '127.0.0.1');
      let text = '';
      sock.on('data', (c) => {
        text += c.toString();
        if ((text.match(/HTTP\/1\.1 /g) ?? []).length === 3 && text.endsWith('GET /public ')) {
          sock.destroy();
          ok(text);
        }
      });
      sock.on('error', fail);
      sock.write(
        'GET /slow HTTP/1.1\r\nHost: a\r\n\r\n' +
          'POST /private HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
          'GET /public HTTP/1.1\r\nHost: a\r\n\r\n',
      );
    });
    const statuses = [...raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    expect(statuses).toEqual(['200', '403', '200']);
    expect(raw.indexOf('GET /slow')).toBeLessThan(raw.indexOf('Access denied'));
    expect(raw.indexOf('Access denied')).toBeLessThan(raw.indexOf('GET /public'));
  });

  it('forwards request bodies of allowed requests', async () => {
    const { port } = await proxyWith(new HttpRuleSet([{ method: 'POST' }]));
    expect(await send(port, 'POST', '/echo', { body: 'payload' })).toMatchObject({
      status: 200,
      body: 'POST /echo payload',
    });
  });

  it('refuses a request head past maxHeaderBytes with 431, without reaching the backend', async () => {
    const { port, proxy } = await proxyWith(new HttpRuleSet([]), { maxHeaderBytes: 1024 });
    const r = await send(port, 'GET', '/public', { headers: { 'x-big': 'a'.repeat(4096) } });
    expect(r.status).toBe(431);
    expect(proxy.stats.requests).toBe(0);
  });

  it('denies every request on a connection without rules, and answers 502 when the destination is down', async () => {
    const { port } = await proxyWith(undefined, {
      connectionOf: (source) => ({ source, destination: { address: '127.0.0.1', port: backendPort } }),
    });
    expect((await send(port, 'GET', '/public')).status).toBe(403);
    const down = await proxyWith(new HttpRuleSet([]), {
      connectionOf: (source) => ({
        source,
        destination: { address: '127.0.0.1', port: 1 },
        rules: new HttpRuleSet([]),
      }),
    });
    expect((await send(down.port, 'GET', '/public')).status).toBe(502);
    expect(down.proxy.stats.errors).toBe(1);
  });

  it('closes a connection the agent knows nothing about', async () => {
    const { port } = await proxyWith(undefined, { connectionOf: () => undefined });
    await expect(send(port, 'GET', '/public')).rejects.toThrow();
  });
  it('refuses a smuggling attempt (Transfer-Encoding with Content-Length) with 400 and closes', async () => {
    const { port, proxy } = await proxyWith(new HttpRuleSet([{ path: '/public' }]));
    const before = proxy.stats.requests;
    const r = await raw(
      port,
      'POST /public HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '0\r\n\r\nGET /private HTTP/1.1\r\nHost: a\r\n\r\n',
    );
    expect(statuses(r.text)).toEqual([400]);
    expect(r.text).toContain('connection: close');
    expect(r.closed).toBe(true);
    expect(proxy.stats.requests).toBe(before);
  });

  it('forwards a chunked request body', async () => {
    const { port } = await proxyWith(new HttpRuleSet([{ method: 'POST' }]));
    const r = await raw(
      port,
      'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n',
      { until: (t) => t.endsWith('POST /echo abcdefg') },
    );
    expect(statuses(r.text)).toEqual([200]);
  });

  it('passes a chunked response on chunked to an HTTP/1.1 client, and until close to an HTTP/1.0 one', async () => {
    const { port } = await proxyWith(new HttpRuleSet([{ path: '/stream' }]));
    const r = await raw(port, 'GET /stream HTTP/1.1\r\nHost: a\r\n\r\n', { until: (t) => t.endsWith('0\r\n\r\n') });
    expect(statuses(r.text)).toEqual([200]);
    expect(r.text).toContain('transfer-encoding: chunked');
    expect(r.text.split('\r\n\r\n')[1]).toBe('6\r\npart1 \r\n5\r\npart2\r\n0');
    const old = await raw(port, 'GET /stream HTTP/1.0\r\n\r\n');
    expect(old.closed).toBe(true);
    expect(old.text).not.toContain('transfer-encoding');
    expect(old.text.endsWith('\r\n\r\npart1 part2')).toBe(true);
  });

  it('closes after a response the client asked to close, and after an HTTP/1.0 one', async () => {
    const { port } = await proxyWith();
    const close = await raw(port, 'GET /public HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(statuses(close.text)).toEqual([200]);
    expect(close.text).toContain('connection: close');
    expect(close.closed).toBe(true);
    const old = await raw(port, 'GET /public HTTP/1.0\r\n\r\n');
    expect(statuses(old.text)).toEqual([200]);
    expect(old.closed).toBe(true);
    const denied = await raw(port, 'GET /private HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(statuses(denied.text)).toEqual([403]);
    expect(denied.closed).toBe(true);
  });

  it('answers every pipelined request of a client that shut its side after sending them, then closes', async () => {
    const { port } = await proxyWith();
    const r = await raw(
      port,
      'GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /private HTTP/1.1\r\nHost: a\r\n\r\nGET /public HTTP/1.1\r\nHost: a\r\n\r\n',
      { halfClose: true },
    );
    expect(statuses(r.text)).toEqual([200, 403, 200]);
    expect(r.closed).toBe(true);
  });

  it('sends 100 Continue to an allowed request that expects it, and closes after denying one', async () => {
    const { port } = await proxyWith(new HttpRuleSet([{ method: 'POST', path: '/echo' }]));
    const sock: Socket = connect(port, '127.0.0.1');
    const got = await new Promise<string>((ok, fail) => {
      let text = '';
      sock.on('error', fail);
      sock.on('data', (c) => {
        text += c.toString();
        // the body goes only once the proxy said continue
        if (text === 'HTTP/1.1 100 Continue\r\n\r\n') sock.write('body!');
        if (text.endsWith('POST /echo body!')) ok(text);
      });
      sock.write('POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
    });
    sock.destroy();
    expect(statuses(got)).toEqual([100, 200]);
    const denied = await raw(
      port,
      'POST /other HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n',
    );
    expect(statuses(denied.text)).toEqual([403]);
    expect(denied.closed).toBe(true);
  });

  it('hands an idle upstream connection to the next client connection to the same destination', async () => {
    const { port } = await proxyWith();
    const before = backendConnections;
    for (let i = 0; i < 3; i++) {
      const r = await raw(port, 'GET /public HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      expect(statuses(r.text)).toEqual([200]);
    }
    expect(backendConnections - before).toBe(1);
  });

  it('sends a request again on a new connection when the kept-alive one closes unanswered', async () => {
    // a destination that closes each connection at its second request, unanswered (its idle timeout racing the request)
    let connections = 0;
    const flaky = createTcpServer((s) => {
      connections++;
      let seen = 0;
      s.on('data', (c) => {
        for (const _ of c.toString().matchAll(/\r\n\r\n/g)) {
          if (++seen === 2) return void s.destroy();
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        }
      });
    });
    await new Promise<void>((ok) => flaky.listen(0, '127.0.0.1', () => ok()));
    const flakyPort = (flaky.address() as { port: number }).port;
    try {
      const { port } = await proxyWith(new HttpRuleSet([]), {
        connectionOf: (source) => ({
          source,
          destination: { address: '127.0.0.1', port: flakyPort },
          rules: new HttpRuleSet([]),
        }),
      });
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const got = [];
      for (let i = 0; i < 3; i++) got.push(await send(port, 'GET', `/${i}`, { agent }));
      agent.destroy();
      expect(got.map((r) => [r.status, r.body])).toEqual([
        [200, 'ok'],
        [200, 'ok'],
        [200, 'ok'],
      ]);
      // each connection serves one request and drops the next: the second and third went again
      expect(connections).toBe(3);
    } finally {
      flaky.close();
    }
  });
  it('answers 408 to a request slower than requestTimeoutMs and closes an idle connection after keepAliveTimeoutMs', async () => {
    const { port } = await proxyWith(undefined, { requestTimeoutMs: 200, keepAliveTimeoutMs: 200 });
    const started = Date.now();
    // a head that never ends (slow-loris)
    const slow = await raw(port, 'GET /public HTTP/1.1\r\nHost: a\r\nX-Slow: ');
    expect(statuses(slow.text)).toEqual([408]);
    expect(slow.closed).toBe(true);
    // answered, then left idle: closed by the proxy, not by the 3 s guard of raw()
    const idle = await raw(port, 'GET /public HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(statuses(idle.text)).toEqual([200]);
    expect(idle.closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(2 * 3000);
  });
});
