// The identity collector's decisions, one reconcile at a time against a recording client (a unit
// test of this module): an unused identity younger than the heartbeat timeout is left alone (its
// creation is its sign of life, as upstream's heartbeat store counts a CID upsert), an older one is
// marked, a marked one a timeout later is deleted with its uid and resourceVersion as preconditions.
import { describe, expect, it } from '@jest/globals';
import type { KubeObject, ReconcileContext, Store } from '../../../controllers/framework/index.js';
import { HEARTBEAT_ANNOTATION, identityGcController } from '../../../controllers/operator/identity-gc.js';

const H = 60_000;
const T0 = Date.parse('2026-12-05T03:00:00Z');
const opts = {
  identityGcIntervalMs: 30_000,
  identityHeartbeatTimeoutMs: H,
  identityGcRateLimit: 2500,
  identityGcRateIntervalMs: 60_000,
  endpointGcIntervalMs: 300_000,
  nodeGcIntervalMs: 300_000,
};

function run(id: KubeObject, at: number, usedBy: string[] = []) {
  const sent: { verb: string; body?: unknown; opts?: unknown }[] = [];
  const ceps = {
    waitUntilReady: async () => undefined,
    byIndex: () => usedBy.map((n) => ({ metadata: { name: n } })),
  } as unknown as Store<KubeObject>;
  const c = identityGcController(
    () => ceps,
    opts,
    () => at,
  );
  const ctx = {
    key: id.metadata!.name!,
    object: id,
    client: {
      patch: async (_r: unknown, _n: unknown, _ns: unknown, body: unknown) => void sent.push({ verb: 'PATCH', body }),
      delete: async (_r: unknown, _n: unknown, _ns: unknown, o: unknown) => void sent.push({ verb: 'DELETE', opts: o }),
    },
    log: { info: () => undefined },
  } as unknown as ReconcileContext<KubeObject>;
  return c.reconcile!(id.metadata!.name!, ctx).then((action) => ({ action, sent }));
}

const identity = (created: number, mark?: number): KubeObject => ({
  metadata: {
    name: '30001',
    uid: 'u-1',
    resourceVersion: '7',
    creationTimestamp: new Date(created).toISOString(),
    ...(mark !== undefined ? { annotations: { [HEARTBEAT_ANNOTATION]: new Date(mark).toISOString() } } : {}),
  },
});

describe('identity GC decisions', () => {
  it('leaves an unused identity younger than the heartbeat timeout unmarked, and looks again when it is old enough', async () => {
    const { action, sent } = await run(identity(T0), T0 + 20_000);
    expect(sent).toEqual([]);
    expect(action).toEqual({ type: 'requeue', afterMs: H - 20_000 });
  });

  it('marks an unused identity older than the heartbeat timeout and looks again a timeout later', async () => {
    const { action, sent } = await run(identity(T0), T0 + H + 1);
    expect(sent).toEqual([
      {
        verb: 'PATCH',
        body: { metadata: { annotations: { [HEARTBEAT_ANNOTATION]: new Date(T0 + H + 1).toISOString() } } },
      },
    ]);
    expect(action).toEqual({ type: 'requeue', afterMs: H });
  });

  it('deletes a marked identity a timeout after its mark, with uid and resourceVersion preconditions', async () => {
    const early = await run(identity(T0, T0 + H), T0 + H + 30_000);
    expect(early.sent).toEqual([]);
    expect(early.action).toEqual({ type: 'requeue', afterMs: 30_000 });
    const { sent } = await run(identity(T0, T0 + H), T0 + 2 * H);
    expect(sent).toEqual([{ verb: 'DELETE', opts: { preconditions: { uid: 'u-1', resourceVersion: '7' } } }]);
  });

  it('neither marks nor deletes an identity in use, and removes a mark it carries', async () => {
    expect((await run(identity(T0), T0 + 10 * H, ['app/p1'])).sent).toEqual([]);
    expect((await run(identity(T0, T0 + H), T0 + 10 * H, ['app/p1'])).sent).toEqual([
      { verb: 'PATCH', body: { metadata: { annotations: { [HEARTBEAT_ANNOTATION]: null } } } },
    ]);
  });
});
