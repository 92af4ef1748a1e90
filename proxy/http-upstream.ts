// The proxy's side towards the original destination: one keep-alive HTTP/1.1 connection per
// client connection, requests sent one at a time in the order the client sent them, responses
// framed by a small parser (status line, headers, then Content-Length, chunked or
// read-until-close bodies; none for HEAD, 1xx, 204 and 304). node:http's client did the same
// with an Agent, a ClientRequest, an IncomingMessage and two pipes per request: four fifths of
// the proxy's CPU per request (BENCHMARKS.md, L7 proxy). The client side stays node:http's.
import { connect, type Socket } from 'node:net';
import type { L7Peer } from '../hubble/types.js';
import { BodyDecoder } from './http-body.js';

/**
 * How a response's body is framed: none (HEAD, 204, 304, length 0), `length` (Content-Length, in
 * the raw headers), `chunked` (decoded here: data() gets the payload), `close` (until the end).
 */
export type ResponseBody = 'none' | 'length' | 'chunked' | 'close';

/** Where a response goes, in order: head, then data (decoded from chunks), then end; or error. */
export interface ResponseSink {
  head(status: number, reason: string, rawHeaders: string[], body: ResponseBody): void;
  data(chunk: Buffer): void;
  end(): void;
  /** the connection failed or the response was malformed; `headDone`: head() was called */
  error(e: Error, headDone: boolean): void;
}

/** One request: its head as text (framing headers included), its body if any, where its response goes. */
export interface UpstreamRequest {
  head: string;
  method: string;
  sink: ResponseSink;
  /** the body, read in flowing mode once the request is sent (a Readable buffers it until then) */
  body?: NodeJS.ReadableStream;
  /** send the body chunked (the client's was; its length is not known) */
  chunked?: boolean;
}

const CRLF = Buffer.from('\r\n');
/** Methods sent again after a stale connection (RFC 9110 §9.2.1 safe ones, as Go's net/http): never a POST the destination may have acted on. */
const REPLAYABLE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const HEAD_END = Buffer.from('\r\n\r\n');

export class UpstreamConnection {
  private sock?: Socket;
  private readonly queue: UpstreamRequest[] = [];
  private active?: UpstreamRequest;
  private buf: Buffer = Buffer.alloc(0);
  private state: 'head' | 'body' | 'close' | 'idle' = 'idle';
  private readonly body: BodyDecoder;
  private keepAlive = true;
  private headDone = false;
  private destroyed = false;
  /** responses the current socket has carried: a reused one may have been closed by the destination meanwhile */
  private served = 0;
  /** the active request was already sent again once */
  private retried = false;

  constructor(
    private readonly dest: L7Peer,
    private readonly maxHeadBytes: number,
    /** Makes the unconnected socket (the agent's: in the node's network namespace); default a plain one. */
    private readonly makeSocket?: () => Socket,
  ) {
    this.body = new BodyDecoder(maxHeadBytes);
  }

  send(r: UpstreamRequest): void {
    if (this.destroyed) return r.sink.error(new Error('upstream connection closed'), false);
    this.queue.push(r);
    if (!this.active) this.next();
  }

  /** Idle with an open socket: it can serve another client connection (the proxy's pool). */
  get reusable(): boolean {
    return !this.destroyed && !this.active && this.queue.length === 0 && !!this.sock && !this.sock.destroyed;
  }

  /** Stops reading the destination (the client is slow to take the response); resume() goes on. */
  pause(): void {
    this.sock?.pause();
  }

  resume(): void {
    this.sock?.resume();
  }

  destroy(): void {
    this.destroyed = true;
    this.sock?.destroy();
    this.sock = undefined;
    const pending = [...(this.active ? [this.active] : []), ...this.queue];
    this.queue.length = 0;
    this.active = undefined;
    for (const r of pending) r.sink.error(new Error('upstream connection closed'), r === pending[0] && this.headDone);
  }

  private next(): void {
    const r = this.queue.shift();
    this.active = r;
    this.retried = false;
    if (!r) return;
    this.state = 'head';
    this.headDone = false;
    this.buf = Buffer.alloc(0);
    const sock = this.sock ?? this.open();
    // header bytes are latin1 both ways (the parsers read them so): a UTF-8 value goes out as it came
    sock.write(r.head, 'latin1');
    const body = r.body;
    if (!body) return;
    const chunked = r.chunked;
    body.on('data', (c: Buffer) => {
      let ok: boolean;
      if (chunked) {
        sock.write(`${c.length.toString(16)}\r\n`);
        sock.write(c);
        ok = sock.write(CRLF);
      } else ok = sock.write(c);
      if (!ok) {
        body.pause();
        sock.once('drain', () => body.resume());
      }
    });
    if (chunked) body.on('end', () => sock.write('0\r\n\r\n'));
  }

