// The Hubble server embedded in every agent: observer.Observer and peer.Peer over gRPC on a unix
// socket and/or TCP (upstream: /var/run/cilium/hubble.sock and :4244). The agent feeds it with
// `observe(event)` and tells it the cluster's nodes with `setPeers()`.
import * as grpc from '@grpc/grpc-js';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { DatapathEvent } from '../datapath/events.js';
import { HubbleError, HubbleErrorCode, toGrpcError } from './errors.js';
import { HubbleObserver, type AgentEventRecord, type GetAgentEventsRequest } from './observer.js';
import type { HubbleOptions, ListenOptions } from './options.js';
import { healthHandlers } from './health.js';
import { healthService, observerService, peerService } from './proto.js';
import { writeStream } from './stream.js';
import { TlsFileWatcher, serverTlsCredentials } from './tls.js';
import type { ChangeNotification, GetFlowsRequest, LostEventSource } from './types.js';

export interface PeerInfo {
  name: string;
  /** "10.0.0.1:4244" */
  address: string;
  /** the name its certificate carries, when it serves TLS (`<node>.<cluster>.hubble-grpc.cilium.io`) */
  tls?: { server_name: string };
}

export class HubbleServer {
  readonly observer: HubbleObserver;
  private server?: grpc.Server;
  private readonly peers = new Map<string, PeerInfo>();
  private readonly peerStreams = new Set<grpc.ServerWritableStream<unknown, ChangeNotification>>();
  private unixPath?: string;
  private metricsServer?: HttpServer;
  /** the TCP listener's certificate files, re-read while serving */
  tlsWatcher?: TlsFileWatcher;
  /** the metrics address actually bound after listen() */
  metricsAddress?: string;
  /** the TCP address actually bound ("127.0.0.1:41234") after listen() */
  tcpAddress?: string;

  constructor(opts: Partial<HubbleOptions> & Pick<HubbleOptions, 'nodeName' | 'resolver'>) {
    this.observer = new HubbleObserver(opts);
  }

  get metricsRegistry() {
    return this.observer.metrics.registry;
  }

  observe(e: DatapathEvent): void {
    this.observer.observe(e);
  }

  observeLost(source: LostEventSource, n: number, cpu?: number): void {
    this.observer.observeLost(source, n, cpu);
  }

  /** An agent event for GetAgentEvents (ENDPOINT_CREATED, POLICY_UPDATED, …, flow.AgentEvent shape). */
  agentEvent(e: AgentEventRecord): void {
    this.observer.agentEvent(e);
  }

  /** Replaces the set of known peers; streams PEER_ADDED / PEER_UPDATED / PEER_DELETED to Notify callers. */
  setPeers(peers: readonly PeerInfo[]): void {
    const next = new Map(peers.map((p) => [p.name, p]));
    const changes: ChangeNotification[] = [];
    for (const [name, old] of this.peers)
      if (!next.has(name)) changes.push({ name, address: old.address, type: 'PEER_DELETED' });
    for (const [name, p] of next) {
      const old = this.peers.get(name);
      if (!old) changes.push({ ...p, type: 'PEER_ADDED' });
      else if (old.address !== p.address || old.tls?.server_name !== p.tls?.server_name)
        changes.push({ ...p, type: 'PEER_UPDATED' });
    }
    this.peers.clear();
    for (const [k, v] of next) this.peers.set(k, v);
    for (const s of this.peerStreams) for (const c of changes) s.write(c);
  }

