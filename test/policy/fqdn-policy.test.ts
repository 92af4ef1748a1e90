// toFQDNs in the engine: the verdict rows of table-fqdn.ts (map lookup at both ends and trace
// agree, incremental maps equal a recomputation), and the engine's outputs for the agent: the CIDR
// identities of learned IPs come and go with the selections, numbers stable across relabels.
import { describe, expect, it } from '@jest/globals';
import {
  PolicyEngine,
  endpointLabels,
  lookupVerdict,
  translatePolicy,
  validCondition,
  type PolicyOutput,
} from '../../policy/index.js';
import { Fixture, P, cnp } from './fixture.js';
import { FQDN_POLICY_TABLE, type FqdnScenario } from './table-fqdn.js';
import { app, ports, tcp } from './table.js';

function fixtureOf(s: FqdnScenario): Fixture {
  const f = new Fixture([]);
  if (s.before) f.engine.applyFqdnDeltas(s.before);
  for (const pol of s.policies) f.engine.apply([{ type: 'policy-upserted', policy: translatePolicy(pol) }]);
  if (s.after) for (const d of s.after) f.engine.applyFqdnDeltas([d]);
  return f;
}

describe('toFQDNs verdicts (table-fqdn.ts)', () => {
  const fixtures = new Map<FqdnScenario, Fixture>();
  const get = (s: FqdnScenario): Fixture => {
    let f = fixtures.get(s);
    if (!f) fixtures.set(s, (f = fixtureOf(s)));
    return f;
  };
  describe.each(FQDN_POLICY_TABLE.map((s) => [s.pins, s] as const))('%s', (_pins, s) => {
    it.each(s.checks.map((c) => [`${c[0]} -> ${c[1]} proto ${c[2]} port ${c[3]} = ${c[4]}`, c] as const))(
      '%s',
      (_name, [from, to, proto, port, want]) => {
        const f = get(s);
        expect({ map: f.mapVerdict(from, to, proto, port), trace: f.traceVerdict(from, to, proto, port) }).toEqual({
          map: want,
          trace: want,
        });
      },
    );
    it('incremental maps equal a full recomputation', () => {
      expect(get(s).consistent()).toBe(true);
    });
  });
});

const WEB = 300;
const EP = 7;
const toApi = (name = 'to-api') =>
  translatePolicy(
    cnp('prod', name, {
      endpointSelector: app('web'),
      egress: [{ toFQDNs: [{ matchName: 'api.example.test' }], toPorts: ports(tcp(443)) }],
    }),
  );

function engineWithWeb(): PolicyEngine {
  const e = new PolicyEngine();
  e.apply([
    { type: 'identity-upserted', id: WEB, labels: endpointLabels({ podLabels: { app: 'web' }, namespace: 'prod' }) },
    { type: 'endpoint-upserted', endpoint: { id: EP, identity: WEB } },
  ]);
  return e;
}

const cidrOutputs = (out: PolicyOutput[]) =>
  out.filter((o) => o.type === 'cidr-identity-added' || o.type === 'cidr-identity-removed');

