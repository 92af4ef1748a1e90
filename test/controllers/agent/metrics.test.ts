// The agent's drop counter is labelled with upstream's text for each reason (pkg/monitor/api/drop.go),
// taken from the datapath's one drop-reason table: no reason is left as a bare number.
import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { agentMetrics, watchHeapAfterGc } from '../../../controllers/agent/metrics.js';
import { Drop } from '../../../datapath/constants.js';
import type { MetricSample } from '../../../datapath/datapath.js';
import { DROP_REASONS } from '../../../datapath/drop-reasons.js';

async function dropLabels(samples: MetricSample[]): Promise<Record<string, number>> {
  const registry = new Registry();
  agentMetrics(registry, () => samples);
  const metric = await registry.getSingleMetric('cilium_drop_count_total')!.get();
  return Object.fromEntries(metric.values.map((v) => [`${v.labels.reason}/${v.labels.direction}`, v.value]));
}

describe('agent metrics', () => {
  it('labels drop reasons with their upstream names, 132 and 155 included', async () => {
    const labels = await dropLabels([
      { reason: -Drop.invalidSip, direction: 'ingress', packets: 3, bytes: 300 },
      { reason: -Drop.ctCreateFailed, direction: 'egress', packets: 2, bytes: 200 },
      { reason: -Drop.policy, direction: 'egress', packets: 5, bytes: 500 },
      { reason: -Drop.policyDeny, direction: 'ingress', packets: 1, bytes: 100 },
      { reason: 0, direction: 'egress', packets: 9, bytes: 900 },
    ]);
    expect(labels).toEqual({
      'Invalid source ip/INGRESS': 3,
      'CT: Map insertion failed/EGRESS': 2,
      'Policy denied/EGRESS': 5,
      'Policy denied by denylist/INGRESS': 1,
    });
  });

  it('names every reason the datapath can return', async () => {
    const samples = [...DROP_REASONS.keys()].map((reason): MetricSample => ({
      reason,
      direction: 'ingress',
      packets: 1,
      bytes: 1,
    }));
    const labels = Object.keys(await dropLabels(samples)).map((l) => l.split('/')[0]!);
    expect(labels.sort()).toEqual([...DROP_REASONS.values()].map((r) => r.metric).sort());
    expect(labels.filter((l) => /^(reason )?\d+$/.test(l))).toEqual([]);
  });

  it('records each GC pause by kind and the heap after a major GC', async () => {
    const registry = new Registry();
    const m = agentMetrics(registry, () => []);
    const stop = watchHeapAfterGc(m.heapAfterGc, m.gcDuration);
    try {
      // a major GC on demand: --expose-gc for a fresh context only (the test's own globals unchanged)
      setFlagsFromString('--expose-gc');
      (runInNewContext('gc') as () => void)();
      const deadline = Date.now() + 10_000;
      const majors = async () =>
        (await registry.getSingleMetric('nodejs_gc_duration_seconds')!.get()).values.find(
          (v) =>
            (v as { metricName?: string }).metricName === 'nodejs_gc_duration_seconds_count' &&
            v.labels.kind === 'major',
        )?.value ?? 0;
      while ((await majors()) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(await majors()).toBeGreaterThanOrEqual(1);
      const heap = (await registry.getSingleMetric('cilium_agent_heap_after_gc_bytes')!.get()).values[0]?.value ?? 0;
      expect(heap).toBeGreaterThan(1 << 20);
    } finally {
      stop();
    }
  });

  it("reports the process's memory by part at scrape time: RSS, V8's heap, its spaces, external", async () => {
    const registry = new Registry();
    agentMetrics(registry, () => []);
    const value = async (name: string, space?: string) =>
      (await registry.getSingleMetric(name)!.get()).values.find((v) => space === undefined || v.labels.space === space)
        ?.value ?? NaN;
    const held = Buffer.alloc(8 << 20, 1);
    const rss = await value('process_resident_memory_bytes');
    const total = await value('nodejs_heap_size_total_bytes');
    const used = await value('nodejs_heap_size_used_bytes');
    const external = await value('nodejs_external_memory_bytes');
    const buffers = await value('nodejs_array_buffers_bytes');
    expect(used).toBeGreaterThan(1 << 20);
    expect(total).toBeGreaterThanOrEqual(used);
    // the 8 MiB Buffer lives outside V8's heap: in external and its ArrayBuffer part, and in the RSS
    expect(buffers).toBeGreaterThanOrEqual(held.length);
    expect(external).toBeGreaterThanOrEqual(buffers);
    expect(rss).toBeGreaterThan(total);
    const oldTotal = await value('nodejs_heap_space_size_total_bytes', 'old');
    const oldUsed = await value('nodejs_heap_space_size_used_bytes', 'old');
    expect(oldUsed).toBeGreaterThan(0);
    expect(oldTotal).toBeGreaterThanOrEqual(oldUsed);
    expect(oldTotal).toBeLessThanOrEqual(total);
    held.fill(0);
  });
});
