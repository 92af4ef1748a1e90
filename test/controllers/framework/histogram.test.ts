import { describe, expect, it } from '@jest/globals';
import { Histogram, Registry } from 'prom-client';
import { CellHistogram } from '../../../controllers/framework/histogram.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const config = (registry: Registry) => ({
  name: 'workqueue_work_duration_seconds',
  help: 'How long in seconds processing an item from workqueue takes',
  labelNames: ['name'] as const,
  buckets: BUCKETS,
  registers: [registry],
});

/** Values on, below and above bucket bounds, zero, and past the last bound (+Inf only). */
function values(seed: number): number[] {
  let x = seed;
  const out = [0, 0.005, 0.0050001, 1, 60, 61, 1e6];
  for (let i = 0; i < 500; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out.push((x / 2 ** 31) ** 4 * 80);
  }
  return out;
}

describe('CellHistogram', () => {
  it("exposes what prom-client's Histogram exposes for the same observations (text and JSON)", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const h = new CellHistogram(config(ours));
    const p = new Histogram(config(theirs));
    for (const [name, seed] of [
      ['bench', 7],
      ['other', 11],
    ] as const) {
      const cell = h.cell({ name });
      for (const v of values(seed)) {
        cell.observe(v);
        p.observe({ name }, v);
      }
    }
    expect(h.cell({ name: 'bench' })).toBe(h.cell({ name: 'bench' }));
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
    expect(await ours.metrics()).toContain('workqueue_work_duration_seconds_bucket{le="+Inf",name="bench"} 507');
  });

  it('a plain observe() with labels still works beside the cells; reset() zeroes both', async () => {
    const r = new Registry();
    const h = new CellHistogram(config(r));
    h.cell({ name: 'a' }).observe(0.2);
    h.observe({ name: 'b' }, 3);
    const text = await r.metrics();
    expect(text).toContain('workqueue_work_duration_seconds_count{name="a"} 1');
    expect(text).toContain('workqueue_work_duration_seconds_sum{name="b"} 3');
    h.reset();
    const after = await r.metrics();
    expect(after).toContain('workqueue_work_duration_seconds_count{name="a"} 0');
    expect(after).not.toContain('name="b"');
  });
});