describe('applyFqdnDeltas: outputs for the agent', () => {
  it('a learned IP: its CIDR identity and the endpoint delta allowing it come out of the same call', () => {
    const e = engineWithWeb();
    e.apply([{ type: 'policy-upserted', policy: toApi() }]);
    const out = e.applyFqdnDeltas([{ type: 'ipsAdded', name: 'api.example.test.', ips: ['192.0.2.10'] }]);
    const [added] = cidrOutputs(out);
    expect(added).toMatchObject({ type: 'cidr-identity-added', prefix: '192.0.2.10/32' });
    const id = (added as { identity: number }).identity;
    expect(id).toBeGreaterThanOrEqual((1 << 24) + 1);
    const delta = out.find((o) => o.type === 'endpoint-delta');
    expect(delta).toMatchObject({ endpoint: EP });
    expect((delta as { added: readonly unknown[] }).added).toEqual([
      expect.objectContaining({ identity: id, direction: 'egress', protocol: P.TCP, verdict: 'allow' }),
    ]);
    expect(lookupVerdict(e.endpointEntries(EP), 'egress', id, P.TCP, 443)).toBe('allow');
    expect(e.identity(id)?.labels.toString()).toContain('fqdn:api.example.test.');
  });

  it('a name nobody selects gets no identity; an unparsable IP is reported, not thrown', () => {
    const e = engineWithWeb();
    e.apply([{ type: 'policy-upserted', policy: toApi() }]);
    const out = e.applyFqdnDeltas([
      { type: 'ipsAdded', name: 'other.example.test.', ips: ['192.0.2.20'] },
      { type: 'ipsAdded', name: 'api.example.test.', ips: ['not-an-ip'] },
    ]);
    expect(cidrOutputs(out)).toEqual([]);
    expect(out).toContainEqual({
      type: 'problem',
      problem: expect.objectContaining({ code: 'POLICY_ERR_BAD_CIDR', field: 'not-an-ip' }),
    });
    expect(e.cidrIdentities()).toEqual([]);
  });

  it('expiry removes the identity and the entry; a second selector on the IP keeps the number', () => {
    const e = engineWithWeb();
    const star = translatePolicy(
      cnp('prod', 'to-star', {
        endpointSelector: app('web'),
        egress: [{ toFQDNs: [{ matchPattern: '*.example.test' }], toPorts: ports(tcp(80)) }],
      }),
    );
    e.apply([{ type: 'policy-upserted', policy: toApi() }]);
    const first = cidrOutputs(e.applyFqdnDeltas([{ type: 'ipsAdded', name: 'api.example.test', ips: ['192.0.2.10'] }]));
    const id = (first[0] as { identity: number }).identity;
    // a second policy selecting the same IP relabels the identity, it does not renumber it
    expect(cidrOutputs(e.apply([{ type: 'policy-upserted', policy: star }]))).toEqual([]);
    expect(e.cidrIdentities()).toEqual([{ prefix: '192.0.2.10/32', identity: id }]);
    expect(lookupVerdict(e.endpointEntries(EP), 'egress', id, P.TCP, 80)).toBe('allow');
    // the second policy gone: its port closes, the identity stays for the first
    e.apply([{ type: 'policy-removed', key: star.key }]);
    expect(lookupVerdict(e.endpointEntries(EP), 'egress', id, P.TCP, 80)).toBe('drop');
    expect(lookupVerdict(e.endpointEntries(EP), 'egress', id, P.TCP, 443)).toBe('allow');
    const gone = e.applyFqdnDeltas([{ type: 'ipsExpired', name: 'api.example.test', ips: ['192.0.2.10'] }]);
    expect(cidrOutputs(gone)).toEqual([{ type: 'cidr-identity-removed', identity: id, prefix: '192.0.2.10/32' }]);
    expect(e.endpointEntries(EP).filter((x) => x.identity === id)).toEqual([]);
    expect(e.cidrIdentities()).toEqual([]);
  });

  it('the policy removed: the learned IPs lose their identities; re-applied, they are selected again', () => {
    const e = engineWithWeb();
    const p = toApi();
    e.apply([{ type: 'policy-upserted', policy: p }]);
    e.applyFqdnDeltas([{ type: 'ipsAdded', name: 'api.example.test', ips: ['192.0.2.10', '192.0.2.11'] }]);
    expect(e.cidrIdentities()).toHaveLength(2);
    const out = e.apply([{ type: 'policy-removed', key: p.key }]);
    expect(cidrOutputs(out).map((o) => o.type)).toEqual(['cidr-identity-removed', 'cidr-identity-removed']);
    expect(e.cidrIdentities()).toEqual([]);
    // the names are still known: the policy back selects them without a new lookup
    e.apply([{ type: 'policy-upserted', policy: p }]);
    expect(
      e
        .cidrIdentities()
        .map((c) => c.prefix)
        .sort(),
    ).toEqual(['192.0.2.10/32', '192.0.2.11/32']);
    const id = e.cidrIdentities()[0]!.identity;
    expect(lookupVerdict(e.endpointEntries(EP), 'egress', id, P.TCP, 443)).toBe('allow');
  });

  it('re-applying an unchanged policy keeps every identity and entry (no churn)', () => {
    const e = engineWithWeb();
    e.apply([{ type: 'policy-upserted', policy: toApi() }]);
    e.applyFqdnDeltas([{ type: 'ipsAdded', name: 'api.example.test', ips: ['192.0.2.10'] }]);
    const before = e.endpointEntries(EP);
    const out = e.apply([{ type: 'policy-upserted', policy: toApi() }]);
    expect(cidrOutputs(out)).toEqual([]);
    expect(out.filter((o) => o.type === 'endpoint-delta')).toEqual([]);
    expect(e.endpointEntries(EP)).toEqual(before);
  });
});

describe('translation and the Valid condition', () => {
  it('toFQDNs is enforced: the Valid condition says Enforced, nothing listed as not enforced', () => {
    const t = toApi();
    expect(t.notEnforced).toEqual([]);
    expect(t.fqdnSelectors).toEqual([{ matchName: 'api.example.test' }]);
    expect(validCondition(t)).toMatchObject({ type: 'Valid', status: 'True', reason: 'Enforced' });
  });

  it('a bad matchName or matchPattern is an invalid field naming the entry; the entry selects nothing', () => {
    const t = translatePolicy(
      cnp('prod', 'bad', {
        endpointSelector: {},
        egress: [
          { toFQDNs: [{ matchName: '*.example.test' }, { matchPattern: 'a+b.test' }, { matchName: 'ok.test' }] },
        ],
      }),
    );
    expect(t.problems.map((p) => [p.code, p.field])).toEqual([
      ['POLICY_ERR_BAD_FQDN', 'spec.egress[0].toFQDNs[0]'],
      ['POLICY_ERR_BAD_FQDN', 'spec.egress[0].toFQDNs[1]'],
    ]);
    expect(t.fqdnSelectors).toEqual([{ matchName: 'ok.test' }]);
    expect(validCondition(t)).toMatchObject({ status: 'False', reason: 'InvalidFields' });
  });
});
