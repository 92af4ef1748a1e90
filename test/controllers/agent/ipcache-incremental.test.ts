// The incremental ipcache against a full rebuild: random sequences of CiliumEndpoint and
// CiliumNode adds, changes, deletes and relists, local endpoint, CIDR and node-address changes —
// over a small pool of addresses so owners overlap often — must leave both the assembler's state
// and the (sim) kernel map equal to what a from-scratch rebuild of every source says, with the
// per-event path writing only the prefixes that changed.
import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { SimDatapath } from '../../../datapath/sim.js';
import { Store } from '../../../controllers/framework/index.js';
import { HOST_IDENTITY, IpcacheAssembler, REMOTE_NODE_IDENTITY } from '../../../controllers/agent/ipcache.js';
import type { IpcacheSources } from '../../../controllers/agent/ipcache.js';
import { agentMetrics } from '../../../controllers/agent/metrics.js';
import type { CepObject, CiliumNodeObject } from '../../../controllers/agent/resources.js';
import { gen, FUZZ_SEED, type Gen } from '../../fuzz/seed.js';

const NODE_NAME = 'node-1';
const IPS = Array.from({ length: 10 }, (_, i) => `10.0.${i % 3}.${i}`);
const STAMPS = ['2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z', undefined];

interface LocalEndpoint {
  id: number;
  ipv4: string;
  identity?: number;
  state: string;
}

/** The sources an agent has, as plain state the test mutates. */
class World {
  readonly ceps = new Store<CepObject>();
  readonly nodes = new Store<CiliumNodeObject>();
  readonly cidrs = new Map<string, number>();
  locals: LocalEndpoint[] = [];
  router: string | undefined;
  nodeIp: string | undefined;
  private rv = 0;

  cep(g: Gen, name: string): CepObject {
    const stamp = g.pick(STAMPS);
    return {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumEndpoint',
      metadata: {
        name,
        namespace: g.pick(['a', 'b']),
        resourceVersion: String(++this.rv),
        ...(stamp ? { creationTimestamp: stamp } : {}),
      },
      status: {
        ...(g.chance(0.85) ? { identity: { id: 1000 + g.int(5) } } : {}),
        networking: { addressing: Array.from({ length: g.int(3) }, () => ({ ipv4: g.pick(IPS) })) },
      },
    };
  }

  node(g: Gen, name: string): CiliumNodeObject {
    return {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNode',
      metadata: { name, resourceVersion: String(++this.rv) },
      spec: {
        addresses: Array.from({ length: 1 + g.int(2) }, () => ({
          type: g.pick(['InternalIP', 'CiliumInternalIP']),
          ip: g.chance(0.1) ? 'fd00::1' : g.pick(IPS),
        })),
      },
    };
  }

  sources(dp: SimDatapath): IpcacheSources {
    const hub = { gateOpen: false, cidrIdentities: this.cidrs };
    const endpoints = {
      list: () => this.locals,
      datapathEndpoints: () =>
        this.locals
          .filter((e) => e.identity !== undefined)
          .map((e) => ({ id: e.id, ips: [e.ipv4], ifindex: 10 + e.id, identity: e.identity! })),
    };
    return {
      nodeName: NODE_NAME,
      datapath: dp,
      hub: hub as never,
      nodes: this.nodes,
      ceps: this.ceps,
      endpoints: endpoints as never,
      ipam: {
        get ready() {
          return world.router !== undefined;
        },
        get router() {
          return world.router;
        },
      } as never,
      nodeIp: () => this.nodeIp,
      metrics: agentMetrics(new Registry(), () => []),
      log: pino({ level: 'silent' }),
    };
  }
}
let world: World;

