// The packed map what-if looks connections up in gives lookupVerdict's answer (the datapath
// contract in policy/entries.ts) on every query, over a synthetic cluster's real maps.
import { describe, expect, it } from '@jest/globals';
import { lookupVerdict, PolicyEngine, translatePolicy, type PolicyEvent } from '../../policy/index.js';
import { MapIndex } from '../../whatif/map-index.js';
import { FULL_SIZE, makeWorkload, rng } from '../../hack/bench/policy-workload.js';

describe('MapIndex', () => {
  it('agrees with lookupVerdict on 20,000 random (endpoint, direction, peer, protocol, port) queries', () => {
    const w = makeWorkload(3, { ...FULL_SIZE, namespaces: 10, endpoints: 60, policies: 150 });
    const engine = new PolicyEngine();
    engine.apply([
      ...w.identities.map((i): PolicyEvent => ({ type: 'identity-upserted', id: i.id, labels: i.labels })),
      ...w.policies.map((p): PolicyEvent => ({ type: 'policy-upserted', policy: translatePolicy(p) })),
      ...w.endpoints.map((endpoint): PolicyEvent => ({ type: 'endpoint-upserted', endpoint })),
    ]);
    const r = rng(11);
    const pick = <T>(l: readonly T[]): T => l[Math.floor(r() * l.length)]!;
    const peers = [0, 1, 2, 6, 7, ...w.identities.map((i) => i.id), ...engine.cidrIdentities().map((c) => c.identity)];
    const ports = [0, 1, 53, 80, 443, 1024, 8080, 9000, 30000, 65535];
    let checked = 0;
    const verdicts = new Set<string>();
    for (const id of engine.endpointIds()) {
      const entries = engine.endpointEntries(id);
      const index = new MapIndex(entries);
      for (let i = 0; i < 350; i++) {
        // half the queries aim at an entry of the map (its peer, protocol and a port inside its prefix)
        const e = r() < 0.5 && entries.length ? pick(entries) : undefined;
        const direction = e?.direction ?? pick(['ingress', 'egress'] as const);
        const peer = e && e.identity !== 0 ? e.identity : pick(peers);
        const protocol = e && e.protocol !== 0 ? e.protocol : pick([6, 17, 132, 1, 58]);
        const span = e ? 2 ** (16 - e.portPrefix.prefixLen) : 0;
        const port = e ? e.portPrefix.port + Math.floor(r() * span) : r() < 0.5 ? pick(ports) : Math.floor(r() * 65536);
        const want = lookupVerdict(entries, direction, peer, protocol, port);
        expect(index.lookup(direction, peer, protocol, port)).toBe(want);
        verdicts.add(want);
        checked++;
      }
    }
    expect(checked).toBe(60 * 350);
    expect([...verdicts].sort()).toEqual(['allow', 'deny', 'drop']);
  });
});
