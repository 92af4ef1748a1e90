// A stand-in for the cilium-agent's REST API on a unix socket, for tests that exercise the CNI
// plugin and the devcluster's nodes without the real agent: IPAM from one /24, endpoints kept in a
// map, DELETE /endpoint releasing the address as upstream's agent does. Failure switches let tests
// provoke the plugin's rollback. Its answers (status and AGENT_ERR_* code) are the real server's:
// test/controllers/agent/api-contract.test.ts runs the same requests against both.
import http from 'node:http';
import { rmSync } from 'node:fs';
import type {
  ApiErrorBody,
  EndpointChangeRequest,
  EndpointModel,
  IpamResponse,
} from '../../controllers/agent/api/types.js';
import { AgentError, AgentErrorCode } from '../../controllers/agent/errors.js';

export interface FakeAgentOptions {
  socketPath: string;
  /** e.g. 10.200.1.0/24: .1 is the gateway, pods get .2 upwards. */
  cidr: string;
}

export class FakeAgent {
  readonly allocated = new Map<string, string>(); // ip → owner
  private readonly containers = new Map<string, string>(); // ip → container id
  readonly endpoints = new Map<string, EndpointModel & { req: EndpointChangeRequest }>();
  readonly calls: string[] = [];
  failEndpointCreate = false;
  failIpam = false;
  /** DELETE /endpoint answers 500 (the agent failing mid-DEL). */
  failEndpointDelete = false;
  private server?: http.Server;
  private nextId = 1;
  readonly gateway: string;
  private readonly base: string;
  private readonly last: number;

  constructor(readonly o: FakeAgentOptions) {
    this.base = o.cidr.split('/')[0]!.split('.').slice(0, 3).join('.');
    this.gateway = `${this.base}.1`;
    // The broadcast address of a prefix of /24 or longer (the last octet's range).
    this.last = 2 ** (32 - Math.max(24, Number(o.cidr.split('/')[1] ?? 24))) - 1;
  }