/** The ipcache from scratch: every source in rank order, later puts win; ties by (order, owner). */
function rebuild(w: World): string[] {
  const out = new Map<string, number>();
  const put = (prefix: string, identity: number) => out.set(prefix, identity);
  for (const [prefix, id] of w.cidrs) put(prefix, id);
  const nodes = [...w.nodes.keys()].sort();
  for (const key of nodes)
    for (const a of w.nodes.get(key)!.spec?.addresses ?? [])
      if (a.ip && !a.ip.includes(':')) put(`${a.ip}/32`, key === NODE_NAME ? HOST_IDENTITY : REMOTE_NODE_IDENTITY);
  const ceps = w.ceps
    .keys()
    .map((key) => ({ key, cep: w.ceps.get(key)!, order: w.ceps.get(key)!.metadata?.creationTimestamp ?? '' }))
    .sort((a, b) => (a.order !== b.order ? (a.order < b.order ? -1 : 1) : a.key < b.key ? -1 : 1));
  for (const { cep } of ceps) {
    const id = cep.status?.identity?.id;
    for (const a of cep.status?.networking?.addressing ?? []) if (a.ipv4 && id) put(`${a.ipv4}/32`, id);
  }
  const locals = [...w.locals].sort((a, b) => (String(a.id) < String(b.id) ? -1 : 1));
  for (const ep of locals) if (ep.identity !== undefined) put(`${ep.ipv4}/32`, ep.identity);
  if (w.router) put(`${w.router}/32`, HOST_IDENTITY);
  if (w.nodeIp) put(`${w.nodeIp}/32`, HOST_IDENTITY);
  return sorted([...out].map(([prefix, identity]) => ({ prefix, identity })));
}

const sorted = (e: readonly { prefix: string; identity: number }[]) => e.map((x) => `${x.prefix}=${x.identity}`).sort();

/** One random change to one source; returns what the assembler must hear about it. */
function step(g: Gen, w: World, a: IpcacheAssembler): void {
  const cepName = `pod-${g.int(8)}`;
  const existing = w.ceps.keys().filter((k) => k.endsWith(`/${cepName}`));
  switch (g.int(10)) {
    case 0:
    case 1:
    case 2: {
      // a CEP added or changed (its namespace may differ from the existing one's: another owner)
      w.ceps.apply({ type: 'Apply', object: w.cep(g, cepName) });
      return;
    }
    case 3:
      if (existing[0]) w.ceps.apply({ type: 'Delete', object: w.ceps.get(existing[0])! });
      return;
    case 4:
      if (g.chance(0.7)) w.nodes.apply({ type: 'Apply', object: w.node(g, g.pick([NODE_NAME, 'node-2', 'node-3'])) });
      else {
        const key = g.pick(w.nodes.keys().length ? w.nodes.keys() : ['node-2']);
        const obj = w.nodes.get(key);
        if (obj) w.nodes.apply({ type: 'Delete', object: obj });
      }
      return;
    case 5: {
      // a relist: the store swaps in a random subset, new objects included
      const keep = w.ceps.keys().filter(() => g.chance(0.6));
      w.ceps.apply({ type: 'Init' });
      for (const k of keep)
        w.ceps.apply({ type: 'InitApply', object: g.chance(0.3) ? w.cep(g, k.split('/')[1]!) : w.ceps.get(k)! });
      if (g.chance(0.5)) w.ceps.apply({ type: 'InitApply', object: w.cep(g, cepName) });
      w.ceps.apply({ type: 'InitDone', resourceVersion: String(g.int(1e6)) });
      return;
    }
    case 6: {
      const id = 1 + g.int(12);
      w.locals = w.locals.filter((e) => e.id !== id);
      if (g.chance(0.7))
        w.locals.push({
          id,
          ipv4: g.pick(IPS),
          state: 'ready',
          ...(g.chance(0.8) ? { identity: 2000 + g.int(3) } : {}),
        });
      a.endpointsChanged();
      return;
    }
    case 7: {
      const prefix = g.pick([...IPS.map((ip) => `${ip}/32`), '10.0.0.0/24', '192.168.0.0/16']);
      if (w.cidrs.has(prefix) && g.chance(0.5)) w.cidrs.delete(prefix);
      else w.cidrs.set(prefix, 16_777_217 + g.int(4));
      a.cidrsChanged();
      return;
    }
    case 8:
      w.nodeIp = g.chance(0.7) ? g.pick(IPS) : undefined;
      a.schedule();
      return;
    case 9:
      w.router = g.chance(0.7) ? g.pick(IPS) : undefined;
      a.schedule();
      return;
  }
}

