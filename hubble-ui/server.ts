// The hubble-ui server: the bundled page, and its API over plain HTTP —
//   GET  api/events?namespace=…&verdict=…   Server-Sent Events: `flows` batches, `relay` and
//        `node` changes, `lost` events and a `status` snapshot (EventSource reconnects by itself);
//        the query keys are `hubble observe`'s flags, turned into the same GetFlows filters;
//   GET  api/status                         relay's ServerStatus, its nodes, the namespaces;
//   POST api/ack      {stream, seq}         a page (api/events?ack=1) has processed batches up to seq;
//   POST api/explain  {flow}                why the policy decided this flow (explain.ts);
//   GET  healthz.
// Everything else is the single-page app (index.html for any path, so a shared URL opens), with the
// current status inside index.html so the page's header is complete on first paint. The bundle's
// files are content-hashed (hack/build.ts): cached by browsers for good, compressed once here.
import type * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, readdir, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlibConstants, gzip } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { observeRequest } from '../hubble/cli.js';
import { HubbleClient } from '../hubble/client.js';
import type { Flow } from '../hubble/types.js';
import type { ClusterReader } from './cluster-state.js';
import { HubbleUiError, HubbleUiErrorCode, httpStatusOf } from './errors.js';
import { FlowFeed } from './flow-feed.js';
import type { FeedEvent, UiStatus } from './api-types.js';
import { defaultHubbleUiOptions, type HubbleUiOptions } from './options.js';

/** Query keys of api/events: `hubble observe`'s filter flags (repeatable). */
export const FILTER_KEYS = [
  'namespace',
  'pod',
  'from-pod',
  'to-pod',
  'label',
  'from-label',
  'to-label',
  'ip',
  'from-ip',
  'to-ip',
  'port',
  'from-port',
  'to-port',
  'protocol',
  'verdict',
  'node-name',
] as const;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

/** esbuild's `[name]-[hash]` outputs: their content never changes under that name. */
const HASHED = /-[A-Z0-9]{8}\.(js|css)$/;
const brotli = promisify(brotliCompress);
const gzipped = promisify(gzip);

/** A static file as read and compressed once (again when its mtime changes: a rebuild). */
interface StaticFile {
  mtimeMs: number;
  body: Buffer;
  br: Buffer;
  gzip: Buffer;
}

/** The encoding to answer with: brotli, else gzip, else none (q=0 refusals are rare enough to ignore). */
function encodingFor(req: IncomingMessage): 'br' | 'gzip' | undefined {
  const accept = String(req.headers['accept-encoding'] ?? '');
  return /\bbr\b/.test(accept) ? 'br' : /\bgzip\b/.test(accept) ? 'gzip' : undefined;
}

/** The status as a JSON script element: `<` escaped, so no value can close the element. */
export function statusScript(status: UiStatus): string {
  const json = JSON.stringify(status).replace(/</g, '\\u003c');
  return `<script id="hubble-ui-status" type="application/json">${json}</script>`;
}

/** The GetFlows request for a page's query string; a bad filter throws HUBBLEUI_ERR_BAD_FILTER. */
export function requestFromQuery(q: URLSearchParams, initialFlows: number): ReturnType<typeof observeRequest> {
  const values: Record<string, string[]> = {};
  for (const k of FILTER_KEYS) {
    const v = q.getAll(k).filter(Boolean);
    if (v.length) values[k] = v;
  }
  try {
    return { ...observeRequest({ ...values, follow: true }, Date.now()), number: initialFlows };
  } catch (e) {
    throw new HubbleUiError(HubbleUiErrorCode.BadFilter, (e as Error).message, { cause: e });
  }
}

export class HubbleUiServer {
  readonly options: HubbleUiOptions;
  private readonly relay: HubbleClient;
  private readonly http: Server;
  private readonly clients = new Set<(e: FeedEvent) => void>();
  /** Feeds of pages that acknowledge their batches, by stream id. */
  private readonly acknowledged = new Map<string, FlowFeed>();
  private status: UiStatus = { relay: 'unreachable', message: 'not asked yet', nodes: [], namespaces: [] };
  private poller?: NodeJS.Timeout;
  private readonly staticDir: string;
  private readonly files = new Map<string, Promise<StaticFile>>();