  async start(): Promise<void> {
    rmSync(this.o.socketPath, { force: true });
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const [status, out] = this.handle(req.method ?? 'GET', req.url ?? '/', body);
        this.calls.push(`${req.method} ${safeDecode(req.url ?? '')} ${status}`);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(out === undefined ? '' : JSON.stringify(out));
      });
    });
    await new Promise<void>((r) => this.server!.listen(this.o.socketPath, r));
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections();
    rmSync(this.o.socketPath, { force: true });
  }

  private allocate(owner: string, container?: string): string | undefined {
    for (let i = 2; i < this.last; i++) {
      const ip = `${this.base}.${i}`;
      if (!this.allocated.has(ip)) {
        this.allocated.set(ip, owner);
        if (container) this.containers.set(ip, container);
        return ip;
      }
    }
    return undefined;
  }

  private release(ip: string): void {
    this.allocated.delete(ip);
    this.containers.delete(ip);
  }

  /** An error answer as the real server words it: its status, code and a message. */
  private static refuse(code: AgentErrorCode, message: string): [number, ApiErrorBody] {
    return [new AgentError(code, message).status, { code, message }];
  }

  private handle(method: string, rawUrl: string, body: string): [number, unknown] {
    const refuse = FakeAgent.refuse;
    const url = new URL(rawUrl, 'http://agent');
    const path = url.pathname;
    let json: unknown;
    try {
      json = body ? JSON.parse(body) : undefined;
    } catch {
      return refuse(AgentErrorCode.BadRequest, 'the request body is not JSON');
    }
    if (method === 'GET' && path === '/v1/healthz') return [200, { status: 'ok' }];
    const owner = url.searchParams.get('owner');
    const container = url.searchParams.get('container') ?? undefined;
    if (method === 'POST' && path === '/v1/ipam') {
      if (!owner) return refuse(AgentErrorCode.BadRequest, 'owner is required');
      const ip = this.failIpam ? undefined : this.allocate(owner, container);
      if (!ip) return refuse(AgentErrorCode.IpamExhausted, `the pod CIDR ${this.o.cidr} has no free address`);
      const r: IpamResponse = {
        address: { ipv4: ip },
        ipv4: { ip, gateway: this.gateway, cidrs: [this.o.cidr] },
        'host-addressing': { ipv4: { ip: this.gateway, enabled: true } },
      };
      return [200, r];
    }
    if (method === 'DELETE' && path === '/v1/ipam') {
      if (!owner) return refuse(AgentErrorCode.BadRequest, 'owner is required');
      const inUse = new Set([...this.endpoints.values()].map((e) => e.addressing.ipv4));
      const released = [...this.allocated]
        .filter(([ip, o]) => o === owner && !inUse.has(ip) && (!container || this.containers.get(ip) === container))
        .map(([ip]) => ip);
      for (const ip of released) this.release(ip);
      return [200, { released }];
    }
    const ipam = /^\/v1\/ipam\/([^/]+)$/.exec(path);
    if (method === 'DELETE' && ipam) {
      let ip: string;
      try {
        ip = decodeURIComponent(ipam[1]!);
      } catch {
        return refuse(AgentErrorCode.BadRequest, 'malformed %-escape in the path');
      }
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return refuse(AgentErrorCode.BadRequest, 'the address must be IPv4');
      if (!owner) return refuse(AgentErrorCode.BadRequest, 'owner is required');
      const held = this.allocated.get(ip);
      if (held === undefined) return refuse(AgentErrorCode.NotFound, `IPAM allocation ${ip} not found`);
      if (held !== owner) return refuse(AgentErrorCode.IpNotOwned, `${ip} is not allocated to ${owner}`);
      this.release(ip);
      return [200, {}];
    }
    if (method === 'GET' && path === '/v1/endpoint')
      return [200, [...this.endpoints.values()].map(({ req: _r, ...m }) => m)];
    const ep = /^\/v1\/endpoint\/([^/]+)$/.exec(path);
    if (ep) {
      let raw: string;
      try {
        raw = decodeURIComponent(ep[1]!);
      } catch {
        return refuse(AgentErrorCode.BadRequest, 'malformed %-escape in the path');
      }
      const key = /^\d+$/.test(raw) ? [...this.endpoints.entries()].find(([, e]) => String(e.id) === raw)?.[0] : raw;
      const found = key !== undefined ? this.endpoints.get(key) : undefined;
      if (method === 'GET') return found ? [200, found] : refuse(AgentErrorCode.NotFound, `endpoint ${raw} not found`);
      if (method === 'DELETE') {
        if (this.failEndpointDelete)
          return refuse(AgentErrorCode.Internal, 'endpoint removal failed: injected by the test');
        if (!found || key === undefined) return refuse(AgentErrorCode.NotFound, `endpoint ${raw} not found`);
        this.endpoints.delete(key);
        if (found.addressing.ipv4) this.release(found.addressing.ipv4);
        return [200, {}];
      }
      if (method === 'PUT') {
        const req = json as EndpointChangeRequest | undefined;
        if (!req || typeof req !== 'object' || Array.isArray(req) || typeof req.addressing?.ipv4 !== 'string')
          return refuse(AgentErrorCode.BadRequest, 'PUT /endpoint needs an EndpointChangeRequest object');
        const ip = req.addressing.ipv4;
        const held = this.allocated.get(ip);
        const pod = `${req['k8s-namespace']}/${req['k8s-pod-name']}`;
        if (held === undefined || (held !== pod && held !== req['container-id']))
          return refuse(AgentErrorCode.IpNotOwned, `${ip} is not allocated to ${pod}`);
        if (this.failEndpointCreate)
          return refuse(AgentErrorCode.Datapath, 'regeneration failed: injected by the test');
        const m: EndpointModel & { req: EndpointChangeRequest } = {
          id: this.nextId++,
          'container-id': req['container-id'],
          'interface-name': req['interface-name'],
          'k8s-pod-name': req['k8s-pod-name'],
          'k8s-namespace': req['k8s-namespace'],
          addressing: req.addressing,
          state: 'ready',
          req,
        };
        this.endpoints.set(raw, m);
        return [201, m];
      }
    }
    return refuse(AgentErrorCode.NoRoute, `no API route for ${method} ${path}`);
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