describe('IpcacheAssembler (incremental) against a full rebuild', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('random event sequence %i (FUZZ_SEED=' + FUZZ_SEED + ')', (salt) => {
    const g = gen((0x1ca << 8) ^ salt);
    world = new World();
    const dp = new SimDatapath();
    const sources = world.sources(dp);
    const a = new IpcacheAssembler(sources);
    try {
      // The gate opens at a random point: changes before it are only bookkept.
      const openAt = g.int(30);
      for (let i = 0; i < 400; i++) {
        if (i === openAt) {
          (sources.hub as unknown as { gateOpen: boolean }).gateOpen = true;
          a.sync();
        }
        step(g, world, a);
        // a reader beside the datapath (the L7 proxy's state) between syncs takes nothing from them
        if (g.chance(0.2)) a.written();
        if (i >= openAt && g.chance(0.3)) {
          a.sync();
          const want = rebuild(world);
          expect(sorted(a.written())).toEqual(want);
          expect(sorted(a.entries())).toEqual(want);
          expect(sorted(dp.dumpIpcache())).toEqual(want);
        }
      }
      a.sync();
      expect(sorted(dp.dumpIpcache())).toEqual(rebuild(world));
    } finally {
      a.stop();
    }
  });

  it('a CEP event writes only its own prefixes, not the cluster', () => {
    world = new World();
    const dp = new SimDatapath();
    const sources = world.sources(dp);
    const a = new IpcacheAssembler(sources);
    const g = gen(77);
    for (let i = 0; i < 500; i++) {
      const cep = world.cep(g, `pod-${i}`);
      cep.status = {
        identity: { id: 5000 + (i % 7) },
        networking: { addressing: [{ ipv4: `10.${(i >> 8) & 255}.${i & 255}.1` }] },
      };
      world.ceps.apply({ type: 'Apply', object: cep });
    }
    (sources.hub as unknown as { gateOpen: boolean }).gateOpen = true;
    expect(a.sync().ipcache).toEqual({ added: 500, updated: 0, removed: 0, unchanged: 0 });
    const one = world.ceps.get('a/pod-3') ?? world.ceps.get('b/pod-3')!;
    world.ceps.apply({
      type: 'Apply',
      object: { ...one, status: { ...one.status, identity: { id: 9999 } } },
    });
    expect(a.sync().ipcache).toEqual({ added: 1, updated: 0, removed: 0, unchanged: 0 });
    world.ceps.apply({ type: 'Delete', object: one });
    expect(a.sync().ipcache).toEqual({ added: 0, updated: 0, removed: 1, unchanged: 0 });
    // nothing changed: nothing written
    expect(a.sync().ipcache).toBeUndefined();
    expect(dp.dumpIpcache()).toHaveLength(499);
    a.stop();
  });

  it('written() is what the map holds, and its revision moves only when a sync changed it', () => {
    world = new World();
    const dp = new SimDatapath();
    const sources = world.sources(dp);
    const a = new IpcacheAssembler(sources);
    (sources.hub as unknown as { gateOpen: boolean }).gateOpen = true;
    a.sync();
    const r0 = a.revision;
    const cep = world.cep(gen(5), 'pod-x');
    cep.status = { identity: { id: 5001 }, networking: { addressing: [{ ipv4: '10.7.0.1' }] } };
    world.ceps.apply({ type: 'Apply', object: cep });
    // read before the sync (the L7 channel's timer can run first): the change is still the sync's
    expect(a.written().some((e) => e.prefix === '10.7.0.1/32')).toBe(false);
    expect(a.revision).toBe(r0);
    expect(a.sync().ipcache).toEqual({ added: 1, updated: 0, removed: 0, unchanged: 0 });
    expect(a.written().find((e) => e.prefix === '10.7.0.1/32')?.identity).toBe(5001);
    expect(a.revision).toBe(r0 + 1);
    expect(a.sync().ipcache).toBeUndefined();
    expect(a.revision).toBe(r0 + 1);
    a.stop();
  });
});
