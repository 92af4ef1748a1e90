// What the page holds: the newest flows for the table (bounded), the aggregated service map and
// the counts the user is told about (flows received, skipped by the server because the page could
// not keep up, lost by the nodes, arrived while paused). No DOM: the bench feeds it in Node.
import type { Flow } from '../../hubble/types.js';
import { ServiceMap, type MapLimits } from './map-model.js';

export interface StoreLimits extends MapLimits {
  /** Flows kept for the table; older ones fall off. */
  maxRows: number;
}

export const DEFAULT_STORE_LIMITS: StoreLimits = { maxRows: 1000, maxCards: 1000, maxLinks: 4000 };

export class FlowStore {
  private buffer: Flow[] = [];
  readonly map: ServiceMap;
  received = 0;
  /** Flows the server left out because the page was behind. */
  skipped = 0;
  /** Events the nodes' rings or relay lost (LostEvent). */
  lost = 0;
  /** Flows that arrived while paused (left out of table and map). */
  missedWhilePaused = 0;
  paused = false;
  private readonly limits: StoreLimits;

  constructor(limits: Partial<StoreLimits> = {}) {
    this.limits = { ...DEFAULT_STORE_LIMITS, ...limits };
    this.map = new ServiceMap(this.limits);
  }

  add(flows: readonly Flow[], skipped = 0, now = Date.now()): void {
    this.received += flows.length;
    this.skipped += skipped;
    if (this.paused) {
      this.missedWhilePaused += flows.length;
      return;
    }
    this.map.add(flows, now);
    this.buffer.push(...flows);
    // trimmed in steps, not per flow: amortised O(1) per flow
    if (this.buffer.length > 2 * this.limits.maxRows) this.buffer = this.buffer.slice(-this.limits.maxRows);
  }

  /** The newest `n` flows, newest first. */
  newest(n = this.limits.maxRows): Flow[] {
    const start = Math.max(0, this.buffer.length - Math.min(n, this.limits.maxRows));
    return this.buffer.slice(start).reverse();
  }

  get rows(): number {
    return Math.min(this.buffer.length, this.limits.maxRows);
  }

  reset(): void {
    this.buffer = [];
    this.map.clear();
    this.received = this.skipped = this.lost = this.missedWhilePaused = 0;
  }
}
