// The agent's Prometheus metrics (upstream names, pkg/metrics): forward and drop counters read
// from the datapath's metrics map at scrape time, and the gauges the reconcilers keep. Drop
// reasons are labelled with upstream's text for them (the datapath's drop-reason table).
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { MetricSample } from '../../datapath/datapath.js';
import { dropReasonMetric } from '../../datapath/drop-reasons.js';

export type AgentMetrics = ReturnType<typeof agentMetrics>;

export function agentMetrics(registry: Registry, samples: () => readonly MetricSample[]) {
  const r = [registry];
  // Read from the datapath's per-CPU metrics map at scrape time (counters owned by the kernel).
  new Gauge({
    name: 'cilium_forward_count_total',
    help: 'Total forwarded packets, tagged by ingress/egress direction',
    labelNames: ['direction'],
    registers: r,
    collect() {
      this.reset();
      for (const s of samples()) if (s.reason === 0) this.inc({ direction: s.direction.toUpperCase() }, s.packets);
    },
  });
  new Gauge({
    name: 'cilium_drop_count_total',
    help: 'Total dropped packets, tagged by drop reason and ingress/egress direction',
    labelNames: ['reason', 'direction'],
    registers: r,
    collect() {
      this.reset();
      for (const s of samples())
        if (s.reason !== 0)
          this.inc({ reason: dropReasonMetric(s.reason), direction: s.direction.toUpperCase() }, s.packets);
    },
  });
  memoryMetrics(r);
  return {
    endpointState: new Gauge({
      name: 'cilium_endpoint_state',
      help: 'Count of all endpoints, tagged by different endpoint states',
      labelNames: ['endpoint_state'],
      registers: r,
    }),
    identities: new Gauge({ name: 'cilium_identity', help: 'Number of identities currently allocated', registers: r }),
    policies: new Gauge({ name: 'cilium_policy', help: 'Number of policies currently loaded', registers: r }),
    ipcacheEntries: new Gauge({ name: 'cilium_ipcache_entries', help: 'Prefixes in the ipcache', registers: r }),
    regenTime: new Histogram({
      name: 'cilium_endpoint_regeneration_time_stats_seconds',
      help: 'Endpoint regeneration time stats',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: r,
    }),
    /**
     * Upstream's `cilium_agent_bootstrap_seconds{scope, outcome}`: how long each start-up stage
     * took (scope `overall` from process start to ready); see Agent.start.
     */
    bootstrap: new Histogram({
      name: 'cilium_agent_bootstrap_seconds',
      help: 'Duration of bootstrap sequence',
      labelNames: ['scope', 'outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
      registers: r,
    }),
    /**
     * V8's used heap right after the last major (mark-sweep-compact) GC: what the agent's objects
     * really hold, without the garbage RSS and used-heap also count (0 until the first major GC).
     * No upstream equivalent: Go's agent has go_memstats_*; this is the comparable figure.
     */
    heapAfterGc: new Gauge({
      name: 'cilium_agent_heap_after_gc_bytes',
      help: 'V8 used heap size after the last major garbage collection',
      registers: r,
    }),
    /**
     * The event loop's stops for garbage collection, by kind (prom-client's default metric of this
     * name and buckets). A major GC stops every reconciler at once: at 10,000 remote pods on a
     * loaded machine one took 0.7 s, which is where a remote pod's ipcache latency p99 came from.
     */
    gcDuration: new Histogram({
      name: 'nodejs_gc_duration_seconds',
      help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb',
      labelNames: ['kind'],
      buckets: [0.001, 0.01, 0.1, 1, 2, 5],
      registers: r,
    }),
    mapOps: new Counter({
      name: 'cilium_bpf_map_ops_total',
      help: 'Total operations on map, tagged by map name',
      labelNames: ['map_name', 'operation', 'outcome'],
      registers: r,
    }),
  };
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/**
 * Keeps `gauge` at the used heap after each major GC and `durations` at every GC's pause
 * (observed as the GC's performance entry arrives, right after it). Returns the disposer.
 */
export function watchHeapAfterGc(gauge: Gauge, durations?: Histogram): () => void {
  const obs = new PerformanceObserver((list) => {
    let major = false;
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? -1;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) major = true;
      durations?.observe({ kind: GC_KINDS[kind] ?? 'other' }, e.duration / 1000);
    }
    if (major) gauge.set(getHeapStatistics().used_heap_size);
  });
  obs.observe({ entryTypes: ['gc'] });
  return () => obs.disconnect();
}

/**
 * Where the process's memory is, read at scrape time from process.memoryUsage() and V8's heap
 * spaces, under prom-client's default-metric names (the agent registers none of its defaults):
 * RSS against V8's reserved heap, its used heap, and the memory outside it (Buffers, the addon).
 * At 50,000 remote pods the RSS moved by 160 MiB between two runs with the same heap after GC;
 * these say which part moved. `nodejs_array_buffers_bytes` is ours (prom-client has none).
 */
function memoryMetrics(r: Registry[]): void {
  const usage: [string, string, (m: NodeJS.MemoryUsage) => number][] = [
    ['process_resident_memory_bytes', 'Resident memory size in bytes.', (m) => m.rss],
    ['nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', (m) => m.heapTotal],
    ['nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', (m) => m.heapUsed],
    ['nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', (m) => m.external],
    [
      'nodejs_array_buffers_bytes',
      'Memory of ArrayBuffers and Buffers (part of external) in bytes.',
      (m) => m.arrayBuffers,
    ],
  ];
  // one memoryUsage() per scrape, shared by the five gauges (each collect runs in turn)
  let read: { at: number; m: NodeJS.MemoryUsage } | undefined;
  const now = () => {
    if (!read || Date.now() - read.at > 1000) read = { at: Date.now(), m: process.memoryUsage() };
    return read.m;
  };
  for (const [name, help, of] of usage)
    new Gauge({
      name,
      help,
      registers: r,
      collect() {
        this.set(of(now()));
      },
    });
  for (const [name, help, field] of [
    ['nodejs_heap_space_size_total_bytes', 'Process heap space size total from Node.js in bytes.', 'space_size'],
    ['nodejs_heap_space_size_used_bytes', 'Process heap space size used from Node.js in bytes.', 'space_used_size'],
  ] as const)
    new Gauge({
      name,
      help,
      labelNames: ['space'],
      registers: r,
      collect() {
        for (const s of getHeapSpaceStatistics()) this.set({ space: s.space_name.replace(/_space$/, '') }, s[field]);
      },
    });
}
