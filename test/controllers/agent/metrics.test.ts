// The agent's drop counter is labelled with upstream's text for each reason (pkg/monitor/api/drop.go),
// taken from the datapath's one drop-reason table: no reason is left as a bare number.
import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { agentMetrics } from '../../../controllers/agent/metrics.js';
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
});
