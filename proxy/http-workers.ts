// The HTTP proxy on several threads, as Envoy's `--concurrency` worker threads: each worker
// (http-worker.ts) has its own listening socket on the one port (SO_REUSEPORT: the kernel spreads
// new connections over them), its own event loop, downstream and upstream connections and pool.
// What stays on the calling thread is what only it knows: which policy governs a connection (the
// worker asks once per connection, with a message; the rules come back as data and are compiled
// once per rule set in the worker), where L7 events go (batched per worker event-loop turn), and the
// counters (one shared array, a row per worker, summed on read).
import { Worker } from 'node:worker_threads';
import { ProxyError, ProxyErrorCode } from './errors.js';
import type { HttpConnection, HttpProxyStats } from './http-downstream.js';
import type { HttpRule, HttpRuleSet } from './http-rules.js';
import type { HttpL7Event, L7Peer } from './l7-flow.js';

/** The per-worker options, as data (what a worker thread can be given). */
export interface WorkerProxyOptions {
  host: string;
  maxHeaderBytes: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxIdleUpstreams: number;
}

/** A connection's policy as a worker gets it: the rules as data, with an id to compile them once. */
export interface WireConnection {
  endpoint?: HttpConnection['endpoint'];
  source: L7Peer;
  destination: L7Peer;
  rules?: { id: number; list: readonly HttpRule[] };
}

/** What a worker is started with. */
export interface WorkerInit {
  index: number;
  port: number;
  options: WorkerProxyOptions;
  /** Float64 counters, STATS_FIELDS per worker */
  stats: SharedArrayBuffer;
  events: boolean;
}

export type ToWorker = { t: 'conn'; id: number; conn?: WireConnection } | { t: 'close' };
export type FromWorker =
  | { t: 'listening'; port: number }
  | { t: 'failed'; message: string }
  | { t: 'conn'; id: number; source: L7Peer; local: L7Peer }
  | { t: 'events'; events: HttpL7Event[] }
  | { t: 'closed' };

export const STATS_FIELDS = ['requests', 'allowed', 'denied', 'errors'] as const;

/**
 * The worker's entry. Compiled, it is the .js beside this file; run from TypeScript (tsx, jest),
 * the worker registers tsx's loader first, as the calling thread's loader is not the worker's.
 */
function startWorker(init: WorkerInit): Worker {
  // the compiled entry is a path build/ must hold (test/hack/build.test.ts checks such paths)
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./http-worker.js', import.meta.url), { workerData: init });
  const url = new URL(import.meta.url.replace(/http-workers\.ts$/, 'http-worker.ts'));
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData: init, execArgv: [] });
}

/** The calling thread's side of a pool of proxy workers. */
export class HttpWorkers {
  private readonly workers: Worker[] = [];
  private readonly statsView: Float64Array;
  /** a number per distinct rule set, so a worker compiles each once */
  private readonly ruleIds = new WeakMap<HttpRuleSet, number>();
  private nextRuleId = 1;
  readonly stats: HttpProxyStats;

  constructor(
    private readonly count: number,
    private readonly options: WorkerProxyOptions,
    private readonly connectionOf: (
      source: L7Peer,
      local: L7Peer,
    ) => HttpConnection | undefined | Promise<HttpConnection | undefined>,
    private readonly onEvent?: (e: HttpL7Event) => void,
  ) {
    this.statsView = new Float64Array(new SharedArrayBuffer(8 * STATS_FIELDS.length * count));
    const view = this.statsView;
    const sum = (f: number) => {
      let n = 0;
      for (let w = 0; w < count; w++) n += view[w * STATS_FIELDS.length + f]!;
      return n;
    };
    // read-only totals: the workers count, the calling thread reads
    this.stats = Object.defineProperties({} as HttpProxyStats, {
      requests: { get: () => sum(0), enumerable: true },
      allowed: { get: () => sum(1), enumerable: true },
      denied: { get: () => sum(2), enumerable: true },
      errors: { get: () => sum(3), enumerable: true },
    });
  }

  /** Requests served by each worker (how evenly the kernel spread connections). */
  get perWorker(): number[] {
    return this.workers.map((_, w) => this.statsView[w * STATS_FIELDS.length]!);
  }

  /** Starts the workers on `port` (0: the first picks one, the others join it); resolves with the port. */
  async start(port: number): Promise<{ port: number }> {
    try {
      for (let i = 0; i < this.count; i++) port = await this.spawn(i, port);
    } catch (e) {
      await this.close();
      throw new ProxyError(
        ProxyErrorCode.Listen,
        `HTTP proxy worker cannot listen on ${this.options.host}:${port}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    return { port };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((ok) => {
            if (w.threadId < 0) return ok(); // exited already
            w.once('exit', () => ok());
            w.postMessage({ t: 'close' } satisfies ToWorker);
            // a worker that does not answer in time is ended: close() never hangs on one
            setTimeout(() => void w.terminate(), 5_000).unref();
          }),
      ),
    );
    this.workers.length = 0;
  }

  private spawn(index: number, port: number): Promise<number> {
    const stats = this.statsView.buffer as SharedArrayBuffer;
    const w = startWorker({ index, port, options: this.options, stats, events: !!this.onEvent });
    this.workers.push(w);
    return new Promise<number>((ok, fail) => {
      w.once('error', fail);
      w.once('exit', (code) => fail(new Error(`worker ${index} exited (${code}) before listening`)));
      w.on('message', (m: FromWorker) => {
        switch (m.t) {
          case 'listening':
            w.removeAllListeners('error').removeAllListeners('exit');
            // a worker that fails later takes only its own connections down; the others serve on
            w.on('error', () => {});
            return ok(m.port);
          case 'failed':
            return fail(new Error(m.message));
          case 'conn':
            return void this.wire(m.source, m.local).then((conn) =>
              w.postMessage({ t: 'conn', id: m.id, conn } satisfies ToWorker),
            );
          case 'events':
            for (const e of m.events) this.onEvent?.(e);
            return;
        }
      });
    });
  }

  /** The policy of a new connection, as data; an exception in the lookup closes the connection. */
  private async wire(source: L7Peer, local: L7Peer): Promise<WireConnection | undefined> {
    let c: HttpConnection | undefined;
    try {
      c = await this.connectionOf(source, local);
    } catch {
      return undefined;
    }
    if (!c) return undefined;
    const out: WireConnection = { endpoint: c.endpoint, source: c.source, destination: c.destination };
    if (c.rules) {
      let id = this.ruleIds.get(c.rules);
      if (id === undefined) this.ruleIds.set(c.rules, (id = this.nextRuleId++));
      out.rules = { id, list: c.rules.rules };
    }
    return out;
  }
}