  async listen(opts: ListenOptions): Promise<void> {
    if (!opts.unixSocket && !opts.tcp)
      throw new HubbleError(HubbleErrorCode.BadAddress, 'listen needs a unixSocket, a tcp address or both');
    const server = new grpc.Server();
    server.addService(observerService, this.observerHandlers());
    server.addService(healthService, healthHandlers());
    server.addService(peerService, {
      Notify: (call: grpc.ServerWritableStream<unknown, ChangeNotification>) => {
        for (const p of this.peers.values()) call.write({ ...p, type: 'PEER_ADDED' });
        this.peerStreams.add(call);
        call.on('cancelled', () => this.peerStreams.delete(call));
        call.on('close', () => this.peerStreams.delete(call));
      },
    });
    const bind = (addr: string, creds = grpc.ServerCredentials.createInsecure()) =>
      new Promise<number>((resolve, reject) =>
        server.bindAsync(addr, creds, (err, port) =>
          err
            ? reject(
                new HubbleError(HubbleErrorCode.Listen, `cannot listen on ${addr}: ${err.message}`, { cause: err }),
              )
            : resolve(port),
        ),
      );
    if (opts.unixSocket) {
      // a socket file left by a crashed agent would make bind fail; anything else is not ours to remove
      if (existsSync(opts.unixSocket) && lstatSync(opts.unixSocket).isSocket()) unlinkSync(opts.unixSocket);
      await bind(`unix:${opts.unixSocket}`);
      this.unixPath = opts.unixSocket;
    }
    if (opts.tcp) {
      const [host, port] = splitHostPort(opts.tcp);
      // mTLS on TCP only: the unix socket is reachable by local users the file mode allows (upstream too)
      if (opts.tls) this.tlsWatcher = new TlsFileWatcher(opts.tls);
      const bound = await bind(`${host}:${port}`, this.tlsWatcher ? serverTlsCredentials(this.tlsWatcher) : undefined);
      this.tcpAddress = `${host === '0.0.0.0' ? '127.0.0.1' : host}:${bound}`;
    }
    this.server = server;
    if (opts.metrics) await this.serveMetrics(opts.metrics);
  }

  private async serveMetrics(addr: string): Promise<void> {
    const [host, port] = splitHostPort(addr);
    const registry = this.metricsRegistry;
    const http = createServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404).end('not found\n');
        return;
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (e: Error) => res.writeHead(500).end(`${e.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', (e) =>
        reject(new HubbleError(HubbleErrorCode.Listen, `cannot serve metrics on ${addr}: ${e.message}`, { cause: e })),
      );
      http.listen(port, host, () => resolve());
    });
    const a = http.address();
    this.metricsAddress = typeof a === 'object' && a ? `${host === '0.0.0.0' ? '127.0.0.1' : host}:${a.port}` : addr;
    this.metricsServer = http;
  }

  private observerHandlers(): grpc.UntypedServiceImplementation {
    const obs = this.observer;
    const getFlows: grpc.handleServerStreamingCall<GetFlowsRequest, unknown> = (call) =>
      void writeStream(
        call,
        (signal) => obs.getFlows(call.request, signal),
        (r) => obs.frame(r),
      );
    const getAgentEvents: grpc.handleServerStreamingCall<GetAgentEventsRequest, unknown> = (call) =>
      void writeStream(call, (signal) => obs.getAgentEvents(call.request, signal));
    // no debug events in cilium-ts's datapath: the stream ends empty, as upstream's without debug mode
    const getDebugEvents: grpc.handleServerStreamingCall<unknown, unknown> = (call) => call.end();
    return {
      GetFlows: getFlows,
      GetAgentEvents: getAgentEvents,
      GetDebugEvents: getDebugEvents,
      ServerStatus: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
        try {
          cb(null, { ...obs.status(), num_connected_nodes: { value: 1 }, num_unavailable_nodes: { value: 0 } });
        } catch (e) {
          cb(toGrpcError(e));
        }
      },
      GetNodes: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
        const s = obs.status();
        cb(null, {
          nodes: [
            {
              name: obs.options.nodeName,
              version: s.version,
              address: this.tcpAddress ?? this.unixPath ?? '',
              state: 'NODE_CONNECTED',
              uptime_ns: s.uptime_ns,
              num_flows: s.num_flows,
              max_flows: s.max_flows,
              seen_flows: s.seen_flows,
            },
          ],
        });
      },
      GetNamespaces: (_call: unknown, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, { namespaces: obs.namespacesSeen() }),
    };
  }

  async close(): Promise<void> {
    this.observer.close();
    this.tlsWatcher?.close();
    for (const s of this.peerStreams) s.end();
    this.peerStreams.clear();
    const server = this.server;
    this.server = undefined;
    if (server) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    if (this.unixPath && existsSync(this.unixPath)) unlinkSync(this.unixPath);
    const http = this.metricsServer;
    this.metricsServer = undefined;
    if (http) await new Promise<void>((resolve) => http.close(() => resolve()));
  }
}

/** ":4244" → ["0.0.0.0", 4244]; "[::1]:4244" → ["[::1]", 4244]. */
export function splitHostPort(addr: string): [string, number] {
  const i = addr.lastIndexOf(':');
  const port = Number(addr.slice(i + 1));
  if (i < 0 || !/^\d+$/.test(addr.slice(i + 1)) || port > 65535)
    throw new HubbleError(HubbleErrorCode.BadAddress, `invalid address "${addr}" (want host:port or :port)`);
  return [addr.slice(0, i) || '0.0.0.0', port];
}
