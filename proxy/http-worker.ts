// One worker thread of the HTTP proxy (http-workers.ts starts it): an HttpProxy of its own on the
// shared port (SO_REUSEPORT), asking the calling thread which policy governs each new connection.
import { parentPort, workerData } from 'node:worker_threads';
import type { HttpConnection, HttpProxyStats } from './http-downstream.js';
import { HttpProxy } from './http-proxy.js';
import { HttpRuleSet } from './http-rules.js';
import { STATS_FIELDS, type FromWorker, type ToWorker, type WireConnection, type WorkerInit } from './http-workers.js';
import type { HttpL7Event, L7Peer } from './l7-flow.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);

// this worker's row of the shared counters, behind the stats object the proxy increments
const row = new Float64Array(init.stats, 8 * STATS_FIELDS.length * init.index, STATS_FIELDS.length);
const stats = {} as HttpProxyStats;
STATS_FIELDS.forEach((f, i) =>
  Object.defineProperty(stats, f, { get: () => row[i]!, set: (v: number) => (row[i] = v), enumerable: true }),
);

/** Compiled rule sets by the calling thread's id, the most recently used last; bounded. */
const ruleSets = new Map<number, HttpRuleSet>();
const RULE_SETS_MAX = 256;
function ruleSet(r: NonNullable<WireConnection['rules']>): HttpRuleSet {
  let rs = ruleSets.get(r.id);
  if (rs) ruleSets.delete(r.id);
  else rs = new HttpRuleSet(r.list);
  ruleSets.set(r.id, rs);
  if (ruleSets.size > RULE_SETS_MAX) ruleSets.delete(ruleSets.keys().next().value!);
  return rs;
}

const pending = new Map<number, (c: HttpConnection | undefined) => void>();
let nextId = 1;
function connectionOf(source: L7Peer, local: L7Peer): Promise<HttpConnection | undefined> {
  const id = nextId++;
  post({ t: 'conn', id, source, local });
  return new Promise((ok) => pending.set(id, ok));
}

// events leave in one message per event-loop turn
let batch: HttpL7Event[] = [];
function onEvent(e: HttpL7Event): void {
  if (batch.length === 0) setImmediate(flushEvents);
  batch.push(e);
}
function flushEvents(): void {
  post({ t: 'events', events: batch });
  batch = [];
}

const proxy = new HttpProxy({
  ...init.options,
  port: init.port,
  reusePort: true,
  stats,
  connectionOf,
  onEvent: init.events ? onEvent : undefined,
});

port.on('message', (m: ToWorker) => {
  if (m.t === 'conn') {
    const done = pending.get(m.id);
    pending.delete(m.id);
    const c = m.conn;
    done?.(
      c && { endpoint: c.endpoint, source: c.source, destination: c.destination, rules: c.rules && ruleSet(c.rules) },
    );
  } else if (m.t === 'close') {
    for (const done of pending.values()) done(undefined);
    pending.clear();
    void proxy.close().then(() => {
      if (batch.length) flushEvents();
      post({ t: 'closed' });
      port.close();
    });
  }
});

proxy.start().then(
  ({ port: p }) => post({ t: 'listening', port: p }),
  (e: Error) => post({ t: 'failed', message: e.message }),
);
