// The HTTP/1.1 proxy: a connection the datapath redirected here carries its source endpoint and
// original destination (both injected); every request on it is checked against the `rules.http`
// of that connection, allowed ones go to the original destination over a keep-alive connection
// of its own (http-upstream.ts), denied ones get upstream's answer, `403 Forbidden` with the body
// `Access denied` (Cilium's Envoy filter; docs.cilium.io gettingstarted/demo shows it). node:http
// parses the client's side: keep-alive and pipelining keep their order (the server queues each
// response behind the one before it, the destination gets them one at a time), so a denied
// request in a pipeline answers 403 in its turn and the others go through.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ProxyError, ProxyErrorCode } from './errors.js';
import type { HttpRuleSet } from './http-rules.js';
import { UpstreamConnection } from './http-upstream.js';
import type { HttpL7Event, L7Endpoint, L7Peer } from './l7-flow.js';

/** What the proxy knows about one redirected connection. */
export interface HttpConnection {
  endpoint?: L7Endpoint;
  source: L7Peer;
  destination: L7Peer;
  /** The rules.http for this connection (its endpoint, direction and port); undefined denies every request. */
  rules?: HttpRuleSet;
}

export interface HttpProxyOptions {
  /**
   * The connection's identity and original destination, by its source address (the agent's
   * endpoint table and the datapath's redirect; a test passes its server). Undefined: the
   * connection is closed. `local` is the socket's own address: with a transparent listener (`fd`)
   * the connection's original destination.
   */
  connectionOf: (source: L7Peer, local: L7Peer) => HttpConnection | undefined;
  /** Typed L7 events (request and response) for Hubble. */
  onEvent?: (e: HttpL7Event) => void;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** A listening socket to serve instead of host/port (the agent's IP_TRANSPARENT listener). */
  fd?: number;
  /** Makes the socket of an upstream connection (the agent's: in the node's network namespace). */
  upstreamSocket?: () => Socket;
  /** Largest request or response head (request line / status line and headers); past it 431 / 502. Default 16 KiB (Node's and Envoy's 60 KiB sit either side). */
  maxHeaderBytes?: number;
  /** How long a request may take to arrive in full (slow-loris bound), ms. */
  requestTimeoutMs?: number;
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  maxHeaderBytes: 16 * 1024,
  requestTimeoutMs: 60_000,
};

/** Upstream's denial body (Envoy's cilium.l7policy filter). */
export const ACCESS_DENIED_BODY = 'Access denied\r\n';

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

/** A request head for the destination: end-to-end headers only, framing as the body needs. */
function requestHead(req: IncomingMessage, chunked: boolean): string {
  let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
  const raw = endToEnd(req.rawHeaders);
  for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return `${head}${chunked ? 'transfer-encoding: chunked\r\n' : ''}\r\n`;
}

function endToEnd(raw: string[]): string[] {
  const listed = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection')
      for (const t of raw[i + 1]!.split(',')) listed.add(t.trim().toLowerCase());
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(name) && !listed.has(name)) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

export interface HttpProxyStats {
  requests: number;
  allowed: number;
  denied: number;
  errors: number;
}

export class HttpProxy {
  private readonly opts: typeof DEFAULTS & HttpProxyOptions;
  private server?: Server;
  private readonly conns = new WeakMap<Socket, HttpConnection>();
  /** the destination's side of each client connection (requests in the client's order) */
  private readonly upstreams = new WeakMap<Socket, UpstreamConnection>();
  private readonly sockets = new Set<Socket>();
  readonly stats: HttpProxyStats = { requests: 0, allowed: 0, denied: 0, errors: 0 };

  constructor(options: HttpProxyOptions) {
    this.opts = { ...DEFAULTS, ...options };
  }

