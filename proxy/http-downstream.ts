// The client's side of one redirected connection: requests parsed as they arrive
// (http-request-parser.ts), each checked against the connection's rules; an allowed one goes to
// the destination over the upstream connection (http-upstream.ts), a denied one is answered
// `403 Access denied` here. Responses leave in the order the requests came (keep-alive and
// pipelining): a queue of slots, the head one writing; a denied request in a pipeline answers in
// its turn. A response head and a body that arrived with it leave in one write (cork/uncork).
import { PassThrough } from 'node:stream';
import type { Socket } from 'node:net';
import { HttpRequestError } from './errors.js';
import { HttpRequestParser, type ParsedRequest } from './http-request-parser.js';
import type { ResponseBody, UpstreamConnection } from './http-upstream.js';
import type { HttpL7Event, L7Endpoint, L7Peer } from './l7-flow.js';
import type { HttpRuleSet } from './http-rules.js';

/** What the proxy knows about one redirected connection. */
export interface HttpConnection {
  endpoint?: L7Endpoint;
  source: L7Peer;
  destination: L7Peer;
  /** The rules.http for this connection (its endpoint, direction and port); undefined denies every request. */
  rules?: HttpRuleSet;
}

export interface HttpProxyStats {
  requests: number;
  allowed: number;
  denied: number;
  errors: number;
}

/** What a downstream connection uses of its proxy. */
export interface DownstreamContext {
  readonly maxHeaderBytes: number;
  readonly stats: HttpProxyStats;
  readonly onEvent?: (e: HttpL7Event) => void;
  /** An upstream connection to the destination (a pooled idle one, or a new one). */
  upstream(destination: L7Peer): UpstreamConnection;
  /** Takes back the upstream connection of a closed client connection (pooled when idle). */
  release(destination: L7Peer, up: UpstreamConnection): void;
}

/** Upstream's denial body (Envoy's cilium.l7policy filter). */
export const ACCESS_DENIED_BODY = 'Access denied\r\n';

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
};

/** A whole response of our own (a denial or an error). */
function localResponse(status: number, body: string, close: boolean): Buffer {
  return Buffer.from(
    `HTTP/1.1 ${status} ${REASONS[status]}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n` +
      `${close ? 'connection: close\r\n' : ''}\r\n${body}`,
    'latin1',
  );
}
const DENIED = localResponse(403, ACCESS_DENIED_BODY, false);
const DENIED_CLOSE = localResponse(403, ACCESS_DENIED_BODY, true);
/** Bodies up to this many bytes are copied behind their head into one buffer (one write). */
const COPY_MAX = 16 * 1024;
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Header lines for the other side: end-to-end headers only (hop-by-hop and those Connection lists dropped). */
function endToEnd(
  names: readonly string[],
  lower: readonly string[],
  values: readonly string[],
  skip?: string,
): string {
  let listed: Set<string> | undefined;
  for (let i = 0; i < lower.length; i++) {
    if (lower[i] === 'connection')
      for (const t of values[i]!.split(',')) (listed ??= new Set()).add(t.trim().toLowerCase());
  }
  let out = '';
  for (let i = 0; i < lower.length; i++) {
    const l = lower[i]!;
    if (!HOP_BY_HOP.has(l) && !listed?.has(l) && l !== skip) out += `${names[i]}: ${values[i]}\r\n`;
  }
  return out;
}

/** The destination as a Host value (an IPv6 address in brackets). */
function hostOf(d: L7Peer): string {
  return d.address.includes(':') ? `[${d.address}]:${d.port}` : `${d.address}:${d.port}`;
}

/** One response owed to the client, in request order. */
interface Slot {
  /** a response of our own, whole; undefined: the destination's, written as it arrives */
  local?: Buffer;
  /** close the connection once this response is out */
  close: boolean;
  /** 100 Continue owed before the response (the client waits with its body) */
  interim: boolean;
  /** the response head, held until body bytes arrive so both leave in one write */
  head?: string;
  /** the destination's body is re-framed chunked for the client */
  chunked: boolean;
  status: number;
  verdict: HttpL7Event['verdict'];
  event?: Omit<HttpL7Event, 'kind' | 'verdict'>;
  started: bigint;
}

export class DownstreamConnection {
  private readonly parser: HttpRequestParser;
  private readonly slots: Slot[] = [];
  private up?: UpstreamConnection;
  /** the body of the request being parsed, when it goes to the destination */
  private body?: PassThrough;
  private ended = false;
  private closed = false;
  private pausedForSlots = false;
  private pausedForBody = false;
  /** when the message being received began (ms), 0 between messages: the slow-request bound */
  messageStartedAt = 0;
  lastActivity = Date.now();

