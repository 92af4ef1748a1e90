// hubble-relay: learns every node's Hubble server from the Peer service (and/or a static list),
// fans GetFlows out to all of them, merges the streams by time through a bounded sort buffer,
// and reports nodes it cannot reach (NodeStatusEvent in the stream, ServerStatus, GetNodes)
// instead of failing the whole request. Channels reconnect by themselves with exponential backoff
// (grpc-js's, bounded by our options); the Peer stream is re-opened with the same backoff.
import * as grpc from '@grpc/grpc-js';
import { HubbleClient } from './client.js';
import { HubbleError, HubbleErrorCode, toGrpcError } from './errors.js';
import { defaultRelayOptions, type ListenOptions, type RelayOptions } from './options.js';
import { healthHandlers } from './health.js';
import { healthService } from './proto.js';
import { frameAll, rawResponse, type RawResponse } from './wire.js';
import { observerService, serializeGetFlowsResponse } from './proto.js';
import { splitHostPort } from './server.js';
import { SortBuffer } from './sort-buffer.js';
import { TlsFileWatcher, clientTlsCredentials, hubbleServerName, serverNameOptions } from './tls.js';
import { BATCH_BYTES, writeStream } from './stream.js';
import type {
  ChangeNotification,
  GetFlowsRequest,
  GetFlowsResponse,
  LostEventSource,
  Node,
  NodeState,
  ServerStatusResponse,
} from './types.js';
import { byteOrder, timestampFromMs, timestampToNs } from './types.js';

const decodeResponse = observerService.GetFlows!.responseDeserialize as (b: Buffer) => GetFlowsResponse;

interface PeerConn {
  name: string;
  address: string;
  serverName?: string;
  client: HubbleClient;
  state: NodeState;
}

export class HubbleRelay {
  readonly options: RelayOptions;
  private readonly peers = new Map<string, PeerConn>();
  private server?: grpc.Server;
  private peerSource?: HubbleClient;
  private peerCall?: grpc.ClientReadableStream<ChangeNotification>;
  private peerRetry?: NodeJS.Timeout;
  private backoffMs: number;
  private closed = false;
  private readonly startedMs = Date.now();
  tcpAddress?: string;
  /** our client certificate and the nodes' CA, re-read while relay runs (undefined: plaintext) */
  private readonly tls?: { watcher: TlsFileWatcher; credentials: grpc.ChannelCredentials };

  constructor(opts: Partial<RelayOptions> = {}) {
    this.options = { ...defaultRelayOptions, ...opts };
    this.backoffMs = this.options.backoffMinMs;
    if (this.options.tls) {
      const watcher = new TlsFileWatcher(this.options.tls);
      this.tls = { watcher, credentials: clientTlsCredentials(watcher) };
    }
    for (const p of this.options.staticPeers) this.upsertPeer(p.name, p.address);
    if (this.options.peerService) this.watchPeers();
  }

  /** Nodes known now, with their last known state. */
  nodes(): { name: string; address: string; state: NodeState }[] {
    return [...this.peers.values()].map(({ name, address, state }) => ({ name, address, state }));
  }

  /**
   * A client for a Hubble server: over TLS (unless relay runs plaintext or the address is a unix
   * socket, which upstream serves plain), checking that the server's certificate names `serverName`.
   */
  private client(address: string, serverName: string, options: grpc.ChannelOptions = {}): HubbleClient {
    if (!this.tls || /^unix:/.test(address) || address.startsWith('/')) return new HubbleClient(address, options);
    return new HubbleClient(address, { ...options, ...serverNameOptions(serverName) }, this.tls.credentials);
  }

  private upsertPeer(name: string, address: string, serverName?: string): void {
    const old = this.peers.get(name);
    if (old?.address === address && old.serverName === serverName) return;
    old?.client.close();
    // the name from the Peer notification; else the one upstream derives from node and cluster
    const client = this.client(address, serverName || hubbleServerName(name, this.options.clusterName), {
      'grpc.initial_reconnect_backoff_ms': this.options.backoffMinMs,
      'grpc.min_reconnect_backoff_ms': this.options.backoffMinMs,
      'grpc.max_reconnect_backoff_ms': this.options.backoffMaxMs,
    });
    this.peers.set(name, { name, address, serverName, client, state: 'UNKNOWN_NODE_STATE' });
  }

  private removePeer(name: string): void {
    this.peers.get(name)?.client.close();
    this.peers.delete(name);
  }

