// The IPAM controller against a fake API server of CiliumNodes (resourceVersion-checked merge
// patches) and a cache that lags behind it, as an informer does. Each row is a script: terms of
// leadership, changes made elsewhere (another operator, an admin), reconciles from the cache.
import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { ClusterPool } from '../../../controllers/operator/cluster-pool.js';
import { ipamController, type CiliumNode } from '../../../controllers/operator/ipam-controller.js';
import {
  type Action,
  ApiError,
  FrameworkErrorCode,
  type KubeClient,
  type ReconcileContext,
  type Store,
} from '../../../controllers/framework/index.js';

type Step =
  /** Leadership gained (a new term: a fresh signal). */
  | { term: true }
  /** Someone else sets (or clears, with []) a node's podCIDRs, or creates the node. */
  | { elsewhere: string; podCIDRs: string[] }
  | { deleteElsewhere: string }
  /** The informer catches up with the API server. */
  | { sync: true }
  /** A reconcile of the node from the (maybe stale) cache; its action is recorded. */
  | { reconcile: string };

interface Row {
  pins: string;
  pool: { cidrs: string[]; maskSize: number };
  nodes: Record<string, string[]>;
  steps: Step[];
  /** podCIDRs on the API server at the end. */
  want: Record<string, string[]>;
  /** The reconciles' actions, in order. */
  actions: Action['type'][];
  /** operator-status errors written, by node (a substring). */
  errors?: Record<string, string>;
}

const POOL = { cidrs: ['10.0.0.0/22'], maskSize: 24 };

const TABLE: Row[] = [
  {
    pins: 'the first term learns every held CIDR before handing one out',
    pool: POOL,
    nodes: { a: ['10.0.0.0/24'], b: [] },
    steps: [{ term: true }, { reconcile: 'b' }, { sync: true }, { reconcile: 'b' }],
    want: { a: ['10.0.0.0/24'], b: ['10.0.1.0/24'] },
    actions: ['await-change', 'await-change'],
  },
  {
    pins: 'a later term relearns from the API server: what another leader allocated and freed meanwhile',
    pool: POOL,
    nodes: { a: [] },
    steps: [
      { term: true },
      { reconcile: 'a' },
      { sync: true },
      // lost the lease; another operator frees a's block by deleting it and gives c the next one
      { deleteElsewhere: 'a' },
      { elsewhere: 'c', podCIDRs: ['10.0.1.0/24'] },
      { elsewhere: 'd', podCIDRs: [] },
      { term: true },
      { sync: true },
      { reconcile: 'd' },
    ],
    want: { c: ['10.0.1.0/24'], d: ['10.0.0.0/24'] },
    actions: ['await-change', 'await-change'],
  },
  {
    pins: 'a term whose cache is stale never gives a node a CIDR another leader gave out meanwhile',
    pool: POOL,
    nodes: { a: [], b: [] },
    steps: [
      { term: true },
      { reconcile: 'a' },
      { sync: true },
      { elsewhere: 'c', podCIDRs: ['10.0.1.0/24'] },
      { term: true },
      { reconcile: 'b' },
    ],
    want: { a: ['10.0.0.0/24'], b: ['10.0.2.0/24'], c: ['10.0.1.0/24'] },
    actions: ['await-change', 'await-change'],
  },
  {
    pins: 'a podCIDRs write from a stale cache is refused by its resourceVersion, and the node requeued',
    pool: POOL,
    nodes: { b: [] },
    steps: [
      { term: true },
      { elsewhere: 'b', podCIDRs: ['10.0.3.0/24'] },
      { reconcile: 'b' },
      { sync: true },
      { reconcile: 'b' },
      { elsewhere: 'e', podCIDRs: [] },
      { sync: true },
      { reconcile: 'e' },
    ],
    want: { b: ['10.0.3.0/24'], e: ['10.0.0.0/24'] },
    actions: ['requeue', 'await-change', 'await-change'],
  },
  {
    pins: 'two nodes holding one CIDR: the younger is told who holds it',
    pool: POOL,
    nodes: { a: ['10.0.0.0/24'], b: ['10.0.0.0/24'] },
    steps: [{ term: true }, { reconcile: 'b' }, { reconcile: 'a' }],
    want: { a: ['10.0.0.0/24'], b: ['10.0.0.0/24'] },
    actions: ['await-change', 'await-change'],
    errors: { b: 'already allocated to node a' },
  },
  {
    pins: 'an exhausted pool is reported on the node and retried later',
    pool: { cidrs: ['10.0.0.0/24'], maskSize: 24 },
    nodes: { a: ['10.0.0.0/24'], b: [] },
    steps: [{ term: true }, { reconcile: 'b' }],
    want: { a: ['10.0.0.0/24'], b: [] },
    actions: ['requeue'],
    errors: { b: 'no free /24 left' },
  },
];

