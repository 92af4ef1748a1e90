// The per-node observer: datapath events in, flows into the ring, metrics counted, lost events
// accounted by source; GetFlows / GetAgentEvents / ServerStatus / GetNamespaces answered from
// memory. No gRPC here (server.ts wraps it), so tests and benchmarks drive it directly.
import type { DatapathEvent } from '../datapath/events.js';
import { HubbleError, HubbleErrorCode } from './errors.js';
import { compileFieldMask } from './field-mask.js';
import { compileFilters } from './filter.js';
import { HubbleMetrics, parseMetricOptions, parseMetricsList } from './metrics.js';
import { defaultHubbleOptions, type HubbleOptions } from './options.js';
import { L7FlowParser } from './l7-parser.js';
import { FlowParser } from './parser.js';
import type { Resolver } from './resolver.js';
import { FlowRing, type RingEntry } from './ring.js';
import { encodeFlow, frameFlowResponse, frameResponse } from './wire.js';
import {
  byteOrder,
  timestampFromMs,
  timestampToNs,
  type Flow,
  type GetFlowsRequest,
  type GetFlowsResponse,
  type L7Event,
  type LostEventSource,
  type ServerStatusResponse,
} from './types.js';

export interface AgentEventRecord {
  type: string;
  [oneof: string]: unknown;
}

export interface GetAgentEventsRequest {
  number?: number;
  first?: boolean;
  follow?: boolean;
  since?: { seconds: number; nanos: number };
  until?: { seconds: number; nanos: number };
}

const NAMESPACE_TTL_MS = 3600_000;

/** On a GetFlowsResponse that carries a whole ring flow (no field mask): its place in the ring. */
const RING_SEQ = Symbol('hubble ring seq');
type Tagged = GetFlowsResponse & { [RING_SEQ]?: number };

export class HubbleObserver {
  readonly options: HubbleOptions;
  readonly ring: FlowRing;
  readonly metrics: HubbleMetrics;
  private readonly parser: FlowParser;
  private l7Parser?: L7FlowParser;
  private readonly startedMs: number;
  private readonly lostBySource = new Map<LostEventSource, number>();
  private readonly namespaces = new Map<string, number>();
  private readonly agentEvents: { seq: number; timeMs: number; event: AgentEventRecord }[] = [];
  private agentSeq = 0;
  private followStreams = 0;
  private readonly agentWaiters = new Set<() => void>();
  private lostPoll?: NodeJS.Timeout;
  private lastLostSeen = 0;
  /** flows per second over the last minute: 60 one-second buckets and the second each counts */
  private readonly rate: number[] = new Array(60).fill(0);
  private readonly rateSec: number[] = new Array(60).fill(-1);

  constructor(opts: Partial<HubbleOptions> & Pick<HubbleOptions, 'nodeName' | 'resolver'>) {
    this.options = { ...defaultHubbleOptions, ...opts };
    const names = parseMetricsList(this.options.metrics);
    this.metrics = new HubbleMetrics(names, undefined, parseMetricOptions(this.options.metrics));
    this.parser = new FlowParser({
      nodeName: this.options.nodeName,
      resolver: this.options.resolver,
      now: this.options.now,
      uuids: this.options.uuids,
    });
    this.ring = new FlowRing(this.options.ringCapacity, this.parser.ids);
    this.startedMs = this.options.now();
    if (this.options.lostEventsSource) {
      this.lastLostSeen = this.options.lostEventsSource();
      this.lostPoll = setInterval(() => this.pollLost(), this.options.lostEventsPollMs);
      this.lostPoll.unref();
    }
  }

  /** One datapath event: parsed, counted, stored. Never throws (a bad event must not stop the agent). */
  observe(e: DatapathEvent): void {
    let flow;
    try {
      flow = this.parser.parse(e);
    } catch {
      flow = undefined;
    }
    if (flow) this.ingest(flow);
  }

  /**
   * One L7 event from the proxy (DNS or HTTP, request or response) as a flow of Type L7;
   * `lookup` names its endpoints (default: this observer's resolver). Never throws.
   */
  observeL7(e: L7Event, lookup: Resolver = this.options.resolver): void {
    this.l7Parser ??= new L7FlowParser({
      nodeName: this.options.nodeName,
      now: this.options.now,
      uuids: this.options.uuids,
    });
    let flow;
    try {
      flow = this.l7Parser.parse(e, lookup);
    } catch {
      return;
    }
    this.ingest(flow);
  }

  /** A parsed flow: stored, counted, its namespaces remembered. */
  private ingest(flow: Flow): void {
    const ms = this.options.now();
    this.ring.write(timestampToNs(flow.time), { flow });
    this.metrics.observe(flow);
    this.countRate(ms);
    const src = flow.source?.namespace;
    const dst = flow.destination?.namespace;
    if (src) this.namespaces.set(src, ms);
    if (dst && dst !== src) this.namespaces.set(dst, ms);
  }

