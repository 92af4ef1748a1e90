// The client side's HTTP/1.1 request parser (RFC 9112): request line, headers, then a body framed
// by Content-Length or chunked coding, message after message on one connection (keep-alive and
// pipelining). node:http's server did this with an IncomingMessage, a headers object and a
// ServerResponse per request: most of the proxy's CPU per request (BENCHMARKS.md, L7 proxy).
// It is strict where a lenient reading lets a request be smuggled past the policy (a proxy and
// the destination disagreeing on where a message ends): bare LF, obsolete line folding,
// whitespace before a colon, Transfer-Encoding with Content-Length, conflicting lengths, a
// transfer coding other than chunked, a missing or repeated Host all end the connection with a
// 4xx/5xx, as llhttp's strict mode does.

import { BodyDecoder } from './http-body.js';
import { BodyFramingError, HttpRequestError } from './errors.js';

/** One request head, as the rules and the forwarding need it. */
export class ParsedRequest {
  private headerMap?: Record<string, string | string[]>;

  constructor(
    readonly method: string,
    /** the request target as sent (origin form, query included) */
    readonly target: string,
    /** the minor version: HTTP/1.0 or HTTP/1.1 */
    readonly minor: 0 | 1,
    /** header names as sent, and their lower-case forms and values, in order */
    readonly names: string[],
    readonly lower: string[],
    readonly values: string[],
    readonly host: string | undefined,
    /** the body: its length (0: none) or `chunked` */
    readonly body: number | 'chunked',
    /** the client keeps the connection open after this response */
    readonly keepAlive: boolean,
    /** `Expect: 100-continue`: the client waits for an interim response before the body */
    readonly expectContinue: boolean,
  ) {}

  /** The path the rules match: the target as sent. */
  get path(): string {
    return this.target;
  }

  /** Header values by lower-case name (node:http's shape, for the rules), built on first use. */
  get headers(): Record<string, string | string[]> {
    if (this.headerMap) return this.headerMap;
    const h: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
    for (let i = 0; i < this.lower.length; i++) {
      const k = this.lower[i]!;
      const had = h[k];
      h[k] =
        had === undefined ? this.values[i]! : Array.isArray(had) ? [...had, this.values[i]!] : [had, this.values[i]!];
    }
    return (this.headerMap = h);
  }
}

/** What a parser reports, in order: a head, its body's bytes (decoded), the end of the message. */
export interface RequestSink {
  head(r: ParsedRequest): void;
  body(chunk: Buffer): void;
  end(): void;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);
// RFC 9110 §5.6.2 token; a target without whitespace or control characters; HTTP/1.0 or 1.1 only
/* eslint-disable no-control-regex -- control characters are what these refuse */
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([^\x00-\x20\x7f]+) HTTP\/1\.([01])$/;
// name, colon (no whitespace before it), value without control characters but HTAB, trimmed
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[\t ]*([^\x00-\x08\x0a-\x1f\x7f]*?)[\t ]*$/;
/* eslint-enable no-control-regex */

type State = 'head' | 'body' | 'done';

export class HttpRequestParser {
  private buf: Buffer = EMPTY;
  private state: State = 'head';
  private readonly body: BodyDecoder;
  /** the current message's client keeps the connection open after it */
  private keepAlive = true;

  constructor(
    private readonly sink: RequestSink,
    /** the largest head (request line and headers) and trailer section, bytes */
    private readonly maxHeadBytes: number,
  ) {
    this.body = new BodyDecoder(maxHeadBytes);
  }

  /** A message has begun and not ended (bytes of it arrived). */
  get inMessage(): boolean {
    return this.state !== 'done' && (this.state !== 'head' || this.buf.length > 0);
  }

  /** Stops parsing: what follows is ignored (the connection is to close after the current response). */
  stop(): void {
    this.state = 'done';
    this.buf = EMPTY;
  }

  /** Parses as far as `chunk` goes; throws HttpRequestError on a request to refuse (then stops). */
  feed(chunk: Buffer): void {
    if (this.state === 'done') return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    try {
      this.parse();
    } catch (e) {
      this.stop();
      throw e;
    }
  }