/** The API server's CiliumNodes: merge patches honour a resourceVersion precondition. */
class FakeApi {
  readonly live = new Map<string, CiliumNode>();
  readonly cache = new Map<string, CiliumNode>();
  readonly errors: Record<string, string> = {};
  private rv = 0;
  private created = 0;

  put(name: string, podCIDRs: string[]): void {
    const old = this.live.get(name);
    this.live.set(name, {
      metadata: {
        name,
        resourceVersion: String(++this.rv),
        creationTimestamp:
          old?.metadata?.creationTimestamp ?? `2026-01-01T00:00:${String(++this.created).padStart(2, '0')}Z`,
      },
      spec: { ipam: { podCIDRs } },
    });
  }

  readonly client = {
    list: async () => ({ metadata: {}, items: [...this.live.values()].map((n) => structuredClone(n)) }),
    get: async (_r: unknown, name: string) => {
      const n = this.live.get(name);
      if (!n) throw new ApiError(FrameworkErrorCode.NotFound, 404, 'NotFound', `${name} not found`);
      return structuredClone(n);
    },
    patch: async (_r: unknown, name: string, _ns: unknown, body: CiliumNode) => {
      const n = this.live.get(name);
      if (!n) throw new ApiError(FrameworkErrorCode.NotFound, 404, 'NotFound', `${name} not found`);
      const want = body.metadata?.resourceVersion;
      if (want !== undefined && want !== n.metadata!.resourceVersion)
        throw new ApiError(FrameworkErrorCode.Conflict, 409, 'Conflict', 'the object has been modified');
      this.put(name, body.spec?.ipam?.podCIDRs ?? n.spec?.ipam?.podCIDRs ?? []);
      return structuredClone(this.live.get(name)!);
    },
  } as unknown as KubeClient;

  context(key: string, signal: AbortSignal): ReconcileContext<CiliumNode> {
    return {
      key,
      object: structuredClone(this.cache.get(key)),
      client: this.client,
      store: { list: () => [...this.cache.values()] } as unknown as Store<CiliumNode>,
      log: pino({ level: 'silent' }),
      signal,
      patchStatus: async (status) => {
        const err = (status as CiliumNode['status'])?.ipam?.['operator-status']?.error;
        if (err) this.errors[key] = err;
        return true;
      },
      setCondition: async () => true,
      event: async () => undefined,
    };
  }
}

describe('IPAM controller (cluster pool)', () => {
  it.each(TABLE.map((r) => [r.pins, r] as const))('%s', async (_pins, row) => {
    const api = new FakeApi();
    for (const [name, cidrs] of Object.entries(row.nodes)) api.put(name, cidrs);
    for (const [k, v] of api.live) api.cache.set(k, structuredClone(v));
    const controller = ipamController(new ClusterPool(row.pool));
    let term = new AbortController();
    const actions: Action['type'][] = [];
    for (const step of row.steps) {
      if ('term' in step) {
        term.abort();
        term = new AbortController();
      } else if ('elsewhere' in step) api.put(step.elsewhere, step.podCIDRs);
      else if ('deleteElsewhere' in step) api.live.delete(step.deleteElsewhere);
      else if ('sync' in step) {
        api.cache.clear();
        for (const [k, v] of api.live) api.cache.set(k, structuredClone(v));
      } else actions.push((await controller.reconcile!(step.reconcile, api.context(step.reconcile, term.signal))).type);
    }
    const final = Object.fromEntries([...api.live].map(([k, v]) => [k, v.spec?.ipam?.podCIDRs ?? []]));
    expect(final).toEqual(row.want);
    expect(actions).toEqual(row.actions);
    for (const [node, msg] of Object.entries(row.errors ?? {})) expect(api.errors[node]).toContain(msg);
    if (!row.errors) expect(api.errors).toEqual({});
    // never two nodes on one CIDR unless the row set them up that way
    if (!row.errors?.b?.includes('already')) {
      const held = Object.values(final).flat();
      expect(new Set(held).size).toBe(held.length);
    }
  });
});
