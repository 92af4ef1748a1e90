// The HTTP/1.1 proxy: a connection the datapath redirected here carries its source endpoint and
// original destination (both injected); every request on it is checked against the `rules.http`
// of that connection, allowed ones go to the original destination over a keep-alive connection
// (http-upstream.ts, pooled per destination), denied ones get upstream's answer, `403 Forbidden`
// with the body `Access denied` (Cilium's Envoy filter; docs.cilium.io gettingstarted/demo shows
// it). The client's side is ours too (http-downstream.ts, http-request-parser.ts): node:http's
// server cost about three times the destination's CPU per request (BENCHMARKS.md, L7 proxy).
// Keep-alive and pipelining keep their order: a denied request in a pipeline answers 403 in its
// turn and the others go through.
import { createServer, type Server, type Socket } from 'node:net';
import {
  DownstreamConnection,
  type DownstreamContext,
  type HttpConnection,
  type HttpProxyStats,
} from './http-downstream.js';
import { ProxyError, ProxyErrorCode } from './errors.js';
import { UpstreamConnection } from './http-upstream.js';
import { HttpWorkers } from './http-workers.js';
import type { HttpL7Event, L7Peer } from './l7-flow.js';

export { ACCESS_DENIED_BODY, type HttpConnection, type HttpProxyStats } from './http-downstream.js';
export interface HttpProxyOptions {
  /**
   * The connection's identity and original destination, by its source address (the agent's
   * endpoint table and the datapath's redirect; a test passes its server). Undefined: the
   * connection is closed. `local` is the socket's own address: with a transparent listener (`fd`)
   * the connection's original destination. It may answer later (a Promise): the connection's
   * bytes wait in its socket meanwhile (a worker thread asks its calling thread so).
   */
  connectionOf: (source: L7Peer, local: L7Peer) => HttpConnection | undefined | Promise<HttpConnection | undefined>;
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
  /** How long a request may take to arrive in full (slow-loris bound), ms; past it 408 and close. */
  requestTimeoutMs?: number;
  /** How long an idle client connection (nothing owed, nothing half received) stays open, ms. node:http's default. */
  keepAliveTimeoutMs?: number;
  /**
   * Idle upstream connections kept per original destination for the next client connection
   * (a client that opens a connection per request then costs the destination no new handshake).
   * 0 turns pooling off.
   */
  maxIdleUpstreams?: number;
  /**
   * Threads serving connections, as Envoy's `--concurrency`: above 1, that many worker threads each
   * listen on the port (SO_REUSEPORT) and the calling thread only answers which policy governs a
   * new connection (once per connection) and takes the L7 events. Default 1: connections are served
   * on the calling thread. A proxy that is a node's bottleneck gains from a worker per core it may
   * use, at about 10 MiB of heap each; a connection opened per request pays a message round trip
   * between threads. Needs `host`/`port`: a given `fd` or `upstreamSocket` is one thread's.
   */
  workers?: number;
  /** Listen with SO_REUSEPORT (other sockets may share the port; the kernel spreads connections). */
  reusePort?: boolean;
  /** The counters to increment (a worker thread's shared row); default an object of this proxy's. */
  stats?: HttpProxyStats;
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  maxHeaderBytes: 16 * 1024,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxIdleUpstreams: 8,
  workers: 1,
  reusePort: false,
};

/** How often connections are checked against the timeouts, ms (as node:http's connectionsCheckingInterval). */
const SWEEP_MS = 1_000;

export class HttpProxy {
  private readonly opts: typeof DEFAULTS & HttpProxyOptions;
  private server?: Server;
  private sweep?: NodeJS.Timeout;
  private readonly downstreams = new Set<DownstreamConnection>();
  /** idle upstream connections by destination (`address|port`), with when they went idle */
  private readonly pool = new Map<string, { up: UpstreamConnection; since: number }[]>();
  readonly stats: HttpProxyStats;
  private readonly ctx: DownstreamContext;
  /** the worker threads, when `workers` is above 1 */
  private readonly threads?: HttpWorkers;