  constructor(
    private readonly sock: Socket,
    private readonly conn: HttpConnection,
    private readonly ctx: DownstreamContext,
  ) {
    this.parser = new HttpRequestParser(
      { head: (r) => this.onRequest(r), body: (c) => this.onBody(c), end: () => this.onMessageEnd() },
      ctx.maxHeaderBytes,
    );
    sock.on('data', (c: Buffer) => this.onData(c));
    sock.on('end', () => {
      this.ended = true;
      // a request cut short cannot be answered (nor its body finished towards the destination)
      if (this.parser.inMessage) return void sock.destroy();
      this.parser.stop();
      this.flush();
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      this.closed = true;
      this.body?.destroy();
      if (this.up) this.ctx.release(this.conn.destination, this.up);
      this.up = undefined;
    });
  }

  /** Nothing owed and nothing half received. */
  get idle(): boolean {
    return this.slots.length === 0 && !this.parser.inMessage;
  }

  destroy(): void {
    this.sock.destroy();
  }

  /** The request being received took too long: 408 when nothing else is owed, else just close. */
  timeOut(): void {
    this.parser.stop();
    if (this.slots.length === 0) this.sock.end(localResponse(408, '', true));
    else this.sock.destroy();
  }

  private onData(chunk: Buffer): void {
    this.lastActivity = Date.now();
    if (!this.parser.inMessage) this.messageStartedAt = this.lastActivity;
    try {
      this.parser.feed(chunk);
    } catch (e) {
      if (!(e instanceof HttpRequestError)) throw e;
      this.push({
        local: localResponse(e.status, '', true),
        close: true,
        interim: false,
        chunked: false,
        status: e.status,
        verdict: 'ERROR',
        started: 0n,
      });
    }
    if (!this.parser.inMessage) this.messageStartedAt = 0;
    if (this.slots.length > 64 && !this.pausedForSlots) {
      // a client pipelining faster than answers come: stop reading until the queue drains
      this.pausedForSlots = true;
      this.sock.pause();
    }
  }

  private onRequest(r: ParsedRequest): void {
    const ctx = this.ctx;
    ctx.stats.requests++;
    const conn = this.conn;
    const started = ctx.onEvent ? process.hrtime.bigint() : 0n;
    const event = ctx.onEvent
      ? {
          protocol: 'http' as const,
          endpoint: conn.endpoint,
          source: conn.source,
          destination: conn.destination,
          method: r.method,
          url: `http://${r.host ?? conn.destination.address}${r.target}`,
          protocolVersion: r.minor ? 'HTTP/1.1' : 'HTTP/1.0',
        }
      : undefined;
    const allowed = !!conn.rules?.allows(r);
    if (event) ctx.onEvent!({ ...event, kind: 'request', verdict: allowed ? 'FORWARDED' : 'DROPPED' });
    if (!allowed) {
      ctx.stats.denied++;
      // a client waiting for 100 Continue may never send its body: close after the 403 instead
      const close = !r.keepAlive || r.expectContinue;
      if (r.expectContinue) this.parser.stop();
      this.push({
        local: close ? DENIED_CLOSE : DENIED,
        close,
        interim: false,
        chunked: false,
        status: 403,
        verdict: 'DROPPED',
        event,
        started,
      });
      return;
    }
    ctx.stats.allowed++;
    const slot: Slot = {
      close: !r.keepAlive,
      interim: r.expectContinue,
      chunked: false,
      status: 0,
      verdict: 'FORWARDED',
      event,
      started,
    };
    const chunked = r.body === 'chunked';
    let head = `${r.method} ${r.target} HTTP/1.1\r\n${endToEnd(r.names, r.lower, r.values, r.expectContinue ? 'expect' : undefined)}`;
    if (chunked) head += 'transfer-encoding: chunked\r\n';
    // an HTTP/1.0 request may come without Host; HTTP/1.1 towards the destination needs one
    if (r.host === undefined) head += `host: ${hostOf(conn.destination)}\r\n`;
    head += '\r\n';
    if (r.body !== 0) this.body = new PassThrough();
    this.up ??= ctx.upstream(conn.destination);
    this.push(slot);
    this.up.send({
      head,
      method: r.method,
      ...(this.body ? { body: this.body, chunked } : {}),
      sink: {
        head: (status, reason, raw, body) => this.onResponseHead(slot, r, status, reason, raw, body),
        data: (c) => this.onResponseData(slot, c),
        end: () => this.onResponseEnd(slot),
        error: (_e, headDone) => {
          ctx.stats.errors++;
          if (headDone) {
            slot.verdict = 'ERROR';
            this.sock.destroy();
            this.report(slot);
            return;
          }
          slot.local = localResponse(502, '', slot.close);
          slot.status = 502;
          slot.verdict = 'ERROR';
          if (this.slots[0] === slot) this.flush();
        },
      },
    });
  }

