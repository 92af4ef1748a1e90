// The event recorder's repeats cache: repeats within the window bump one Event's count, and the
// cache is an LRU with a cap (the least recently recorded event is forgotten first) whose size is
// exported as a metric.
import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { EventRecorder, type KubeClient, type KubeObject } from '../../../controllers/framework/index.js';

/** A client that records what the recorder sends (the recorder's only dependency). */
function fakeClient() {
  const calls: { op: 'create' | 'patch'; name: string; body: Record<string, unknown> }[] = [];
  const client = {
    create: async (_r: unknown, body: { metadata: { name: string } }) => {
      calls.push({ op: 'create', name: body.metadata.name, body: body as never });
      return body;
    },
    patch: async (_r: unknown, name: string, _ns: string, body: Record<string, unknown>) => {
      calls.push({ op: 'patch', name, body });
      return body;
    },
  };
  return { client: client as unknown as KubeClient, calls };
}

const pod = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ns' } });

describe('EventRecorder', () => {
  it('aggregates repeats into one Event with a count', async () => {
    const { client, calls } = fakeClient();
    const r = new EventRecorder(client, { component: 'test' });
    for (let i = 0; i < 3; i++) await r.record(pod('a'), 'Warning', 'Failed', 'boom');
    expect(calls.map((c) => c.op)).toEqual(['create', 'patch', 'patch']);
    expect(calls[2]!.name).toBe(calls[0]!.name);
    expect(calls[2]!.body.count).toBe(3);
  });

  it('keeps at most cacheSize distinct events, forgetting the least recently recorded', async () => {
    const { client, calls } = fakeClient();
    const registry = new Registry();
    const r = new EventRecorder(client, { component: 'test', cacheSize: 3, registry });
    for (const n of ['a', 'b', 'c']) await r.record(pod(n), 'Normal', 'Created', 'ok');
    await r.record(pod('a'), 'Normal', 'Created', 'ok'); // a is now the most recent
    await r.record(pod('d'), 'Normal', 'Created', 'ok'); // evicts b
    expect(r.cacheEntries).toBe(3);
    calls.length = 0;
    await r.record(pod('a'), 'Normal', 'Created', 'ok');
    await r.record(pod('b'), 'Normal', 'Created', 'ok');
    expect(calls.map((c) => c.op)).toEqual(['patch', 'create']);
    for (let i = 0; i < 100; i++) await r.record(pod(`p${i}`), 'Normal', 'Created', 'ok');
    expect(r.cacheEntries).toBe(3);
    const text = await registry.metrics();
    expect(text).toMatch(/^event_recorder_cache_entries 3$/m);
  });
});
