// One browser's live flows: a GetFlows call to relay with that page's filters, re-opened with
// backoff when relay goes away (from the last flow seen on, so nothing repeats), and cut into
// batches. A batch holds at most `maxBatch` flows and is not sent while the browser is behind — its
// socket still full, or (for a page that acknowledges) `maxUnackedFlows` flows sent and not yet
// processed: the flows that do not fit are counted as skipped and the count goes with the next
// batch, so a flood costs the page a bounded amount of work and the user sees what was left out.
import type * as grpc from '@grpc/grpc-js';
import type { HubbleClient } from '../hubble/client.js';
import type { Flow, GetFlowsRequest, GetFlowsResponse, Timestamp } from '../hubble/types.js';
import { timestampToNs } from '../hubble/types.js';
import type { FeedEvent } from './api-types.js';
import type { HubbleUiOptions } from './options.js';

export interface FeedSink {
  send(e: FeedEvent): void;
  /** True while the browser has not read what was sent (its socket buffer is full). */
  congested(): boolean;
}

type FeedOptions = Pick<
  HubbleUiOptions,
  'batchMs' | 'maxBatch' | 'maxUnackedFlows' | 'reconnectMinMs' | 'reconnectMaxMs'
> & {
  /** The page acknowledges batches (ack()); without it only the socket tells that it is behind. */
  acknowledged?: boolean;
};

export class FlowFeed {
  private call?: grpc.ClientReadableStream<GetFlowsResponse>;
  private pending: Flow[] = [];
  private skipped = 0;
  private lastTime?: Timestamp;
  private backoffMs: number;
  private retry?: NodeJS.Timeout;
  private readonly ticker: NodeJS.Timeout;
  private stopped = false;
  private connected?: boolean;
  /** The last batch sent; flows sent in all, and flows sent up to the batch the page last acknowledged. */
  private seq = 0;
  private sentFlows = 0;
  private ackedFlows = 0;
  /** Flows sent up to each batch not yet acknowledged, by seq. */
  private readonly sentUpTo = new Map<number, number>();

  constructor(
    private readonly client: HubbleClient,
    private readonly request: GetFlowsRequest,
    private readonly options: FeedOptions,
    private readonly sink: FeedSink,
  ) {
    this.backoffMs = options.reconnectMinMs;
    this.ticker = setInterval(() => this.flush(), options.batchMs);
    this.open();
  }

  private open(): void {
    if (this.stopped) return;
    // After a break: from the last flow on (relay replays the nodes' rings), never the same flow twice.
    const req: GetFlowsRequest = this.lastTime
      ? { ...this.request, number: undefined, since: this.lastTime, follow: true }
      : { ...this.request, follow: true };
    const call = (this.call = this.client.getFlowsCall(req));
    const after = this.lastTime ? timestampToNs(this.lastTime) : 0;
    call.on('metadata', () => this.setConnected(true));
    call.on('data', (r: GetFlowsResponse) => {
      this.setConnected(true);
      this.backoffMs = this.options.reconnectMinMs;
      if (r.flow) {
        if (after && timestampToNs(r.flow.time) <= after) return;
        this.lastTime = r.flow.time ?? this.lastTime;
        if (this.pending.length >= this.options.maxBatch) this.skipped++;
        else this.pending.push(r.flow);
      } else if (r.node_status)
        this.sink.send({
          type: 'node',
          state: r.node_status.state_change,
          nodes: r.node_status.node_names ?? [],
          ...(r.node_status.message ? { message: r.node_status.message } : {}),
        });
      else if (r.lost_events)
        this.sink.send({
          type: 'lost',
          source: r.lost_events.source,
          count: Number(r.lost_events.num_events_lost ?? 0),
        });
    });
    const broken = (message: string): void => {
      if (this.call !== call || this.stopped) return;
      this.call = undefined;
      const retryInMs = this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, this.options.reconnectMaxMs);
      this.setConnected(false, message, retryInMs);
      this.retry = setTimeout(() => this.open(), retryInMs);
    };
    call.on('error', (e: grpc.ServiceError) => broken(e.details || e.message));
    call.on('end', () => broken('relay ended the flow stream'));
  }

  private setConnected(up: boolean, message?: string, retryInMs?: number): void {
    if (this.connected === up && up) return;
    this.connected = up;
    this.sink.send(
      up
        ? { type: 'relay', state: 'connected' }
        : { type: 'relay', state: 'unreachable', ...(message ? { message } : {}), retryInMs },
    );
  }

  /** The page has processed batches up to `seq`. */
  ack(seq: number): void {
    const upTo = this.sentUpTo.get(seq);
    if (upTo === undefined) return;
    this.ackedFlows = upTo;
    for (const s of this.sentUpTo.keys()) if (s <= seq) this.sentUpTo.delete(s);
  }

  private behind(): boolean {
    if (this.sink.congested()) return true;
    return !!this.options.acknowledged && this.sentFlows - this.ackedFlows >= this.options.maxUnackedFlows;
  }

  private flush(): void {
    if (!this.pending.length && !this.skipped) return;
    if (this.behind()) {
      // the browser is behind: these flows are left out, and it is told how many
      this.skipped += this.pending.length;
      this.pending = [];
      return;
    }
    this.sink.send({ type: 'flows', flows: this.pending, skipped: this.skipped, seq: ++this.seq });
    this.sentFlows += this.pending.length;
    if (this.options.acknowledged) this.sentUpTo.set(this.seq, this.sentFlows);
    this.pending = [];
    this.skipped = 0;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.ticker);
    clearTimeout(this.retry);
    this.call?.cancel();
    this.call = undefined;
  }
}
