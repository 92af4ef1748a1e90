// The HTTP server of the agent's REST API on its unix socket (`/v1`, upstream's paths): matches a
// request to its route (the table is routes.ts), answers JSON, streams NDJSON. Every error is a
// JSON body with a stable code and a message.
import { mkdirSync, rmSync } from 'node:fs';
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

export class ApiServer {
  private readonly routes: Route[] = [];
  private server?: http.Server;

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
  }

  close(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const path = url.pathname.startsWith(API_PREFIX) ? url.pathname.slice(API_PREFIX.length) : url.pathname;
    const send = (status: number, body: unknown) => {
      const text = body === undefined ? '' : JSON.stringify(body, jsonSafe);
      res.writeHead(status, { 'content-type': 'application/json' }).end(text);
    };
    try {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        throw new AgentError(AgentErrorCode.BadRequest, 'the request body is not JSON');
      }
      for (const r of this.routes) {
        const m = r.pattern.exec(path);
        if (!m || r.method !== req.method) continue;
        const out = await r.handler({
          method: req.method,
          path,
          query: url.searchParams,
          body,
          params: m.slice(1).map(decodeURIComponent),
        });
        if (out instanceof Stream) {
          res.writeHead(200, { 'content-type': 'application/x-ndjson' });
          const stop = out.start((item) => res.write(`${JSON.stringify(item, jsonSafe)}\n`));
          req.socket.on('close', stop);
          return;
        }
        if (typeof out === 'string') return void res.writeHead(200, { 'content-type': 'text/plain' }).end(out);
        return send(req.method === 'PUT' ? 201 : 200, out);
      }
      throw new AgentError(AgentErrorCode.NoRoute, `no API route for ${req.method} ${url.pathname}`);
    } catch (e) {
      const err =
        e instanceof AgentError ? e : new AgentError(AgentErrorCode.Internal, (e as Error).message, { cause: e });
      send(err.status, { code: err.code, message: err.message });
    }
  }
}

/** Datapath values may be bigints (counters, timestamps) or bytes: JSON gets strings and arrays. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Array.from(value);
  return value;
}