  constructor(
    private readonly cluster: ClusterReader | undefined,
    opts: Partial<HubbleUiOptions> = {},
  ) {
    this.options = { ...defaultHubbleUiOptions, ...opts };
    this.staticDir = this.options.staticDir ?? fileURLToPath(new URL('./web/', import.meta.url));
    this.relay = new HubbleClient(this.options.relayAddress, {
      // relay restarts are short: reconnect soon after, not after grpc-js's default two minutes
      'grpc.initial_reconnect_backoff_ms': this.options.reconnectMinMs,
      'grpc.min_reconnect_backoff_ms': this.options.reconnectMinMs,
      'grpc.max_reconnect_backoff_ms': this.options.reconnectMaxMs,
    });
    // Idle keep-alive connections are kept longer than proxies and clients keep theirs (Node's 5 s
    // default races a client reusing the connection just as the server closes it: ECONNRESET).
    this.http = createServer({ keepAliveTimeout: 65_000 }, (req, res) => void this.route(req, res));
  }

  /** Listens on `options.listen`; resolves with the URL the page is at. */
  async listen(): Promise<string> {
    const i = this.options.listen.lastIndexOf(':');
    const host = i > 0 ? this.options.listen.slice(0, i) : undefined;
    const port = Number(i >= 0 ? this.options.listen.slice(i + 1) : this.options.listen);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new HubbleUiError(HubbleUiErrorCode.Listen, `--listen wants host:port, got "${this.options.listen}"`);
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', (e) =>
        reject(new HubbleUiError(HubbleUiErrorCode.Listen, `listen ${this.options.listen}: ${e.message}`)),
      );
      this.http.listen(port, host, resolve);
    });
    // the first status is asked at once but not waited for: relay may start after the UI
    void this.poll();
    this.poller = setInterval(() => void this.poll(), this.options.statusIntervalMs);
    // the policy engine loads in the background, so the first detail pane does not wait for it
    setTimeout(() => void import('./explain.js').catch(() => undefined), 1000).unref();
    // the bundle is read and compressed before the first browser asks for it
    void readdir(this.staticDir)
      .then((names) => Promise.all(names.filter((n) => HASHED.test(n)).map((n) => this.staticFile(`/${n}`))))
      .catch(() => undefined);
    const a = this.http.address() as AddressInfo;
    const shown = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    return `http://${shown.includes(':') ? `[${shown}]` : shown}:${a.port}${this.options.baseUrl}`;
  }

  private async poll(): Promise<void> {
    const next: UiStatus = { relay: 'connected', nodes: [], namespaces: [] };
    const timeout = Math.max(1000, this.options.statusIntervalMs);
    const [status, nodes, relayNs, apiNs] = await Promise.allSettled([
      this.relay.serverStatus(timeout),
      this.relay.getNodes(timeout),
      this.relay.getNamespaces(timeout),
      this.cluster ? this.cluster.namespaces() : Promise.resolve([]),
    ]);
    if (status.status === 'rejected') {
      next.relay = 'unreachable';
      next.message = (status.reason as grpc.ServiceError).details || (status.reason as Error).message;
    } else {
      next.numFlows = Number(status.value.num_flows ?? 0);
      next.seenFlows = Number(status.value.seen_flows ?? 0);
    }
    if (nodes.status === 'fulfilled')
      next.nodes = (nodes.value.nodes ?? []).map((n) => ({ name: n.name, state: n.state }));
    const ns = new Set<string>();
    if (relayNs.status === 'fulfilled')
      for (const n of relayNs.value.namespaces ?? []) if (n.namespace) ns.add(n.namespace);
    if (apiNs.status === 'fulfilled') for (const n of apiNs.value) ns.add(n);
    else next.apiServerError = (apiNs.reason as Error).message;
    next.namespaces = [...ns].sort();
    this.status = next;
    for (const send of this.clients) send({ type: 'status', status: next });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://ui');
    const base = this.options.baseUrl;
    let path = url.pathname.startsWith(base) ? `/${url.pathname.slice(base.length)}` : url.pathname;
    path = path.replace(/\/+/g, '/');
    try {
      if (path === '/healthz') return this.json(res, 200, { ok: true });
      if (path === '/api/events' && req.method === 'GET') return this.events(url.searchParams, req, res);
      if (path === '/api/status' && req.method === 'GET') return this.json(res, 200, this.status);
      if (path === '/api/explain' && req.method === 'POST') return this.json(res, 200, await this.explain(req));
      if (path === '/api/ack' && req.method === 'POST') return this.ack(req, res);
      if (path.startsWith('/api/')) return this.json(res, 404, { error: `no API ${path}` });
      if (req.method !== 'GET' && req.method !== 'HEAD') return this.json(res, 405, { error: 'GET only' });
      return await this.file(path, req, res);
    } catch (e) {
      const code = e instanceof HubbleUiError ? e.code : undefined;
      if (!res.headersSent) this.json(res, httpStatusOf(e), { error: (e as Error).message, code });
      else res.end();
    }
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(text);
  }

  /** A file of the bundle, read and compressed once per version of it. */
  private async staticFile(name: string): Promise<StaticFile> {
    const path = join(this.staticDir, name);
    const { mtimeMs } = await stat(path);
    const cached = this.files.get(name);
    if (cached) {
      const f = await cached.catch(() => undefined);
      if (f?.mtimeMs === mtimeMs) return f;
    }
    const loading = (async (): Promise<StaticFile> => {
      const body = await readFile(path);
      const [br, gz] = await Promise.all([
        // quality 9 compresses the bundle nearly as well as 11, in a small fraction of the time
        brotli(body, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 9 } }),
        gzipped(body, { level: 9 }),
      ]);
      return { mtimeMs, body, br, gzip: gz };
    })();
    this.files.set(name, loading);
    return loading;
  }

  private async file(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rel = normalize(path).replace(/^(\.\.[/\\])+/, '');
    const ext = extname(rel);
    const name = ext && TYPES[ext] ? rel : '/index.html';
    if (name === '/index.html') {
      let html: string;
      try {
        html = await readFile(join(this.staticDir, name), 'utf8');
      } catch {
        return this.json(res, 404, { error: `${name} not found (is the page built? npm run build)` });
      }
      res.writeHead(200, { 'content-type': TYPES['.html']!, 'cache-control': 'no-cache' });
      res.end(html.replace('<!--hubble-ui:status-->', statusScript(this.status)));
      return;
    }
    let f: StaticFile;
    try {
      f = await this.staticFile(name);
    } catch {
      return this.json(res, 404, { error: `${name} not found (is the page built? npm run build)` });
    }
    const encoding = encodingFor(req);
    res.writeHead(200, {
      'content-type': TYPES[extname(name)] ?? 'application/octet-stream',
      'cache-control': HASHED.test(name) ? 'public, max-age=31536000, immutable' : 'public, max-age=60',
      vary: 'accept-encoding',
      ...(encoding ? { 'content-encoding': encoding } : {}),
    });
    res.end(encoding === 'br' ? f.br : encoding === 'gzip' ? f.gzip : f.body);
  }

  private events(q: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
    const request = requestFromQuery(q, this.options.initialFlows);
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // proxies (nginx) must not buffer a stream
      'x-accel-buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    const send = (e: FeedEvent): void => {
      res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    };
    send({ type: 'status', status: this.status });
    const acknowledged = q.get('ack') === '1';
    const feed = new FlowFeed(
      this.relay,
      request,
      { ...this.options, acknowledged },
      { send, congested: () => res.writableNeedDrain },
    );
    const id = randomUUID();
    if (acknowledged) {
      this.acknowledged.set(id, feed);
      send({ type: 'stream', id });
    }
    this.clients.add(send);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const close = (): void => {
      feed.stop();
      clearInterval(keepAlive);
      this.clients.delete(send);
      this.acknowledged.delete(id);
    };
    req.on('close', close);
    res.on('error', close);
  }

  /** A request's JSON body (at most `limit` bytes). */
  private async body(req: IncomingMessage, limit: number): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > limit) throw new HubbleUiError(HubbleUiErrorCode.BadRequest, `request body over ${limit} bytes`);
      chunks.push(c);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      throw new HubbleUiError(HubbleUiErrorCode.BadRequest, `body is not JSON: ${(e as Error).message}`);
    }
  }

  private async ack(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { stream, seq } = ((await this.body(req, 1024)) ?? {}) as { stream?: unknown; seq?: unknown };
    const feed = typeof stream === 'string' ? this.acknowledged.get(stream) : undefined;
    // a stream that has ended (the page reconnected) is not an error: its next hello has a new id
    if (feed && typeof seq === 'number') feed.ack(seq);
    res.writeHead(204, { 'cache-control': 'no-store' });
    res.end();
  }

  private async explain(req: IncomingMessage): Promise<unknown> {
    const flow = ((await this.body(req, 1 << 20)) as { flow?: Flow } | null)?.flow;
    if (!flow || typeof flow !== 'object')
      throw new HubbleUiError(HubbleUiErrorCode.BadRequest, 'body wants {"flow": {…}}');
    if (!this.cluster)
      throw new HubbleUiError(HubbleUiErrorCode.ApiServer, 'no API server configured: cannot read the policies');
    // loaded on first use: the policy engine is most of this binary's start-up time
    const { explainFlow } = await import('./explain.js');
    return explainFlow(flow, await this.cluster.state());
  }

  /** The port it listens on (after listen()). */
  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    clearInterval(this.poller);
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.relay.close();
    this.cluster?.close();
  }
}
