// A prom-client Histogram whose hot observations go to cells: one cell per label set, held by the
// caller, counting into a typed array. prom-client's own observe() builds a label object, checks
// it and hashes it on every call; three observations per reconcile were a sixth of the
// framework's cost per reconcile. The exposition is prom-client's (same names, buckets, sums).
import { Histogram, type HistogramConfiguration } from 'prom-client';

/** prom-client's internal shape of one exposed value (a histogram's `_bucket`, `_sum` or `_count` line). */
interface PromValue {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  /** prom-client gives buckets a null exemplar when exemplars are off */
  exemplar?: null;
}
interface PromValues {
  values: PromValue[];
}

/** One label set's observations: counts per bucket (not cumulative), their sum and number. */
export class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  /** As prom-client's observe: the first bucket whose upper bound is ≥ `value`, else only +Inf. */
  observe(value: number): void {
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

export class CellHistogram<L extends string> extends Histogram<L> {
  private readonly cells = new Map<string, HistogramCell>();
  private readonly bounds: readonly number[];
  private readonly metricName: string;

  constructor(config: HistogramConfiguration<L> & { buckets: number[] }) {
    super(config);
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    this.metricName = config.name;
  }

  /** The cell of one label set (made once; callers keep it). */
  cell(labels: Record<L, string>): HistogramCell {
    const key = JSON.stringify(Object.entries(labels).sort());
    let c = this.cells.get(key);
    if (!c) this.cells.set(key, (c = new HistogramCell({ ...labels }, this.bounds)));
    return c;
  }

  override reset(): void {
    super.reset();
    // prom-client's constructor calls reset() before this class's fields exist
    for (const c of this.cells?.values() ?? []) c.reset();
  }

  /**
   * The registry reads every metric through this (prom-client 15; `get()` calls it too), so the
   * cells are exposed wherever prom-client's own label sets are. The golden test in
   * test/controllers/framework/histogram.test.ts compares the text with prom-client's.
   */
  async getForPromString(): Promise<PromValues> {
    const base = await (
      Histogram.prototype as unknown as { getForPromString(): Promise<PromValues> }
    ).getForPromString.call(this);
    base.values.push(...this.cellValues());
    return base;
  }

  private cellValues(): PromValue[] {
    const out: PromValue[] = [];
    const bucket = `${this.metricName}_bucket`;
    for (const c of this.cells.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += c.counts[i]!;
        out.push({
          labels: { le: this.bounds[i]!, ...c.labels },
          value: acc,
          metricName: bucket,
          sharedLabels: {},
          exemplar: null,
        });
      }
      out.push({
        labels: { le: '+Inf', ...c.labels },
        value: c.count,
        metricName: bucket,
        sharedLabels: {},
        exemplar: null,
      });
      out.push({ labels: { ...c.labels }, value: c.sum, metricName: `${this.metricName}_sum`, sharedLabels: {} });
      out.push({ labels: { ...c.labels }, value: c.count, metricName: `${this.metricName}_count`, sharedLabels: {} });
    }
    return out;
  }
}