  /** Records lost events: into the ring (so followers see them), metrics and ServerStatus. */
  observeLost(source: LostEventSource, n: number, cpu?: number): void {
    if (n <= 0) return;
    this.lostBySource.set(source, (this.lostBySource.get(source) ?? 0) + n);
    this.metrics.lostEvents(source, n);
    this.ring.write(this.options.now() * 1e6, {
      lost: { source, num_events_lost: n, ...(cpu === undefined ? {} : { cpu: { value: cpu } }) },
    });
  }

  /** Polls the datapath's cumulative loss counter now (also done on a timer). */
  pollLost(): void {
    const src = this.options.lostEventsSource;
    if (!src) return;
    const total = src();
    const diff = total - this.lastLostSeen;
    this.lastLostSeen = total;
    if (diff > 0) this.observeLost('PERF_EVENT_RING_BUFFER', diff);
  }

  lostEvents(): Map<LostEventSource, number> {
    return new Map(this.lostBySource);
  }

  agentEvent(event: AgentEventRecord): void {
    this.agentEvents.push({ seq: this.agentSeq++, timeMs: this.options.now(), event });
    if (this.agentEvents.length > this.options.agentEventsCapacity) this.agentEvents.shift();
    for (const w of [...this.agentWaiters]) w();
  }

  private countRate(ms: number): void {
    const sec = Math.floor(ms / 1000);
    const i = sec % 60;
    if (this.rateSec[i] !== sec) {
      this.rateSec[i] = sec;
      this.rate[i] = 0;
    }
    this.rate[i]!++;
  }

  status(): ServerStatusResponse {
    const sec = Math.floor(this.options.now() / 1000);
    let sum = 0;
    for (let i = 0; i < 60; i++) if (this.rateSec[i]! > sec - 60 && this.rateSec[i]! <= sec) sum += this.rate[i]!;
    return {
      num_flows: this.ring.length,
      max_flows: this.ring.capacity,
      seen_flows: this.ring.seen,
      uptime_ns: Math.max(0, this.options.now() - this.startedMs) * 1e6,
      version: this.options.version,
      flows_rate: sum / 60,
      lost_events: [...this.lostBySource].map(([source, count]) => ({ source, count })),
    };
  }

  /**
   * Namespaces that had flows in the last hour, in byte order (byteOrder: relay asks for them every
   * few seconds, so the first call comes soon after an agent restart, amid its first changes).
   */
  namespacesSeen(): { cluster: string; namespace: string }[] {
    const cutoff = this.options.now() - NAMESPACE_TTL_MS;
    return [...this.namespaces]
      .filter(([, t]) => t >= cutoff)
      .map(([namespace]) => ({ cluster: 'default', namespace }))
      .sort((a, b) => byteOrder(a.namespace, b.namespace));
  }

  /**
   * GetFlows: the last `number` matching flows (or the first with `first`), within since/until,
   * then, with `follow`, every new one until `until` passes or the signal aborts. A reader lapped
   * by the ring gets a HUBBLE_RING_BUFFER LostEvent with the count it missed.
   */
  async *getFlows(req: GetFlowsRequest, signal?: AbortSignal): AsyncGenerator<GetFlowsResponse> {
    if (req.follow && this.followStreams >= this.options.maxFollowStreams) {
      this.metrics.followStreamRejected();
      throw new HubbleError(
        HubbleErrorCode.TooManyStreams,
        `this node serves ${this.options.maxFollowStreams} follow streams already (maxFollowStreams); try again later or follow through hubble-relay`,
      );
    }
    if (!req.follow) {
      yield* this.flows(req, signal);
      return;
    }
    this.metrics.followStreams(++this.followStreams);
    try {
      yield* this.flows(req, signal);
    } finally {
      this.metrics.followStreams(--this.followStreams);
    }
  }

  /** follow streams served now */
  get followStreamCount(): number {
    return this.followStreams;
  }