  async start(): Promise<{ port: number }> {
    const server = createServer(
      { maxHeaderSize: this.opts.maxHeaderBytes, requestTimeout: this.opts.requestTimeoutMs, keepAlive: true },
      (req, res) => this.serve(req, res),
    );
    server.on('connection', (sock: Socket) => {
      const conn = this.opts.connectionOf(
        { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 },
        { address: sock.localAddress ?? '', port: sock.localPort ?? 0 },
      );
      if (!conn) {
        sock.destroy();
        return;
      }
      this.conns.set(sock, conn);
      this.sockets.add(sock);
      sock.on('close', () => {
        this.sockets.delete(sock);
        this.upstreams.get(sock)?.destroy();
      });
    });
    try {
      await new Promise<void>((ok, fail) => {
        server.once('error', fail);
        if (this.opts.fd !== undefined) server.listen({ fd: this.opts.fd }, () => ok());
        else server.listen(this.opts.port, this.opts.host, () => ok());
      });
    } catch (e) {
      throw new ProxyError(ProxyErrorCode.Listen, `HTTP proxy cannot listen on ${this.opts.host}:${this.opts.port}`, {
        cause: e,
      });
    }
    this.server = server;
    const addr = server.address();
    return { port: typeof addr === 'object' && addr ? addr.port : this.opts.port };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((ok) => (this.server ? this.server.close(() => ok()) : ok()));
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const started = process.hrtime.bigint();
    const conn = this.conns.get(req.socket);
    this.stats.requests++;
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const host = req.headers.host;
    const base = {
      protocol: 'http' as const,
      endpoint: conn?.endpoint,
      source: conn?.source ?? { address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0 },
      destination: conn?.destination,
      method,
      url: `http://${host ?? conn?.destination.address ?? ''}${path}`,
      protocolVersion: `HTTP/${req.httpVersion}`,
    };
    const finish = (verdict: HttpL7Event['verdict'], code: number) =>
      this.opts.onEvent?.({
        ...base,
        kind: 'response',
        verdict,
        code,
        latencyNs: Number(process.hrtime.bigint() - started),
      });

    const allowed = !!conn?.rules?.allows({ method, path, host, headers: req.headers });
    this.opts.onEvent?.({ ...base, kind: 'request', verdict: allowed ? 'FORWARDED' : 'DROPPED' });
    if (!conn || !allowed) {
      this.stats.denied++;
      req.resume(); // read and discard the body so the next pipelined request can be parsed
      res.writeHead(403, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(ACCESS_DENIED_BODY) });
      res.end(ACCESS_DENIED_BODY);
      finish('DROPPED', 403);
      return;
    }
    this.stats.allowed++;
    const fail = (code: number) => {
      this.stats.errors++;
      req.resume();
      if (res.headersSent) {
        res.destroy();
      } else {
        res.writeHead(code, { 'content-type': 'text/plain', 'content-length': 0 });
        res.end();
      }
      finish('ERROR', code);
    };
    let up = this.upstreams.get(req.socket);
    if (!up) {
      up = new UpstreamConnection(conn.destination, this.opts.maxHeaderBytes, this.opts.upstreamSocket);
      this.upstreams.set(req.socket, up);
    }
    // node:http has decoded the client's framing: a body of known length goes as is, else chunked
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const chunked = hasBody && req.headers['content-length'] === undefined;
    let status = 0;
    // the last chunk is held back so a whole small body leaves with res.end(): one write
    let held: Buffer | undefined;
    up.send({
      head: requestHead(req, chunked),
      method,
      ...(hasBody ? { body: req, chunked } : {}),
      sink: {
        head: (code, reason, raw) => {
          status = code;
          res.writeHead(code, reason, endToEnd(raw));
        },
        data: (c) => {
          if (held && !res.write(held)) {
            up.pause();
            res.once('drain', () => up.resume());
          }
          held = c;
        },
        end: () => {
          res.end(held);
          finish('FORWARDED', status);
        },
        error: (_e, headDone) => {
          if (headDone) {
            this.stats.errors++;
            res.destroy();
            finish('ERROR', status);
          } else fail(502);
        },
      },
    });
  }
}
