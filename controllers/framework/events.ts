// A Kubernetes Events recorder (core/v1 Event): what a user sees in `kubectl describe` and
// `kubectl get events`. Repeats of the same event within the window bump `count` instead of
// creating new objects, as client-go's correlator does. The repeats cache is an LRU with a cap
// (client-go's events cache holds 4096), so a long-running agent's memory does not grow with every
// distinct event it ever recorded.
import { randomBytes } from 'node:crypto';
import { Gauge, type Registry } from 'prom-client';
import type { KubeClient, ResourceRef } from './client.js';
import type { KubeObject } from './types.js';

export const EVENTS: ResourceRef = { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true };

export interface EventRecorderOptions {
  /** `source.component` / `reportingComponent`, e.g. `cilium-agent`. */
  component: string;
  /** Repeats within this window are aggregated into one Event. */
  aggregateWindowMs?: number;
  /** Namespace for events about cluster-scoped objects. */
  clusterScopedNamespace?: string;
  /**
   * Distinct events remembered for aggregation (least recently recorded dropped first). Default
   * 4096, client-go's `maxLruCacheEntries`: a dropped event's next repeat creates a new Event
   * object instead of bumping a count — harmless, so a small cap is safe.
   */
  cacheSize?: number;
  /** Registers `event_recorder_cache_entries` (the cache's size) here. */
  registry?: Registry;
}

const DEFAULT_CACHE_SIZE = 4096;

export class EventRecorder {
  /** id → the Event it was recorded as; Map order is recency (oldest first) */
  private readonly seen = new Map<string, { name: string; namespace: string; count: number; at: number }>();
  private readonly cap: number;

  constructor(
    private readonly client: KubeClient,
    private readonly o: EventRecorderOptions,
  ) {
    this.cap = Math.max(1, o.cacheSize ?? DEFAULT_CACHE_SIZE);
    if (o.registry) {
      const seen = this.seen;
      new Gauge({
        name: 'event_recorder_cache_entries',
        help: 'Distinct events the recorder remembers for aggregation (capped LRU)',
        registers: [o.registry],
        collect() {
          this.set(seen.size);
        },
      });
    }
  }

  /** Distinct events remembered now (at most `cacheSize`). */
  get cacheEntries(): number {
    return this.seen.size;
  }

  /** Records an event; never throws (an event is best effort and must not fail a reconcile). */
  async record(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const namespace = obj.metadata?.namespace || this.o.clusterScopedNamespace || 'default';
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const id = `${obj.kind}/${namespace}/${obj.metadata?.name}/${type}/${reason}/${message}`;
    const prev = this.seen.get(id);
    if (prev) this.seen.delete(id); // re-inserted below: most recent last
    try {
      if (prev && Date.now() - prev.at < (this.o.aggregateWindowMs ?? 10 * 60_000)) {
        prev.count++;
        prev.at = Date.now();
        this.remember(id, prev);
        await this.client.patch(EVENTS, prev.name, prev.namespace, { count: prev.count, lastTimestamp: now }, 'merge');
        return;
      }
      const name = `${obj.metadata?.name ?? 'object'}.${randomBytes(8).toString('hex')}`;
      await this.client.create(EVENTS, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata?.name,
          namespace: obj.metadata?.namespace,
          uid: obj.metadata?.uid,
          resourceVersion: obj.metadata?.resourceVersion,
        },
        type,
        reason,
        message,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: this.o.component },
        reportingComponent: this.o.component,
      });
      this.remember(id, { name, namespace, count: 1, at: Date.now() });
    } catch {
      // Best effort: the API server may be away; the log has the same information.
    }
  }

  private remember(id: string, e: { name: string; namespace: string; count: number; at: number }): void {
    this.seen.set(id, e);
    while (this.seen.size > this.cap) this.seen.delete(this.seen.keys().next().value!);
  }
}
