// The HTTP server of the agent's REST API on its unix socket (`/v1`, upstream's paths): matches a
// request to its route (the table is routes.ts), answers JSON, streams NDJSON. Every error is a
// JSON body with a stable code and a message; every refusal is logged with its reason. The socket
// is 0660 with group `cilium` (upstream's api.SetDefaultPermissions), so only root and that group
// can create endpoints or free addresses.
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { dirname } from 'node:path';
import { AgentError, AgentErrorCode } from '../errors.js';
import { API_PREFIX } from './types.js';

export type Handler = (req: {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  params: string[];
}) => Promise<unknown>;

/** A handler result that streams newline-delimited JSON until the client goes away (monitor). */
export class Stream {
  constructor(readonly start: (write: (item: unknown) => void) => () => void) {}
}

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

export interface ApiServerOptions {
  /**
   * The group that may use the socket (mode 0660). Upstream's is `cilium`; when the node has no
   * such group the socket keeps root's group (only root can use it) and a warning says so.
   */
  socketGroup?: string;
  /**
   * The largest request body accepted, in bytes; larger ones get 413 before they are read. The
   * biggest legitimate body (an EndpointChangeRequest or a policy trace) is well under 8 KiB.
   */
  maxBodyBytes?: number;
  /** Refusals (4xx/5xx) and permission fallbacks are logged here; silent when absent. */
  log?: ApiLog;
}

/** The part of a (pino) logger the server writes to. */
export interface ApiLog {
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

export const API_SERVER_DEFAULTS = {
  socketGroup: 'cilium',
  socketMode: 0o660,
  maxBodyBytes: 64 * 1024,
} as const;

/** The gid of a group in /etc/group, or undefined (no NSS lookups in Node; the agent runs on Linux nodes). */
export function groupId(name: string, groupFile = '/etc/group'): number | undefined {
  let text: string;
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [n, , gid] = line.split(':');
    if (n === name && gid && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

export class ApiServer {
  private readonly routes: Route[] = [];
  private server?: http.Server;
  private readonly o: Required<Omit<ApiServerOptions, 'log'>> & Pick<ApiServerOptions, 'log'>;

  constructor(o: ApiServerOptions = {}) {
    this.o = {
      socketGroup: o.socketGroup ?? API_SERVER_DEFAULTS.socketGroup,
      maxBodyBytes: o.maxBodyBytes ?? API_SERVER_DEFAULTS.maxBodyBytes,
      log: o.log,
    };
  }

  /** Sets the logger once the owner has one (the agent builds the server before its manager). */
  useLog(log: ApiServerOptions['log']): this {
    this.o.log = log;
    return this;
  }

  route(method: string, pattern: RegExp, handler: Handler): this {
    this.routes.push({ method, pattern, handler });
    return this;
  }

  async listen(socketPath: string): Promise<void> {
    mkdirSync(dirname(socketPath), { recursive: true });
    rmSync(socketPath, { force: true }); // a stale socket from a killed agent
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(socketPath, resolve);
    });
    this.restrict(socketPath);
  }

  /** 0660 and the API group; a missing group falls back to root's (0), as upstream does. */
  private restrict(socketPath: string): void {
    chmodSync(socketPath, API_SERVER_DEFAULTS.socketMode);
    let gid = groupId(this.o.socketGroup);
    if (gid === undefined) {
      this.o.log?.warn(
        { group: this.o.socketGroup, socket: socketPath },
        'the API socket group does not exist; the socket keeps root ownership (only root can use the API)',
      );
      gid = 0;
    }
    try {
      chownSync(socketPath, process.getuid?.() ?? 0, gid);
    } catch (e) {
      this.o.log?.warn(
        { group: this.o.socketGroup, gid, socket: socketPath, err: (e as Error).message },
        'cannot set the API socket group; it keeps the agent process group',
      );
    }
  }

  close(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** The body as text, refusing more than maxBodyBytes (declared or sent). */
  private async readBody(req: http.IncomingMessage): Promise<string> {
    const max = this.o.maxBodyBytes;
    const tooLarge = () =>
      new AgentError(AgentErrorCode.TooLarge, `the request body is larger than ${max} bytes`, { status: 413 });
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) throw tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) throw tooLarge();
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    let path = req.url ?? '/';
    const send = (status: number, body: unknown) => {
      const text = body === undefined ? '' : JSON.stringify(body, jsonSafe);
      // A refused body is not read: the connection closes after the answer; the rest is discarded.
      const close = status === 413 ? { connection: 'close' } : {};
      res.writeHead(status, { 'content-type': 'application/json', ...close }).end(text);
      if (status === 413) req.resume();
    };
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://agent');
      } catch {
        throw new AgentError(AgentErrorCode.BadRequest, 'the request URL is malformed');
      }
      path = url.pathname.startsWith(API_PREFIX) ? url.pathname.slice(API_PREFIX.length) : url.pathname;
      const raw = await this.readBody(req);
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        throw new AgentError(AgentErrorCode.BadRequest, 'the request body is not JSON');
      }
      for (const r of this.routes) {
        const m = r.pattern.exec(path);
        if (!m || r.method !== method) continue;
        const out = await r.handler({ method, path, query: url.searchParams, body, params: m.slice(1).map(decode) });
        if (out instanceof Stream) {
          res.writeHead(200, { 'content-type': 'application/x-ndjson' });
          const stop = out.start((item) => res.write(`${JSON.stringify(item, jsonSafe)}\n`));
          req.socket.on('close', stop);
          return;
        }
        if (typeof out === 'string') return void res.writeHead(200, { 'content-type': 'text/plain' }).end(out);
        return send(method === 'PUT' ? 201 : 200, out);
      }
      throw new AgentError(AgentErrorCode.NoRoute, `no API route for ${method} ${url.pathname}`);
    } catch (e) {
      const err =
        e instanceof AgentError ? e : new AgentError(AgentErrorCode.Internal, (e as Error).message, { cause: e });
      const fields = { method, path: path.slice(0, 200), status: err.status, code: err.code, reason: err.message };
      if (err.status >= 500) this.o.log?.error(fields, 'API request failed');
      else this.o.log?.warn(fields, 'API request refused');
      if (res.headersSent) return void res.destroy();
      send(err.status, { code: err.code, message: err.message });
    }
  }
}

/** A path parameter, %-decoded; a malformed escape is the caller's mistake (400), not ours. */
function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new AgentError(
      AgentErrorCode.BadRequest,
      `malformed %-escape in the path: ${JSON.stringify(s.slice(0, 64))}`,
    );
  }
}

/** Datapath values may be bigints (counters, timestamps) or bytes: JSON gets strings and arrays. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Array.from(value);
  return value;
}
