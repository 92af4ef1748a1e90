// The HTTP/1.1 proxy on loopback with a real node:http server behind it: per-request policy, 403
// with upstream's body, keep-alive and pipelining in order, bounded heads, typed L7 events.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent, createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
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
      else reply();
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
});
