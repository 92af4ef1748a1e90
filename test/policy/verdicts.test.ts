// The verdict table: each row names the upstream behaviour it pins ("docs: X" is
// https://docs.cilium.io/en/stable/X/, "kubernetes.io network-policies" the Kubernetes NetworkPolicy concept page)
// and checks that the datapath's map lookup at both ends and the policy trace give the same, expected verdict.
// The rows live in table-*.ts.
import { describe, expect, it } from '@jest/globals';
import { Fixture } from './fixture.js';
import type { Scenario } from './table.js';
import { DENY_TABLE } from './table-deny.js';
import { FQDN_POLICY_TABLE } from './table-fqdn.js';
import { NETWORK_POLICY_TABLE } from './table-network-policy.js';
import { PEERS_TABLE } from './table-peers.js';
import { PORTS_TABLE } from './table-ports.js';

const scenarios: Scenario[] = [
  ...DENY_TABLE,
  ...PEERS_TABLE,
  ...PORTS_TABLE,
  ...NETWORK_POLICY_TABLE,
  ...FQDN_POLICY_TABLE,
];
const rows = scenarios.flatMap((s) => s.checks.map((c) => ({ s, c })));

describe('policy verdicts (map lookup at both ends and trace agree with upstream)', () => {
  it(`has at least 150 rows (${rows.length})`, () => {
    expect(rows.length).toBeGreaterThanOrEqual(150);
  });
  const fixtures = new Map<Scenario, Fixture>();
  const fixtureOf = (s: Scenario): Fixture => {
    let f = fixtures.get(s);
    if (!f) fixtures.set(s, (f = new Fixture(s.policies, s.options, undefined, s.learned)));
    return f;
  };
  describe.each(scenarios.map((s) => [s.pins, s] as const))('%s', (_pins, s) => {
    it.each(s.checks.map((c) => [`${c[0]} -> ${c[1]} proto ${c[2]} port ${c[3]} = ${c[4]}`, c] as const))(
      '%s',
      (_name, [from, to, proto, port, want]) => {
        const f = fixtureOf(s);
        expect({ map: f.mapVerdict(from, to, proto, port), trace: f.traceVerdict(from, to, proto, port) }).toEqual({
          map: want,
          trace: want,
        });
      },
    );
    it('incremental maps equal a full recomputation', () => {
      expect(fixtureOf(s).consistent()).toBe(true);
    });
  });
});
