// The agent's real REST server (ApiServer + the route table) over a real HostIpam, endpoint
// manager and policy hub on the simulated datapath, for tests that drive the API from outside:
// its failure paths, the contract with the CNI tests' stand-in, and the API fuzzer. Only the
// Kubernetes side is absent: no pod exists (fetching one answers 404).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { mountRoutes, type AgentApiContext } from '../../../controllers/agent/api/routes.js';
import { ApiServer, type ApiServerOptions } from '../../../controllers/agent/api/server.js';
import { EndpointManager, type EndpointManagerDeps } from '../../../controllers/agent/endpoint-manager.js';
import { HostIpam } from '../../../controllers/agent/ipam.js';
import { PolicyHub } from '../../../controllers/agent/policy-hub.js';
import { apiErrorFromStatus } from '../../../controllers/framework/errors.js';
import { SimDatapath } from '../../../datapath/sim.js';

export interface LogLine {
  level: 'warn' | 'info' | 'error';
  fields: Record<string, unknown>;
  msg: string;
}

export interface RealApi {
  socketPath: string;
  ipam: HostIpam;
  endpoints: EndpointManager;
  logs: LogLine[];
  close(): Promise<void>;
}

/** A started server on a fresh socket; `cidr` is the node's pod CIDR; `extra` adds optional parts of the context. */
export async function startRealApi(
  cidr: string,
  o: Omit<ApiServerOptions, 'log'> = {},
  extra: Partial<AgentApiContext> = {},
): Promise<RealApi> {
  const dir = mkdtempSync(join(tmpdir(), 'kts-agent-api-'));
  const logs: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (fields: Record<string, unknown>, msg: string): void =>
      void logs.push({ level, fields, msg });
  const log = { warn: at('warn'), info: at('info'), error: at('error') };
  const silent = pino({ level: 'silent' });
  const datapath = new SimDatapath();
  const ipam = new HostIpam();
  ipam.setCidr(cidr);
  const hub = new PolicyHub(datapath, {
    enforcement: 'default',
    clusterName: 'default',
    log: silent,
    onCidrIdentities: () => undefined,
  });
  const noPods = { get: () => undefined, list: () => [] };
  const endpoints = new EndpointManager({
    client: {
      get: async () => {
        throw apiErrorFromStatus(404, { reason: 'NotFound' }, 'get pod');
      },
    },
    datapath,
    hub,
    ipam,
    identities: {},
    pods: noPods,
    namespaces: noPods,
    log: { ...silent, ...log },
    clusterName: 'default',
    nodeName: 'node-a',
    nodeIp: () => '127.0.0.1',
    stateDir: join(dir, 'endpoints'),
    identityChangeGracePeriodMs: 0,
    onChange: () => undefined,
  } as unknown as EndpointManagerDeps);
  const api = new ApiServer({ ...o, log });
  mountRoutes(api, {
    nodeName: 'node-a',
    clusterName: 'default',
    enforcement: 'default',
    ready: Promise.resolve(),
    isReady: () => true,
    ipam,
    waitForPodCidr: async () => undefined,
    endpoints,
    identities: noPods as never,
    hub,
    datapath,
    metrics: async () => '',
    loadBalancer: { dump: () => [], names: () => new Map() },
    ...extra,
  });
  const socketPath = join(dir, 'cilium.sock');
  await api.listen(socketPath);
  return {
    socketPath,
    ipam,
    endpoints,
    logs,
    close: async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One raw request on a unix socket: status, and the body parsed when it is JSON. */
export async function rawRequest(
  socketPath: string,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: { code?: string; message?: string } & Record<string, unknown> }> {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    // A body is always framed (Node sends a GET's body unframed otherwise, and the server's HTTP
    // parser then reads it as a malformed next request); chunked when the caller says so.
    const framed =
      body === undefined || headers['transfer-encoding']
        ? headers
        : { 'content-length': String(Buffer.byteLength(body)), ...headers };
    const req = http.request({ socketPath, method, path, headers: framed, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let parsed: unknown = {};
        try {
          parsed = text ? JSON.parse(text) : {};
        } catch {
          parsed = { text };
        }
        resolve({ status: res.statusCode ?? 0, body: parsed as never });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
