// A Kubernetes Events recorder (core/v1 Event): what a user sees in `kubectl describe` and
// `kubectl get events`. Repeats of the same event within the window bump `count` instead of
// creating new objects, as client-go's correlator does.
import { randomBytes } from 'node:crypto';
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
}

export class EventRecorder {
  private readonly seen = new Map<string, { name: string; namespace: string; count: number; at: number }>();
  constructor(
    private readonly client: KubeClient,
    private readonly o: EventRecorderOptions,
  ) {}

  /** Records an event; never throws (an event is best effort and must not fail a reconcile). */
  async record(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const namespace = obj.metadata?.namespace || this.o.clusterScopedNamespace || 'default';
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const id = `${obj.kind}/${namespace}/${obj.metadata?.name}/${type}/${reason}/${message}`;
    const prev = this.seen.get(id);
    try {
      if (prev && Date.now() - prev.at < (this.o.aggregateWindowMs ?? 10 * 60_000)) {
        prev.count++;
        prev.at = Date.now();
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
      this.seen.set(id, { name, namespace, count: 1, at: Date.now() });
    } catch {
      // Best effort: the API server may be away; the log has the same information.
    }
  }
}