  constructor(options: HttpProxyOptions) {
    this.opts = { ...DEFAULTS, ...options };
    const workers = this.opts.workers;
    if (!Number.isInteger(workers) || workers < 1)
      throw new ProxyError(ProxyErrorCode.BadOption, `HTTP proxy workers must be a whole number ≥ 1, not ${workers}`);
    if (workers > 1) {
      if (this.opts.fd !== undefined || this.opts.upstreamSocket)
        throw new ProxyError(
          ProxyErrorCode.BadOption,
          'HTTP proxy workers above 1 need host/port: a given fd or upstreamSocket belongs to one thread',
        );
      const { host, maxHeaderBytes, requestTimeoutMs, keepAliveTimeoutMs, maxIdleUpstreams } = this.opts;
      this.threads = new HttpWorkers(
        workers,
        { host, maxHeaderBytes, requestTimeoutMs, keepAliveTimeoutMs, maxIdleUpstreams },
        (source, local) => this.opts.connectionOf(source, local),
        this.opts.onEvent,
      );
    }
    this.stats = this.threads?.stats ?? this.opts.stats ?? { requests: 0, allowed: 0, denied: 0, errors: 0 };
    this.ctx = {
      maxHeaderBytes: this.opts.maxHeaderBytes,
      stats: this.stats,
      onEvent: this.opts.onEvent as ((e: HttpL7Event) => void) | undefined,
      upstream: (d) => this.takeUpstream(d),
      release: (d, up) => this.releaseUpstream(d, up),
    };
  }

  async start(): Promise<{ port: number }> {
    if (this.threads) return this.threads.start(this.opts.port);
    // allowHalfOpen: a client that shuts its side after its last request still gets the answers
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (sock) => this.accept(sock));
    try {
      await new Promise<void>((ok, fail) => {
        server.once('error', fail);
        if (this.opts.fd !== undefined) server.listen({ fd: this.opts.fd }, () => ok());
        else server.listen({ port: this.opts.port, host: this.opts.host, reusePort: this.opts.reusePort }, () => ok());
      });
    } catch (e) {
      throw new ProxyError(ProxyErrorCode.Listen, `HTTP proxy cannot listen on ${this.opts.host}:${this.opts.port}`, {
        cause: e,
      });
    }
    this.server = server;
    this.sweep = setInterval(() => this.checkTimeouts(), SWEEP_MS).unref();
    const addr = server.address();
    return { port: typeof addr === 'object' && addr ? addr.port : this.opts.port };
  }

  /** Requests served by each worker thread (one entry without workers). */
  get perWorker(): number[] {
    return this.threads?.perWorker ?? [this.stats.requests];
  }

  async close(): Promise<void> {
    if (this.threads) return this.threads.close();
    clearInterval(this.sweep);
    for (const d of this.downstreams) d.destroy();
    for (const idle of this.pool.values()) for (const p of idle) p.up.destroy();
    this.pool.clear();
    await new Promise<void>((ok) => (this.server ? this.server.close(() => ok()) : ok()));
  }

  private accept(sock: Socket): void {
    const conn = this.opts.connectionOf(
      { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 },
      { address: sock.localAddress ?? '', port: sock.localPort ?? 0 },
    );
    if (conn instanceof Promise) {
      // a worker thread's answer comes by message: until then the bytes wait in the socket
      const failed = () => sock.destroy();
      sock.on('error', failed);
      void conn.then((c) => {
        sock.off('error', failed);
        if (!sock.destroyed) this.serve(sock, c);
      });
      return;
    }
    this.serve(sock, conn);
  }

  private serve(sock: Socket, conn: HttpConnection | undefined): void {
    if (!conn || !this.server?.listening) {
      sock.destroy();
      return;
    }
    const d = new DownstreamConnection(sock, conn, this.ctx);
    this.downstreams.add(d);
    sock.on('close', () => this.downstreams.delete(d));
  }

  private takeUpstream(d: L7Peer): UpstreamConnection {
    const key = `${d.address}|${d.port}`;
    const idle = this.pool.get(key);
    const p = idle?.pop();
    if (idle && idle.length === 0) this.pool.delete(key);
    return p?.up ?? new UpstreamConnection(d, this.opts.maxHeaderBytes, this.opts.upstreamSocket);
  }

  private releaseUpstream(d: L7Peer, up: UpstreamConnection): void {
    if (!up.reusable || this.opts.maxIdleUpstreams === 0 || !this.server?.listening) return up.destroy();
    const key = `${d.address}|${d.port}`;
    let idle = this.pool.get(key);
    if (!idle) this.pool.set(key, (idle = []));
    if (idle.length >= this.opts.maxIdleUpstreams) return up.destroy();
    idle.push({ up, since: Date.now() });
  }

  /** Slow requests get 408, idle client connections close, idle pooled upstreams are let go. */
  private checkTimeouts(): void {
    const now = Date.now();
    for (const d of this.downstreams) {
      if (d.messageStartedAt && now - d.messageStartedAt > this.opts.requestTimeoutMs) d.timeOut();
      else if (d.idle && now - d.lastActivity > this.opts.keepAliveTimeoutMs) d.destroy();
    }
    for (const [key, idle] of this.pool) {
      const keep = idle.filter(
        (p) => (now - p.since <= this.opts.keepAliveTimeoutMs && p.up.reusable) || (p.up.destroy(), false),
      );
      if (keep.length) this.pool.set(key, keep);
      else this.pool.delete(key);
    }
  }
}
