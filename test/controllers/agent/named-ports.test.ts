// The cluster named-port feed kept by reference counts per CiliumEndpoint event against the table
// built from scratch from the store: random adds, changes, deletes and relists must give the same
// table, and the engine hears only when the set of distinct named ports changed.
import { describe, expect, it } from '@jest/globals';
import { Store } from '../../../controllers/framework/index.js';
import { NamedPortsFeed } from '../../../controllers/agent/named-ports.js';
import type { CepObject } from '../../../controllers/agent/resources.js';
import { gen, FUZZ_SEED, type Gen } from '../../fuzz/seed.js';

/** The table from scratch: every policy-usable named port of every CEP, sorted. */
function rebuild(ceps: Store<CepObject>): Record<string, { port: number; protocol: string }[]> {
  const table = new Map<string, Map<string, { port: number; protocol: string }>>();
  for (const cep of ceps.list())
    for (const np of cep.status?.['named-ports'] ?? []) {
      const protocol = (np.protocol ?? 'TCP').toUpperCase();
      if (!np.name || !['TCP', 'UDP', 'SCTP'].includes(protocol)) continue;
      if (!table.has(np.name)) table.set(np.name, new Map());
      table.get(np.name)!.set(`${np.port}/${protocol}`, { port: np.port, protocol });
    }
  return Object.fromEntries(
    [...table]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([n, m]) => [n, [...m.values()].sort((a, b) => a.port - b.port || (a.protocol < b.protocol ? -1 : 1))]),
  );
}

let rv = 0;
const cep = (g: Gen, name: string): CepObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumEndpoint',
  metadata: { name, namespace: 'ns', resourceVersion: String(++rv) },
  status: {
    'named-ports': Array.from({ length: g.int(3) }, () => ({
      name: g.pick(['http', 'dns', 'metrics', '']),
      port: g.pick([53, 80, 8080]),
      ...(g.chance(0.8) ? { protocol: g.pick(['TCP', 'udp', 'SCTP', 'ICMP']) } : {}),
    })),
  },
});

describe('NamedPortsFeed (incremental) against a full rebuild', () => {
  it.each([1, 2, 3, 4])('random event sequence %i (FUZZ_SEED=' + FUZZ_SEED + ')', (salt) => {
    const g = gen((0x9e7 << 4) ^ salt);
    const ceps = new Store<CepObject>();
    const fed: unknown[] = [];
    const feed = new NamedPortsFeed(ceps, { apply: (e: unknown[]) => fed.push(...e) } as never);
    let table: unknown = undefined; // the first call always feeds (the engine starts with none)
    for (let i = 0; i < 300; i++) {
      const name = `pod-${g.int(6)}`;
      const r = g.int(6);
      if (r < 3) ceps.apply({ type: 'Apply', object: cep(g, name) });
      else if (r < 5) {
        const old = ceps.get(`ns/${name}`);
        if (old) ceps.apply({ type: 'Delete', object: old });
      } else {
        const keep = ceps.list().filter(() => g.chance(0.6));
        ceps.apply({ type: 'Init' });
        for (const o of keep) ceps.apply({ type: 'InitApply', object: g.chance(0.3) ? cep(g, o.metadata!.name!) : o });
        ceps.apply({ type: 'InitDone', resourceVersion: String(i) });
      }
      const ev = feed.event();
      const want = rebuild(ceps);
      // an event exactly when the table differs from the one fed last
      if (JSON.stringify(want) !== JSON.stringify(table)) {
        expect(ev).toEqual({ type: 'cluster-named-ports', ports: want });
        table = want;
      } else expect(ev).toBeUndefined();
    }
    feed.stop();
  });
});
