// The L7 table the agent sends its proxy (policy/l7-table.ts) answers l7Rules exactly as the
// engine does: for every scenario of table-l7.ts, every endpoint, both directions, every identity
// the engine knows, TCP and UDP, and every port the scenarios name (plus neighbours).
import { describe, expect, it } from '@jest/globals';
import { L7Lookup, type L7Table } from '../../policy/index.js';
import { Fixture, P } from './fixture.js';
import { L7_TABLE } from './table-l7.js';

describe('L7Lookup over the plain table = PolicyEngine.l7Rules', () => {
  // tuples the engine gave a verdict for, over every scenario (some scenarios have none: a deny wins)
  let withRules = 0;
  it.each(L7_TABLE.map((s) => [s.pins, s] as const))('%s', (_pins, s) => {
    const f = new Fixture(s.policies);
    const ports = [...new Set(s.checks.flatMap((c) => [c[3], c[3] + 1, c[3] - 1]))].filter((p) => p > 0);
    const peers = [...f.engine.identities()].map((i) => i.id);
    let compared = 0;
    for (const ep of f.engine.endpointIds()) {
      // through JSON, as it crosses the socket
      const table = f.engine.l7Table(ep);
      const lookup = table && new L7Lookup(JSON.parse(JSON.stringify(table)) as L7Table);
      for (const dir of ['ingress', 'egress'] as const)
        for (const peer of peers)
          for (const proto of [P.TCP, P.UDP])
            for (const port of ports) {
              const want = f.engine.l7Rules(ep, dir, peer, proto, port);
              // no table: the engine has no L7 rule for this endpoint at all
              const got = lookup ? lookup.l7Rules(dir, peer, proto, port) : undefined;
              expect(got === undefined ? undefined : JSON.parse(JSON.stringify(got))).toEqual(
                want === undefined ? undefined : JSON.parse(JSON.stringify(want)),
              );
              compared++;
              if (want) withRules++;
            }
    }
    expect(compared).toBeGreaterThan(0);
  });

  it('the scenarios above compared real verdicts (not only "no L7 rules")', () => {
    expect(withRules).toBeGreaterThan(0);
  });

  it('an endpoint whose policy has no L7 rules has no table', () => {
    const f = new Fixture([]);
    for (const ep of f.engine.endpointIds()) expect(f.engine.l7Table(ep)).toBeUndefined();
  });
});