  private async *flows(req: GetFlowsRequest, signal?: AbortSignal): AsyncGenerator<GetFlowsResponse> {
    const match = compileFilters(req.whitelist ?? [], req.blacklist ?? []);
    const since = req.since ? timestampToNs(req.since) : 0;
    const until = req.until ? timestampToNs(req.until) : Infinity;
    const number = Number(req.number ?? 0);
    if (number < 0) throw new HubbleError(HubbleErrorCode.BadRequest, 'number must not be negative');
    const keep = (e: RingEntry): boolean => e.timeNs >= since && e.timeNs <= until && (!e.flow || match(e.flow));
    const nodeName = this.options.nodeName;
    const mask = compileFieldMask(
      req.field_mask?.paths?.length ? req.field_mask.paths : req.experimental?.field_mask?.paths,
    );
    const respond = (e: RingEntry): GetFlowsResponse => {
      const time = e.flow?.time ?? { seconds: Math.floor(e.timeNs / 1e9), nanos: e.timeNs % 1e9 };
      if (!e.flow) return { lost_events: e.lost!, node_name: nodeName, time };
      if (mask) return { flow: mask(e.flow), node_name: nodeName, time };
      return { flow: e.flow, node_name: nodeName, time, [RING_SEQ]: e.seq } as Tagged;
    };
    let cursor: number;
    if (req.first) {
      let n = 0;
      cursor = this.ring.oldest;
      for (const e of this.ring.entries()) {
        await yieldIfBusy();
        cursor = e.seq + 1;
        if (e.timeNs > until) return;
        if (!keep(e)) continue;
        yield respond(e);
        if (number && ++n >= number) break;
      }
    } else {
      const picked: RingEntry[] = [];
      cursor = this.ring.next;
      // with follow and no number nor since, history is skipped (upstream: only new flows)
      const wantHistory = number > 0 || since > 0 || !req.follow;
      if (wantHistory) {
        let flows = 0;
        for (const e of this.ring.reversed()) {
          await yieldIfBusy();
          if (e.timeNs < since) break;
          if (!keep(e)) continue;
          picked.push(e);
          if (number && ++flows >= number) break;
        }
      }
      for (let i = picked.length - 1; i >= 0; i--) yield respond(picked[i]!);
    }
    if (!req.follow) return;
    while (!signal?.aborted) {
      const r = this.ring.read(cursor);
      if (r === undefined) {
        await this.waitForWrite(signal);
        continue;
      }
      if ('lost' in r) {
        cursor = r.next;
        const ms = this.options.now();
        yield {
          lost_events: { source: 'HUBBLE_RING_BUFFER', num_events_lost: r.lost },
          node_name: nodeName,
          time: timestampFromMs(ms),
        };
        continue;
      }
      cursor++;
      if (r.entry.timeNs > until) return;
      if (keep(r.entry)) yield respond(r.entry);
    }
  }

  /**
   * A response of getFlows() as gRPC's framed bytes. A whole flow's are made once and kept with
   * it in the ring (every stream that sends it, and every relay, gets the same bytes).
   */
  frame(r: GetFlowsResponse): Buffer {
    const seq = (r as Tagged)[RING_SEQ];
    if (seq === undefined || !r.flow) return frameResponse(r);
    return this.ring.wireOf(seq, r.flow, (f) => frameFlowResponse(encodeFlow(f), r.node_name, r.time));
  }

  private waitForWrite(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        unsub();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const unsub = this.ring.subscribe(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async *getAgentEvents(
    req: GetAgentEventsRequest,
    signal?: AbortSignal,
  ): AsyncGenerator<{ agent_event: AgentEventRecord; node_name: string; time: { seconds: number; nanos: number } }> {
    const since = req.since ? timestampToNs(req.since) / 1e6 : 0;
    const until = req.until ? timestampToNs(req.until) / 1e6 : Infinity;
    const number = Number(req.number ?? 0);
    const inRange = this.agentEvents.filter((e) => e.timeMs >= since && e.timeMs <= until);
    const history =
      number === 0
        ? req.follow && !since
          ? []
          : inRange
        : req.first
          ? inRange.slice(0, number)
          : inRange.slice(-number);
    const out = (e: { timeMs: number; event: AgentEventRecord }) => ({
      agent_event: e.event,
      node_name: this.options.nodeName,
      time: timestampFromMs(e.timeMs),
    });
    for (const e of history) yield out(e);
    if (!req.follow) return;
    // sequence numbers, not positions: the array drops its oldest entries once full
    let next = this.agentSeq;
    while (!signal?.aborted) {
      const fresh = this.agentEvents.filter((e) => e.seq >= next);
      if (!fresh.length) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            this.agentWaiters.delete(done);
            signal?.removeEventListener('abort', done);
            resolve();
          };
          this.agentWaiters.add(done);
          signal?.addEventListener('abort', done, { once: true });
        });
        continue;
      }
      next = fresh[fresh.length - 1]!.seq + 1;
      for (const e of fresh) {
        if (e.timeMs > until) return;
        yield out(e);
      }
    }
  }

  close(): void {
    if (this.lostPoll) clearInterval(this.lostPoll);
  }
}

/**
 * A scan of the ring runs every filter on up to 4095 flows; with the costliest filters a request
 * may hold that is over a second of work, and several clients may scan at once. All scans share
 * one budget of SLICE_MS per turn of the event loop, then give it back, so health checks, CNI
 * calls and other clients are answered in between (the agent has one thread).
 */
export const SLICE_MS = 4;

let turnStart = performance.now();
let nextTurn: Promise<void> | undefined;

/** undefined while this turn's budget lasts; else a promise of the next turn (shared by all scans). */
function yieldIfBusy(): Promise<void> | undefined {
  if (performance.now() - turnStart < SLICE_MS) return undefined;
  nextTurn ??= new Promise<void>((resolve) =>
    setImmediate(() => {
      nextTurn = undefined;
      turnStart = performance.now();
      resolve();
    }),
  );
  return nextTurn;
}
