// The proxy's connection to the destination against a raw TCP server that answers scripted bytes:
// every response framing (length, chunked, until close, none for HEAD / 204 / 304, 1xx skipped),
// keep-alive and Connection: close, chunked request bodies, bad responses refused.
import { afterAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { UpstreamConnection, type UpstreamRequest } from '../../proxy/http-upstream.js';

const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
});

/** A server answering each request (seen as a complete head) with the next scripted reply. */
async function scripted(replies: string[]): Promise<{ port: number; received: string[]; connections: () => number }> {
  const received: string[] = [];
  let connections = 0;
  const sockets: Socket[] = [];
  const server = createServer((sock) => {
    connections++;
    sockets.push(sock);
    let text = '';
    sock.on('data', (c) => {
      text += c.toString('latin1');
      // a request is complete at its blank line (and, chunked, at its last chunk)
      for (;;) {
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) return;
        let len = end + 4;
        if (/transfer-encoding: chunked/i.test(text.slice(0, end))) {
          const last = text.indexOf('0\r\n\r\n', end + 4);
          if (last < 0) return;
          len = last + 5;
        }
        received.push(text.slice(0, len));
        text = text.slice(len);
        const reply = replies.shift() ?? '';
        if (reply === 'CLOSE') sock.destroy();
        else if (reply.endsWith('<close>')) sock.end(reply.slice(0, -7));
        else sock.write(reply);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  return { port: (server.address() as { port: number }).port, received, connections: () => connections };
}

interface Got {
  status?: number;
  headers?: string[];
  body: string;
  error?: string;
}

function ask(up: UpstreamConnection, head: string, extra: Partial<UpstreamRequest> = {}): Promise<Got> {
  return new Promise((ok) => {
    const got: Got = { body: '' };
    const method = head.split(' ')[0]!;
    up.send({
      head,
      method,
      ...extra,
      sink: {
        head: (status, _reason, raw) => Object.assign(got, { status, headers: raw }),
        data: (c) => (got.body += c.toString()),
        end: () => ok(got),
        error: (e) => ok({ ...got, error: e.message }),
      },
    });
  });
}

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nhost: t\r\n\r\n`;

describe('UpstreamConnection', () => {
  it('reads Content-Length, chunked and empty bodies over one keep-alive connection, in order', async () => {
    const s = await scripted([
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n',
      'HTTP/1.1 204 No Content\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n',
    ]);
    const up = new UpstreamConnection({ address: '127.0.0.1', port: s.port }, 16384);
    // sent together: the connection sends each after the previous response ends
    const got = await Promise.all([
      ask(up, GET('/a')),
      ask(up, GET('/b')),
      ask(up, GET('/c')),
      ask(up, GET('/d')),
      ask(up, 'HEAD /e HTTP/1.1\r\nhost: t\r\n\r\n'),
    ]);
    expect(got.map((g) => [g.status, g.body, g.error])).toEqual([
      [200, 'hello', undefined],
      [200, 'abcdefg', undefined],
      [204, '', undefined],
      [200, '', undefined],
      [200, '', undefined],
    ]);
    expect(got[0]!.headers).toEqual(['Content-Length', '5', 'X-A', '1']);
    expect(s.connections()).toBe(1);
    expect(s.received.map((r) => r.split(' ')[1])).toEqual(['/a', '/b', '/c', '/d', '/e']);
    up.destroy();
  });

  it('skips 100 Continue; reads a body until close; reconnects after Connection: close', async () => {
    const s = await scripted([
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end<close>',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx',
      'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\ny',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz',
    ]);
    const up = new UpstreamConnection({ address: '127.0.0.1', port: s.port }, 16384);
    const got = [];
    for (const p of ['/1', '/2', '/3', '/4', '/5']) got.push(await ask(up, GET(p)));
    expect(got.map((g) => [g.status, g.body])).toEqual([
      [201, 'ok'],
      [200, 'until the end'],
      [200, 'x'],
      [200, 'y'],
      [200, 'z'],
    ]);
    // /2 (until close), /3 (Connection: close) and /4 (HTTP/1.0) each end their connection
    expect(s.connections()).toBe(4);
    up.destroy();
  });

  it('sends a body of unknown length chunked, and one of known length as is', async () => {
    const s = await scripted([
      'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    ]);
    const up = new UpstreamConnection({ address: '127.0.0.1', port: s.port }, 16384);
    await ask(up, 'POST /c HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n', {
      body: Readable.from([Buffer.from('ab'), Buffer.from('cde')]),
      chunked: true,
    });
    await ask(up, 'POST /l HTTP/1.1\r\ncontent-length: 3\r\n\r\n', { body: Readable.from([Buffer.from('xyz')]) });
    expect(s.received[0]).toBe(
      'POST /c HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n',
    );
    expect(s.received[1]).toBe('POST /l HTTP/1.1\r\ncontent-length: 3\r\n\r\n');
    up.destroy();
  });

  it('refuses malformed responses and a connection that dies, and goes on with the next request', async () => {
    const s = await scripted([
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
      'SMTP ready\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'CLOSE',
      `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(200)}\r\n\r\n`,
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    ]);
    const up = new UpstreamConnection({ address: '127.0.0.1', port: s.port }, 128);
    const got = [];
    for (const p of ['/1', '/2', '/3', '/4', '/5', '/6']) got.push(await ask(up, GET(p)));
    expect(got.map((g) => g.error)).toEqual([
      'upstream sent a bad Content-Length',
      'upstream sent a malformed status line',
      'upstream sent a malformed chunk size',
      'upstream closed the connection before the response ended',
      'upstream response head too large',
      undefined,
    ]);
    expect(got[5]!.body).toBe('ok');
    up.destroy();
    expect((await ask(up, GET('/after'))).error).toBe('upstream connection closed');
  });
});