  private parse(): void {
    for (;;) {
      switch (this.state) {
        case 'head': {
          // empty lines before a request line are ignored (RFC 9112 §2.2)
          let start = 0;
          while (this.buf.length >= start + 2 && this.buf[start] === 13 && this.buf[start + 1] === 10) start += 2;
          const end = this.buf.indexOf(HEAD_END, start);
          if (end < 0) {
            if (this.buf.length - start > this.maxHeadBytes) throw new HttpRequestError(431, 'request head too large');
            if (start) this.buf = this.buf.subarray(start);
            return;
          }
          if (end - start > this.maxHeadBytes) throw new HttpRequestError(431, 'request head too large');
          const r = parseHead(this.buf.toString('latin1', start, end));
          this.buf = this.buf.subarray(end + 4);
          this.keepAlive = r.keepAlive;
          this.sink.head(r);
          if (r.body === 0) this.complete();
          else {
            this.body.start(r.body);
            this.state = 'body';
          }
          break;
        }
        case 'body':
          try {
            this.buf = this.body.read(this.buf, (c) => this.sink.body(c));
          } catch (e) {
            if (!(e instanceof BodyFramingError)) throw e;
            throw new HttpRequestError(e.tooLarge ? 431 : 400, `request with a ${e.message}`);
          }
          if (!this.body.done) return;
          this.complete();
          break;
        case 'done':
          return;
      }
    }
  }

  private complete(): void {
    this.state = 'head';
    // the sink may stop the parser too (a denied request that waits for 100 Continue)
    this.sink.end();
    if (!this.keepAlive) this.stop();
  }
}

/** Parses a request head (without its final CRLFCRLF). */
function parseHead(text: string): ParsedRequest {
  const lines = text.split('\r\n');
  const m = REQUEST_LINE.exec(lines[0]!);
  if (!m) throw new HttpRequestError(400, 'malformed request line');
  // a tunnel is not HTTP past its head: not proxied (as node:http without a 'connect' listener)
  if (m[1] === 'CONNECT') throw new HttpRequestError(501, 'CONNECT is not proxied');
  const minor = m[3] === '1' ? 1 : 0;
  const names: string[] = [];
  const lower: string[] = [];
  const values: string[] = [];
  let host: string | undefined;
  let hosts = 0;
  let length: number | undefined;
  let chunked = false;
  let te = false;
  let close = false;
  let keepAliveToken = false;
  let expectContinue = false;
  for (let i = 1; i < lines.length; i++) {
    const h = HEADER_LINE.exec(lines[i]!);
    if (!h) throw new HttpRequestError(400, 'malformed header line');
    const name = h[1]!;
    const value = h[2]!;
    const l = name.toLowerCase();
    switch (l) {
      case 'host':
        host = value;
        hosts++;
        break;
      case 'content-length':
        if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value)))
          throw new HttpRequestError(400, 'bad Content-Length');
        length = Number(value);
        break;
      case 'transfer-encoding':
        // only chunked alone is understood; a coding we cannot decode cannot be framed (§6.1)
        if (te || value.toLowerCase() !== 'chunked') throw new HttpRequestError(501, 'transfer coding not supported');
        te = chunked = true;
        break;
      case 'connection':
        for (const t of value.toLowerCase().split(',')) {
          const tok = t.trim();
          if (tok === 'close') close = true;
          else if (tok === 'keep-alive') keepAliveToken = true;
        }
        break;
      case 'expect':
        if (value.toLowerCase() === '100-continue') expectContinue = true;
        break;
    }
    names.push(name);
    lower.push(l);
    values.push(value);
  }
  if (te && minor === 0) throw new HttpRequestError(400, 'Transfer-Encoding in an HTTP/1.0 request');
  if (te && length !== undefined) throw new HttpRequestError(400, 'both Transfer-Encoding and Content-Length');
  if (hosts > 1 || (minor === 1 && hosts === 0)) throw new HttpRequestError(400, 'missing or repeated Host header');
  const keepAlive = minor === 1 ? !close : keepAliveToken && !close;
  const body = chunked ? 'chunked' : (length ?? 0);
  return new ParsedRequest(m[1]!, m[2]!, minor, names, lower, values, host, body, keepAlive, expectContinue);
}
