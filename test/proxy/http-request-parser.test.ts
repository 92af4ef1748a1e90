// The proxy's own request parser: messages one after another (split anywhere, pipelined in one
// chunk), bodies by Content-Length and chunked coding, and the strictness that keeps a request
// from being smuggled past the policy (each refusal with the status the client gets).
import { describe, expect, it } from '@jest/globals';
import { HttpRequestError } from '../../proxy/errors.js';
import { HttpRequestParser, type ParsedRequest } from '../../proxy/http-request-parser.js';

interface Message {
  head: ParsedRequest;
  body: string;
}

function parser(max = 1024) {
  const done: Message[] = [];
  let current: Message | undefined;
  const p = new HttpRequestParser(
    {
      head: (r) => (current = { head: r, body: '' }),
      body: (c) => (current!.body += c.toString('latin1')),
      end: () => done.push(current!),
    },
    max,
  );
  return { p, done };
}

function parseAll(text: string, max?: number): Message[] {
  const { p, done } = parser(max);
  p.feed(Buffer.from(text, 'latin1'));
  return done;
}

function refusal(text: string, max?: number): { status: number; message: string } {
  try {
    parseAll(text, max);
  } catch (e) {
    if (e instanceof HttpRequestError) return { status: e.status, message: e.message };
    throw e;
  }
  throw new Error('not refused');
}

const PIPELINE =
  '\r\nGET /a?x=1 HTTP/1.1\r\nHost: svc\r\nX-Token:  t1 \r\nx-token: t2\r\n\r\n' +
  'POST /b HTTP/1.1\r\nHost: svc\r\nContent-Length: 5\r\n\r\nhello' +
  'PUT /c HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: y\r\n\r\n' +
  'GET /d HTTP/1.0\r\n\r\n';

describe('HttpRequestParser', () => {
  it('reads pipelined messages with no body, a Content-Length body and a chunked body with trailers', () => {
    const got = parseAll(PIPELINE);
    expect(got.map((m) => [m.head.method, m.head.target, m.body, m.head.body, m.head.keepAlive])).toEqual([
      ['GET', '/a?x=1', '', 0, true],
      ['POST', '/b', 'hello', 5, true],
      ['PUT', '/c', 'abcde', 'chunked', true],
      ['GET', '/d', '', 0, false],
    ]);
    const a = got[0]!.head;
    expect(a.path).toBe('/a?x=1');
    expect(a.host).toBe('svc');
    // values trimmed, repeated names gathered under the lower-case name, as node:http gives them
    expect(a.headers['x-token']).toEqual(['t1', 't2']);
    expect(a.names).toEqual(['Host', 'X-Token', 'x-token']);
    expect(got[3]!.head.minor).toBe(0);
  });

  it('gives the same messages whatever way the bytes are split', () => {
    const whole = parseAll(PIPELINE).map((m) => [m.head.method, m.head.target, m.body]);
    for (const step of [1, 2, 7, 13]) {
      const { p, done } = parser();
      const bytes = Buffer.from(PIPELINE, 'latin1');
      for (let i = 0; i < bytes.length; i += step) p.feed(bytes.subarray(i, i + step));
      expect(done.map((m) => [m.head.method, m.head.target, m.body])).toEqual(whole);
    }
  });

  it('tells keep-alive, close and 100-continue apart; stops after a message that closes', () => {
    const got = parseAll(
      'GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' +
        'POST /2 HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx' +
        'GET /3 HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n' +
        'GET /never HTTP/1.1\r\nHost: h\r\n\r\n',
    );
    expect(got.map((m) => [m.head.target, m.head.keepAlive, m.head.expectContinue])).toEqual([
      ['/1', true, false],
      ['/2', true, true],
      ['/3', false, false],
    ]);
  });

  it.each([
    ['a bare LF line end', 'GET / HTTP/1.1\nHost: h\r\n\r\n', 400],
    ['a bare LF inside a header', 'GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n', 400],
    ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  2\r\n\r\n', 400],
    ['whitespace before the colon', 'GET / HTTP/1.1\r\nHost : h\r\n\r\n', 400],
    [
      'Transfer-Encoding with Content-Length',
      'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n',
      400,
    ],
    [
      'two different Content-Lengths',
      'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n',
      400,
    ],
    ['a signed Content-Length', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +4\r\n\r\n', 400],
    ['a coding other than chunked', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501],
    [
      'chunked twice',
      'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
      501,
    ],
    ['Transfer-Encoding in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\nX: y\r\n\r\n', 400],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['HTTP/2 over this parser', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 400],
    ['a space in the target', 'GET /a b HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['CONNECT', 'CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n', 501],
    ['a malformed chunk size', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
    ['a chunk without its CRLF', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n', 400],
  ])('refuses %s', (_what, text, status) => {
    expect(refusal(text).status).toBe(status);
  });

  it('refuses a head past the limit with 431, complete or not', () => {
    expect(refusal(`GET / HTTP/1.1\r\nHost: h\r\nX: ${'a'.repeat(200)}\r\n\r\n`, 128).status).toBe(431);
    expect(refusal(`GET / HTTP/1.1\r\nHost: h\r\nX: ${'a'.repeat(200)}`, 128).status).toBe(431);
  });

  it('parses nothing more after a refusal', () => {
    const { p, done } = parser();
    expect(() => p.feed(Buffer.from('GET / HTTP/1.1\r\nHost : h\r\n\r\n'))).toThrow(HttpRequestError);
    p.feed(Buffer.from('GET /after HTTP/1.1\r\nHost: h\r\n\r\n'));
    expect(done).toEqual([]);
    expect(p.inMessage).toBe(false);
  });
});
