// A stand-in for the cilium-agent's REST API on a unix socket, for tests that exercise the CNI
// plugin and the devcluster's nodes without the real agent: IPAM from one /24, endpoints kept in a
// map, DELETE /endpoint releasing the address as upstream's agent does. Failure switches let tests
// provoke the plugin's rollback.
import http from 'node:http';
import { rmSync } from 'node:fs';
import type { EndpointChangeRequest, EndpointModel, IpamResponse } from '../../controllers/agent/api/types.js';

export interface FakeAgentOptions {
  socketPath: string;
  /** e.g. 10.200.1.0/24: .1 is the gateway, pods get .2 upwards. */
  cidr: string;
}

export class FakeAgent {
  readonly allocated = new Map<string, string>(); // ip → owner
  readonly endpoints = new Map<string, EndpointModel & { req: EndpointChangeRequest }>();
  readonly calls: string[] = [];
  failEndpointCreate = false;
  failIpam = false;
  private server?: http.Server;
  private nextId = 1;
  readonly gateway: string;
  private readonly base: string;

  constructor(readonly o: FakeAgentOptions) {
    this.base = o.cidr.split('/')[0]!.split('.').slice(0, 3).join('.');
    this.gateway = `${this.base}.1`;
  }

  async start(): Promise<void> {
    rmSync(this.o.socketPath, { force: true });
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const [status, out] = this.handle(req.method ?? 'GET', req.url ?? '/', body);
        this.calls.push(`${req.method} ${decodeURIComponent(req.url ?? '')} ${status}`);
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

  private allocate(owner: string): string | undefined {
    for (let i = 2; i < 255; i++) {
      const ip = `${this.base}.${i}`;
      if (!this.allocated.has(ip)) {
        this.allocated.set(ip, owner);
        return ip;
      }
    }
    return undefined;
  }

  private handle(method: string, rawUrl: string, body: string): [number, unknown] {
    const url = new URL(rawUrl, 'http://agent');
    const path = url.pathname;
    if (method === 'GET' && path === '/v1/healthz') return [200, { status: 'ok' }];
    if (method === 'POST' && path === '/v1/ipam') {
      if (this.failIpam) return [500, { code: 'IPAM_EXHAUSTED', message: 'no address left in 10.0.0.0/32' }];
      const ip = this.allocate(url.searchParams.get('owner') ?? '');
      if (!ip) return [500, { code: 'IPAM_EXHAUSTED', message: `no address left in ${this.o.cidr}` }];
      const r: IpamResponse = {
        address: { ipv4: ip },
        ipv4: { ip, gateway: this.gateway, cidrs: [this.o.cidr] },
        'host-addressing': { ipv4: { ip: this.gateway, enabled: true } },
      };
      return [201, r];
    }
    const ipam = /^\/v1\/ipam\/(.+)$/.exec(path);
    if (method === 'DELETE' && ipam) {
      const ip = decodeURIComponent(ipam[1]!);
      return this.allocated.delete(ip)
        ? [200, undefined]
        : [404, { code: 'IPAM_NOT_FOUND', message: `${ip} is not allocated` }];
    }
    if (method === 'GET' && path === '/v1/endpoint')
      return [200, [...this.endpoints.values()].map(({ req: _r, ...m }) => m)];
    const ep = /^\/v1\/endpoint\/(.+)$/.exec(path);
    if (ep) {
      const raw = decodeURIComponent(ep[1]!);
      const key = /^\d+$/.test(raw) ? [...this.endpoints.entries()].find(([, e]) => String(e.id) === raw)?.[0] : raw;
      const found = key !== undefined ? this.endpoints.get(key) : undefined;
      if (method === 'GET')
        return found ? [200, found] : [404, { code: 'ENDPOINT_NOT_FOUND', message: `endpoint ${raw} not found` }];
      if (method === 'DELETE') {
        if (!found || key === undefined)
          return [404, { code: 'ENDPOINT_NOT_FOUND', message: `endpoint ${raw} not found` }];
        this.endpoints.delete(key);
        if (found.addressing.ipv4) this.allocated.delete(found.addressing.ipv4);
        return [200, undefined];
      }
      if (method === 'PUT') {
        if (this.failEndpointCreate)
          return [500, { code: 'ENDPOINT_CREATE_FAILED', message: 'regeneration failed: injected by the test' }];
        const req = JSON.parse(body) as EndpointChangeRequest;
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
    return [404, { code: 'NOT_FOUND', message: `${method} ${path}` }];
  }
}