  private watchPeers(): void {
    if (this.closed) return;
    // the hubble-peer Service lands on some agent: any node's name of the cluster fits its certificate
    this.peerSource ??= this.client(
      this.options.peerService!,
      hubbleServerName('hubble-peer', this.options.clusterName),
    );
    const call = this.peerSource.peerNotifyCall();
    this.peerCall = call;
    call.on('data', (c: ChangeNotification) => {
      this.backoffMs = this.options.backoffMinMs;
      if (c.type === 'PEER_DELETED') this.removePeer(c.name);
      else if (c.type === 'PEER_ADDED' || c.type === 'PEER_UPDATED')
        this.upsertPeer(c.name, c.address, c.tls?.server_name);
    });
    const retry = (): void => {
      if (this.closed || this.peerCall !== call) return;
      this.peerCall = undefined;
      this.peerRetry = setTimeout(() => this.watchPeers(), this.backoffMs);
      this.backoffMs = Math.min(this.options.backoffMaxMs, this.backoffMs * 2);
    };
    call.on('error', retry);
    call.on('end', retry);
  }

  /** Resolves each peer's reachability now (bounded by callTimeoutMs), updating its state. */
  private async probe(): Promise<{ up: PeerConn[]; down: PeerConn[] }> {
    const peers = [...this.peers.values()];
    const ok = await Promise.all(
      peers.map((p) => {
        // a channel that already knows answers at once; only an idle or connecting one is waited for
        const state = p.client.observer.getChannel().getConnectivityState(true);
        if (state === grpc.connectivityState.READY) return true;
        if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN)
          return false;
        return new Promise<boolean>((resolve) =>
          p.client.observer.waitForReady(Date.now() + this.options.callTimeoutMs, (err) => resolve(!err)),
        );
      }),
    );
    peers.forEach((p, i) => (p.state = ok[i] ? 'NODE_CONNECTED' : 'NODE_UNAVAILABLE'));
    return { up: peers.filter((_, i) => ok[i]), down: peers.filter((_, i) => !ok[i]) };
  }

  /** GetFlows across every reachable node, merged by time; unreachable nodes are reported in-stream. */
  async *getFlows(req: GetFlowsRequest, signal?: AbortSignal): AsyncGenerator<GetFlowsResponse> {
    for await (const r of this.getFlowsRaw(req, signal)) yield decodeResponse(r.bytes);
  }

  /**
   * getFlows() with each response as bytes: the nodes' are forwarded as they came (only their
   * time is read, to merge), so relay neither decodes nor encodes a flow.
   */
  async *getFlowsRaw(req: GetFlowsRequest, signal?: AbortSignal): AsyncGenerator<RawResponse> {
    for await (const batch of this.getFlowsBatches(req, signal)) yield* batch;
  }

  /**
   * getFlowsRaw() a batch at a time: whatever the merge released since the consumer last asked.
   * relay's own server frames each batch into one buffer, so a flow costs no turn of an async
   * generator and no buffer of its own on the way out.
   */
  async *getFlowsBatches(req: GetFlowsRequest, signal?: AbortSignal): AsyncGenerator<RawResponse[]> {
    const { up, down } = await this.probe();
    const status = (node_status: NonNullable<GetFlowsResponse['node_status']>): RawResponse => {
      const time = timestampFromMs(Date.now());
      return { ns: timestampToNs(time), bytes: serializeGetFlowsResponse({ node_status, time }) };
    };
    if (up.length) yield [status({ state_change: 'NODE_CONNECTED', node_names: up.map((p) => p.name) })];
    if (down.length) yield [status({ state_change: 'NODE_UNAVAILABLE', node_names: down.map((p) => p.name) })];
    const buffer = new SortBuffer<RawResponse>(this.options.sortBufferSize, (r) => r.ns);
    const drainMs = this.options.sortBufferDrainMs;
    const ready: RawResponse[] = [];
    let wake: (() => void) | undefined;
    const notify = (): void => {
      wake?.();
      wake = undefined;
    };
    let stopping = false;
    /** Streams running now, by node. */
    const live = new Map<string, grpc.ClientReadableStream<Buffer>>();
    /** Nodes that refused this request (not a lost connection): not retried for it. */
    const refused = new Set<string>();
    const start = (p: PeerConn, r: GetFlowsRequest): void => {
      const call = p.client.getFlowsRawCall(r);
      live.set(p.name, call);
      call.on('data', (bytes: Buffer) => {
        let resp: RawResponse;
        try {
          resp = rawResponse(bytes);
        } catch (e) {
          call.cancel();
          finish(
            Object.assign(new Error(`bad response from ${p.name}: ${(e as Error).message}`), {
              code: grpc.status.INTERNAL,
              details: `bad response from ${p.name}: ${(e as Error).message}`,
              metadata: new grpc.Metadata(),
            }),
          );
          return;
        }
        for (const r of buffer.push(resp, Date.now(), p.name)) ready.push(r);
        for (const r of buffer.drainSettled(live.keys())) ready.push(r);
        if (ready.length) notify();
        if (req.follow) scheduleDrain();
      });
      const finish = (err?: grpc.ServiceError): void => {
        if (live.get(p.name) !== call) return;
        live.delete(p.name);
        buffer.forget(p.name);
        if (err && err.code !== grpc.status.UNAVAILABLE && err.code !== grpc.status.CANCELLED) refused.add(p.name);
        // a node going away ends a follow stream with an error or, on server shutdown, a plain end
        if (!stopping && (err || req.follow)) {
          p.state = 'NODE_UNAVAILABLE';
          ready.push(
            ...buffer.drainAll(),
            status({
              state_change: 'NODE_UNAVAILABLE',
              node_names: [p.name],
              message: err ? err.details || err.message : 'stream ended',
            }),
          );
        }
        notify();
      };
      call.on('error', finish);
      call.on('end', () => finish());
    };
    for (const p of up) start(p, req);
    // While following, nodes that come back (or join) are picked up: their new flows from then on
    // (upstream hubble-relay handles peers joining long-running requests the same way).
    let checking = false;
    const rejoin = async (): Promise<void> => {
      if (checking || stopping) return;
      checking = true;
      try {
        const back = (await this.probe()).up.filter((p) => !live.has(p.name) && !refused.has(p.name));
        if (stopping || back.length === 0) return;
        ready.push(status({ state_change: 'NODE_CONNECTED', node_names: back.map((p) => p.name) }));
        for (const p of back) start(p, { ...req, number: undefined, first: undefined, since: undefined });
        notify();
      } finally {
        checking = false;
      }
    };
    const rejoinTimer =
      req.follow && up.length > 0 ? setInterval(() => void rejoin(), this.options.followRejoinMs) : undefined;
    // while following, a flow a quiet node holds back leaves when its drain timeout is up
    let timer: NodeJS.Timeout | undefined;
    function scheduleDrain(): void {
      if (timer || stopping) return;
      const due = buffer.nextDueMs(drainMs);
      if (due === undefined) return;
      timer = setTimeout(
        () => {
          timer = undefined;
          const out = buffer.drainOlderThan(Date.now(), drainMs);
          if (out.length) {
            ready.push(...out);
            notify();
          }
          scheduleDrain();
        },
        Math.max(0, due - Date.now()),
      );
    }
    const onAbort = (): void => notify();
    signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        // taken as a batch (shift() on a long array is O(n) per item): new items go to a fresh array
        if (ready.length) {
          yield ready.splice(0);
          continue;
        }
        if (signal?.aborted) return;
        if (live.size === 0) {
          const rest = buffer.drainAll();
          if (rest.length) yield rest;
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      stopping = true;
      if (timer) clearTimeout(timer);
      if (rejoinTimer) clearInterval(rejoinTimer);
      signal?.removeEventListener('abort', onAbort);
      for (const c of live.values()) c.cancel();
    }
  }

  async serverStatus(): Promise<ServerStatusResponse> {
    const { up, down } = await this.probe();
    const results = await Promise.allSettled(up.map((p) => p.client.serverStatus(this.options.callTimeoutMs)));
    const unavailable = down.map((p) => p.name);
    const total: ServerStatusResponse = {
      num_flows: 0,
      max_flows: 0,
      seen_flows: 0,
      uptime_ns: (Date.now() - this.startedMs) * 1e6,
      version: this.options.version,
      flows_rate: 0,
    };
    const lost = new Map<LostEventSource, number>();
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        up[i]!.state = 'NODE_UNAVAILABLE';
        unavailable.push(up[i]!.name);
        return;
      }
      const s = r.value;
      total.num_flows += Number(s.num_flows ?? 0);
      total.max_flows += Number(s.max_flows ?? 0);
      total.seen_flows += Number(s.seen_flows ?? 0);
      total.flows_rate! += s.flows_rate ?? 0;
      for (const l of s.lost_events ?? []) lost.set(l.source, (lost.get(l.source) ?? 0) + Number(l.count));
    });
    return {
      ...total,
      num_connected_nodes: { value: this.peers.size - unavailable.length },
      num_unavailable_nodes: { value: unavailable.length },
      unavailable_nodes: unavailable.sort(),
      lost_events: [...lost].map(([source, count]) => ({ source, count })),
    };
  }

  async getNodes(): Promise<{ nodes: Node[] }> {
    await this.probe();
    const nodes = await Promise.all(
      [...this.peers.values()].map(async (p): Promise<Node> => {
        const tls = this.tls && !/^unix:/.test(p.address) && !p.address.startsWith('/');
        const base: Node = {
          name: p.name,
          address: p.address,
          state: p.state,
          tls: tls
            ? { enabled: true, server_name: p.serverName || hubbleServerName(p.name, this.options.clusterName) }
            : { enabled: false },
        };
        if (p.state !== 'NODE_CONNECTED') return base;
        try {
          const s = await p.client.serverStatus(this.options.callTimeoutMs);
          return {
            ...base,
            version: s.version,
            uptime_ns: Number(s.uptime_ns),
            num_flows: Number(s.num_flows),
            max_flows: Number(s.max_flows),
            seen_flows: Number(s.seen_flows),
          };
        } catch {
          return { ...base, state: 'NODE_UNAVAILABLE' };
        }
      }),
    );
    return { nodes: nodes.sort((a, b) => byteOrder(a.name, b.name)) };
  }

  async getNamespaces(): Promise<{ namespaces: { cluster: string; namespace: string }[] }> {
    const { up } = await this.probe();
    const all = await Promise.allSettled(up.map((p) => p.client.getNamespaces(this.options.callTimeoutMs)));
    const seen = new Map<string, { cluster: string; namespace: string }>();
    for (const r of all)
      if (r.status === 'fulfilled')
        for (const n of r.value.namespaces ?? [])
          seen.set(`${n.cluster ?? ''}/${n.namespace ?? ''}`, {
            cluster: n.cluster ?? '',
            namespace: n.namespace ?? '',
          });
    return {
      namespaces: [...seen.values()].sort(
        (a, b) => byteOrder(a.cluster, b.cluster) || byteOrder(a.namespace, b.namespace),
      ),
    };
  }

  async listen(opts: ListenOptions): Promise<void> {
    const server = new grpc.Server();
    const unary =
      <T>(fn: () => Promise<T>): grpc.handleUnaryCall<unknown, T> =>
      (_call, cb) =>
        void fn().then(
          (r) => cb(null, r),
          (e: unknown) => cb(toGrpcError(e)),
        );
    const getFlows: grpc.handleServerStreamingCall<GetFlowsRequest, unknown> = (call) =>
      void writeStream(
        call,
        (signal) => framedBatches(this.getFlowsBatches(call.request, signal)),
        (chunk) => chunk,
      );
    const unimplemented: grpc.handleServerStreamingCall<unknown, unknown> = (call) =>
      call.emit('error', {
        code: grpc.status.UNIMPLEMENTED,
        details: 'hubble-relay does not serve agent or debug events; ask an agent directly',
      });
    server.addService(healthService, healthHandlers());
    server.addService(observerService, {
      GetFlows: getFlows,
      GetAgentEvents: unimplemented,
      GetDebugEvents: unimplemented,
      ServerStatus: unary(() => this.serverStatus()),
      GetNodes: unary(() => this.getNodes()),
      GetNamespaces: unary(() => this.getNamespaces()),
    });
    const bind = (addr: string) =>
      new Promise<number>((resolve, reject) =>
        server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, port) =>
          err
            ? reject(new HubbleError(HubbleErrorCode.Listen, `cannot listen on ${addr}: ${err.message}`))
            : resolve(port),
        ),
      );
    if (opts.unixSocket) await bind(`unix:${opts.unixSocket}`);
    if (opts.tcp) {
      const [host, port] = splitHostPort(opts.tcp);
      this.tcpAddress = `${host === '0.0.0.0' ? '127.0.0.1' : host}:${await bind(`${host}:${port}`)}`;
    }
    this.server = server;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.tls?.watcher.close();
    if (this.peerRetry) clearTimeout(this.peerRetry);
    this.peerCall?.cancel();
    this.peerSource?.close();
    for (const p of this.peers.values()) p.client.close();
    const server = this.server;
    if (server)
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
}

/** Batches of responses as framed chunks of about BATCH_BYTES (flow control still applies between chunks). */
async function* framedBatches(batches: AsyncGenerator<RawResponse[]>): AsyncGenerator<Buffer> {
  for await (const batch of batches) {
    let from = 0;
    let bytes = 0;
    for (let i = 0; i < batch.length; i++) {
      bytes += batch[i]!.bytes.length + 5;
      if (bytes >= BATCH_BYTES || i === batch.length - 1) {
        yield frameAll(batch, from, i + 1);
        from = i + 1;
        bytes = 0;
      }
    }
  }
}