  private onBody(c: Buffer): void {
    if (!this.body || this.body.write(c)) return;
    this.pausedForBody = true;
    this.sock.pause();
    this.body.once('drain', () => {
      this.pausedForBody = false;
      if (!this.pausedForSlots) this.sock.resume();
    });
  }

  private onMessageEnd(): void {
    this.body?.end();
    this.body = undefined;
  }

  private onResponseHead(
    s: Slot,
    r: ParsedRequest,
    status: number,
    reason: string,
    raw: string[],
    body: ResponseBody,
  ): void {
    s.status = status;
    const names: string[] = [];
    const lower: string[] = [];
    const values: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      names.push(raw[i]!);
      lower.push(raw[i]!.toLowerCase());
      values.push(raw[i + 1]!);
    }
    let head = `HTTP/1.1 ${status} ${reason}\r\n${endToEnd(names, lower, values)}`;
    if (body === 'chunked' || body === 'close') {
      // an HTTP/1.1 client gets the body chunked (the connection stays); a 1.0 one until close
      if (r.minor === 1) {
        s.chunked = true;
        head += 'transfer-encoding: chunked\r\n';
      } else s.close = true;
    }
    if (s.close) head += 'connection: close\r\n';
    else if (r.minor === 0) head += 'connection: keep-alive\r\n';
    s.head = `${head}\r\n`;
  }

  private onResponseData(s: Slot, c: Buffer): void {
    const sock = this.sock;
    let ok: boolean;
    if (s.head === undefined && !s.chunked) ok = sock.write(c);
    else if (c.length <= COPY_MAX) {
      // head, chunk framing and a small body copied into one buffer: one plain write (a corked
      // writev of a string and a buffer cost twice as much in the profile)
      const head = s.head ?? '';
      const size = s.chunked ? `${c.length.toString(16)}\r\n` : '';
      const out = Buffer.allocUnsafe(head.length + size.length + c.length + (s.chunked ? 2 : 0));
      let at = out.write(head, 0, 'latin1');
      at += out.write(size, at, 'latin1');
      at += c.copy(out, at);
      if (s.chunked) out.write('\r\n', at, 'latin1');
      ok = sock.write(out);
    } else {
      sock.cork();
      if (s.head !== undefined) sock.write(s.head, 'latin1');
      if (s.chunked) sock.write(`${c.length.toString(16)}\r\n`, 'latin1');
      ok = sock.write(c);
      if (s.chunked) ok = sock.write('\r\n', 'latin1');
      sock.uncork();
    }
    s.head = undefined;
    if (!ok && this.up) {
      const up = this.up;
      up.pause();
      sock.once('drain', () => up.resume());
    }
  }

  private onResponseEnd(s: Slot): void {
    let tail = s.head ?? '';
    s.head = undefined;
    if (s.chunked) tail += '0\r\n\r\n';
    if (tail) this.sock.write(tail, 'latin1');
    this.slots.shift();
    this.report(s);
    if (s.close) this.closeAfter();
    else this.flush();
  }

  private push(s: Slot): void {
    this.slots.push(s);
    if (this.slots.length === 1) this.flush();
  }

  /** Writes what the head slots hold (interim responses, our own responses) until one waits for the destination. */
  private flush(): void {
    while (this.slots.length && !this.closed) {
      const s = this.slots[0]!;
      if (s.interim) {
        s.interim = false;
        this.sock.write(CONTINUE);
      }
      if (!s.local) break;
      this.sock.write(s.local);
      this.slots.shift();
      this.report(s);
      if (s.close) return this.closeAfter();
    }
    if (this.pausedForSlots && this.slots.length < 16) {
      this.pausedForSlots = false;
      if (!this.pausedForBody) this.sock.resume();
    }
    if (this.ended && this.idle && !this.closed) this.sock.end();
  }

  private closeAfter(): void {
    this.parser.stop();
    this.slots.length = 0;
    this.sock.end();
  }

  private report(s: Slot): void {
    if (!s.event) return;
    this.ctx.onEvent!({
      ...s.event,
      kind: 'response',
      verdict: s.verdict,
      code: s.status,
      latencyNs: Number(process.hrtime.bigint() - s.started),
    });
  }
}