  private open(): Socket {
    const sock = this.makeSocket
      ? this.makeSocket().setNoDelay(true).connect(this.dest.port, this.dest.address)
      : connect({ host: this.dest.address, port: this.dest.port, noDelay: true });
    this.sock = sock;
    this.served = 0;
    // a socket given up on (failed, or closed after its last response) may still speak: not to us
    sock.on('data', (c: Buffer) => this.sock === sock && this.onData(c));
    sock.on('error', (e) => this.sock === sock && this.fail(e));
    sock.on('close', () => {
      if (this.sock !== sock) return;
      this.sock = undefined;
      if (this.active && this.state === 'close') this.finish();
      else if (this.active) this.fail(new Error('upstream closed the connection before the response ended'));
    });
    return sock;
  }

  private fail(e: Error): void {
    const r = this.active;
    if (r && this.stale(r)) {
      // a kept-alive connection the destination closed as this request left (its idle timeout):
      // nothing of the request was answered and it has no body, so it goes again on a new one
      this.sock?.destroy();
      this.sock = undefined;
      this.active = undefined;
      this.queue.unshift(r);
      this.next();
      this.retried = true;
      return;
    }
    this.sock?.destroy();
    this.sock = undefined;
    this.active = undefined;
    if (r) r.sink.error(e, this.headDone);
    // the requests behind it get a connection of their own
    if (!this.destroyed && this.queue.length) this.next();
  }

  private onData(chunk: Buffer): void {
    if (!this.active) {
      // bytes nobody asked for: the connection is out of step, drop it
      this.sock?.destroy();
      return;
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    try {
      this.parse();
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private stale(r: UpstreamRequest): boolean {
    return (
      !this.retried &&
      this.served > 0 &&
      !this.headDone &&
      this.buf.length === 0 &&
      !r.body &&
      REPLAYABLE.has(r.method) &&
      !this.destroyed
    );
  }

  /** Consumes this.buf as far as it goes; emits to the active request's sink. */
  private parse(): void {
    while (this.active) {
      const sink = this.active.sink;
      switch (this.state) {
        case 'head': {
          const end = this.buf.indexOf(HEAD_END);
          if (end < 0) {
            if (this.buf.length > this.maxHeadBytes) throw new Error('upstream response head too large');
            return;
          }
          if (end > this.maxHeadBytes) throw new Error('upstream response head too large');
          const head = this.buf.toString('latin1', 0, end);
          this.buf = this.buf.subarray(end + 4);
          if (this.onHead(head, sink)) continue;
          break;
        }
        case 'body':
          try {
            this.buf = this.body.read(this.buf, (c) => sink.data(c));
          } catch (e) {
            throw new Error(`upstream sent a ${(e as Error).message}`, { cause: e });
          }
          if (!this.body.done) return;
          this.finish();
          break;
        case 'close':
          if (this.buf.length) sink.data(this.buf);
          this.buf = Buffer.alloc(0);
          return;
        default:
          return;
      }
    }
  }

  /** Parses a response head; true when parsing goes on (a 1xx, or a body to read). */
  private onHead(head: string, sink: ResponseSink): boolean {
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0]!);
    if (!m) throw new Error('upstream sent a malformed status line');
    const status = Number(m[2]);
    const raw: string[] = [];
    let length: number | undefined;
    let chunked = false;
    let close = m[1] === '0';
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i]!;
      const colon = l.indexOf(':');
      if (colon <= 0) throw new Error('upstream sent a malformed header line');
      const name = l.slice(0, colon);
      const value = l.slice(colon + 1).trim();
      const lower = name.toLowerCase();
      if (lower === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value)))
          throw new Error('upstream sent a bad Content-Length');
        length = Number(value);
      } else if (lower === 'transfer-encoding') chunked = /(^|,)\s*chunked\s*$/i.test(value);
      else if (lower === 'connection')
        close = /(^|,)\s*close\s*(,|$)/i.test(value) || (close && !/keep-alive/i.test(value));
      raw.push(name, value);
    }
    if (status === 101) throw new Error('upstream switched protocols (upgrades are not proxied)');
    if (status < 200) return true; // 100 Continue, 103 Early Hints: the final response follows
    this.keepAlive = !close;
    this.headDone = true;
    const method = this.active!.method;
    let body: ResponseBody;
    if (method === 'HEAD' || status === 204 || status === 304 || (!chunked && length === 0)) body = 'none';
    else if (chunked) body = 'chunked';
    else if (length !== undefined) body = 'length';
    else body = 'close';
    sink.head(status, m[3] ?? '', raw, body);
    if (body === 'none') this.finish();
    else if (body === 'length' || body === 'chunked') {
      this.body.start(body === 'chunked' ? 'chunked' : length!);
      this.state = 'body';
    } else {
      this.state = 'close';
      this.keepAlive = false;
    }
    return true;
  }

  private finish(): void {
    const r = this.active!;
    this.active = undefined;
    this.state = 'idle';
    if (!this.keepAlive || this.buf.length) {
      // not reusable (close, or bytes past the response): the next request opens a new one
      const sock = this.sock;
      this.sock = undefined;
      sock?.destroy();
    }
    this.buf = Buffer.alloc(0);
    this.served++;
    r.sink.end();
    if (this.queue.length) this.next();
  }
}
