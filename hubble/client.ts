// A small promise/async-iterator face over the generated Observer and Peer stubs, shared by the
// relay, the CLI and tests. Addresses: "unix:///path", "unix:/path", "host:port".
import * as grpc from '@grpc/grpc-js';
import { ObserverClient, PeerClient, observerService } from './proto.js';
import type { ChangeNotification, GetFlowsRequest, GetFlowsResponse, Node, ServerStatusResponse } from './types.js';

/** "/var/run/cilium/hubble.sock" → "unix:///var/run/cilium/hubble.sock"; others unchanged. */
export function grpcTarget(address: string): string {
  return address.startsWith('/') ? `unix://${address}` : address;
}

type Unary = (
  req: unknown,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: unknown) => void,
) => grpc.ClientUnaryCall;
type ServerStream = (req: unknown, md?: grpc.Metadata, opts?: grpc.CallOptions) => grpc.ClientReadableStream<unknown>;

export class HubbleClient {
  readonly observer: grpc.Client;
  private peer?: grpc.Client;

  /** `credentials`: TLS (tls.ts) or, by default, plaintext. */
  constructor(
    readonly address: string,
    private readonly channelOptions: grpc.ChannelOptions = {},
    private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    this.observer = new ObserverClient(grpcTarget(address), credentials, channelOptions);
  }

  private unary<T>(method: string, req: unknown, timeoutMs?: number): Promise<T> {
    const fn = (this.observer as unknown as Record<string, Unary>)[method]!.bind(this.observer);
    const opts: grpc.CallOptions = timeoutMs ? { deadline: Date.now() + timeoutMs } : {};
    return new Promise((resolve, reject) =>
      fn(req, new grpc.Metadata(), opts, (err, res) => (err ? reject(err) : resolve(res as T))),
    );
  }

  serverStatus(timeoutMs?: number): Promise<ServerStatusResponse> {
    return this.unary('ServerStatus', {}, timeoutMs);
  }
  getNodes(timeoutMs?: number): Promise<{ nodes?: Node[] }> {
    return this.unary('GetNodes', {}, timeoutMs);
  }
  getNamespaces(timeoutMs?: number): Promise<{ namespaces?: { cluster?: string; namespace?: string }[] }> {
    return this.unary('GetNamespaces', {}, timeoutMs);
  }

  /** The raw call, for callers that cancel it themselves. */
  getFlowsCall(req: GetFlowsRequest): grpc.ClientReadableStream<GetFlowsResponse> {
    return (this.observer as unknown as Record<string, ServerStream>).GetFlows!.bind(this.observer)(
      req,
    ) as grpc.ClientReadableStream<GetFlowsResponse>;
  }

  /** GetFlows with each response as the bytes the server sent (not decoded; relay forwards them). */
  getFlowsRawCall(req: GetFlowsRequest): grpc.ClientReadableStream<Buffer> {
    const m = observerService.GetFlows!;
    return this.observer.makeServerStreamRequest(
      m.path,
      m.requestSerialize as (r: GetFlowsRequest) => Buffer,
      (b: Buffer) => b,
      req,
    );
  }

  /** GetFlows as an async iterator; breaking out of the loop cancels the call. */
  async *getFlows(req: GetFlowsRequest): AsyncGenerator<GetFlowsResponse> {
    yield* iterate(this.getFlowsCall(req));
  }

  /** Any of this client's streams as an async iterator (cancelled when the loop exits early). */
  iterate<T>(call: grpc.ClientReadableStream<T>): AsyncGenerator<T> {
    return iterate(call);
  }

  async *getAgentEvents(req: Record<string, unknown>): AsyncGenerator<Record<string, unknown>> {
    yield* iterate(
      (this.observer as unknown as Record<string, ServerStream>).GetAgentEvents!.bind(this.observer)(
        req,
      ) as grpc.ClientReadableStream<Record<string, unknown>>,
    );
  }

  peerNotifyCall(): grpc.ClientReadableStream<ChangeNotification> {
    this.peer ??= new PeerClient(grpcTarget(this.address), this.credentials, this.channelOptions);
    return (this.peer as unknown as Record<string, ServerStream>).Notify!.bind(this.peer)(
      {},
    ) as grpc.ClientReadableStream<ChangeNotification>;
  }

  close(): void {
    this.observer.close();
    this.peer?.close();
  }
}

async function* iterate<T>(call: grpc.ClientReadableStream<T>): AsyncGenerator<T> {
  let done = false;
  try {
    for await (const item of call as AsyncIterable<T>) yield item;
    done = true;
  } catch (e) {
    if ((e as grpc.ServiceError).code === grpc.status.CANCELLED) return;
    throw e;
  } finally {
    if (!done) call.cancel();
  }
}
