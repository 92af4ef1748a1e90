// A small client for the agent's REST API over its unix socket (used by cilium-cni and
// cilium-dbg). Every failure is an AgentError: the agent's answer (AgentApiError, with the code and
// message of its body), no answer in time (AgentTimeoutError), or no connection (its own codes).
import http from 'node:http';
import { AgentApiError, AgentError, AgentErrorCode, AgentTimeoutError } from '../errors.js';
import {
  API_PREFIX,
  DEFAULT_SOCKET_PATH,
  type ApiErrorBody,
  type EndpointChangeRequest,
  type EndpointModel,
  type IpamResponse,
} from './types.js';

export interface AgentClientOptions {
  socketPath?: string;
  /** Per request (ms); a CNI ADD waits for the endpoint to be programmed, so keep it generous. */
  timeoutMs?: number;
}

export class AgentClient {
  readonly socketPath: string;
  private readonly timeoutMs: number;
  constructor(o: AgentClientOptions = {}) {
    this.socketPath = o.socketPath ?? DEFAULT_SOCKET_PATH;
    this.timeoutMs = o.timeoutMs ?? 30_000;
  }

  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path: API_PREFIX + path,
          timeout: this.timeoutMs,
          headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            const isJson = (res.headers['content-type'] ?? '').includes('json');
            let parsed: unknown = text;
            try {
              parsed = text && isJson ? (JSON.parse(text) as unknown) : text || undefined;
            } catch {
              parsed = { message: text.slice(0, 200) };
            }
            if ((res.statusCode ?? 500) >= 300) {
              const e = (parsed ?? {}) as Partial<ApiErrorBody>;
              reject(
                new AgentApiError(res.statusCode ?? 500, e.code, e.message ?? `${method} ${path}: ${res.statusCode}`),
              );
            } else resolve(parsed as T);
          });
        },
      );
      req.on('timeout', () =>
        req.destroy(
          new AgentTimeoutError(`agent API ${method} ${path}: no answer within ${this.timeoutMs} ms`, this.timeoutMs),
        ),
      );
      req.on('error', (e: NodeJS.ErrnoException) => reject(this.failure(e)));
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** A failed request as an AgentError (the socket error is its cause). */
  private failure(e: NodeJS.ErrnoException): AgentError {
    if (e instanceof AgentError) return e;
    if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED')
      return new AgentError(
        AgentErrorCode.Unreachable,
        `cannot reach cilium-agent at ${this.socketPath} (${e.code}): is the agent running on this node?`,
        { cause: e },
      );
    const lost = e.code === 'ECONNRESET' || e.code === 'EPIPE';
    return new AgentError(lost ? AgentErrorCode.ConnectionLost : AgentErrorCode.Request, e.message, { cause: e });
  }

  healthz(): Promise<{ status: string }> {
    return this.request('GET', '/healthz');
  }
  /** `container` (CNI_CONTAINERID) lets the container's DEL free this address if no endpoint follows. */
  ipamAllocate(owner: string, family: 'ipv4' | 'ipv6' = 'ipv4', container?: string): Promise<IpamResponse> {
    const c = container ? `&container=${encodeURIComponent(container)}` : '';
    return this.request('POST', `/ipam?family=${family}&owner=${encodeURIComponent(owner)}${c}`);
  }
  /** Frees an address that no endpoint uses; only its owner may. */
  ipamRelease(ip: string, owner: string): Promise<void> {
    return this.request('DELETE', `/ipam/${encodeURIComponent(ip)}?owner=${encodeURIComponent(owner)}`);
  }
  /** Frees every address `owner` (and `container`) holds that never became an endpoint (CNI DEL). */
  ipamReleaseUnused(owner: string, container?: string): Promise<{ released: string[] }> {
    const c = container ? `&container=${encodeURIComponent(container)}` : '';
    return this.request('DELETE', `/ipam?owner=${encodeURIComponent(owner)}${c}`);
  }
  endpointCreate(id: string, req: EndpointChangeRequest): Promise<EndpointModel> {
    return this.request('PUT', `/endpoint/${encodeURIComponent(id)}`, req);
  }
  endpointDelete(id: string): Promise<void> {
    return this.request('DELETE', `/endpoint/${encodeURIComponent(id)}`);
  }
  endpointGet(id: string): Promise<EndpointModel> {
    return this.request('GET', `/endpoint/${encodeURIComponent(id)}`);
  }
  endpointList(): Promise<EndpointModel[]> {
    return this.request('GET', '/endpoint');
  }
}
