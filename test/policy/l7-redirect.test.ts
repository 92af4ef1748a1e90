// L7 redirects in the policy maps: the rows of table-l7.ts, and the entries' redirect following
// L7 rules that come and go (incremental deltas equal a full recomputation).
import { describe, expect, it } from '@jest/globals';
import { applyOutputs, entryText, translatePolicy, type MapEntry } from '../../policy/index.js';
import { cnp, Fixture, P } from './fixture.js';
import { L7_TABLE } from './table-l7.js';
import { app, tcp } from './table.js';

describe('L7 redirects (map entries carry the proxy parser as upstream)', () => {
  describe.each(L7_TABLE.map((s) => [s.pins, s] as const))('%s', (_pins, s) => {
    const f = new Fixture(s.policies);
    it.each(s.checks.map((c) => [`${c[4]} ${c[0]} -> ${c[1]} proto ${c[2]} port ${c[3]} = ${c[5]}`, c] as const))(
      '%s',
      (_name, [from, to, proto, port, dir, want]) => {
        expect(f.mapRedirect(from, to, proto, port, dir)).toBe(want);
      },
    );
    it('L7 rules do not change the L4 verdict (allowed stays allowed)', () => {
      for (const [from, to, proto, port] of s.allowed) expect(f.mapVerdict(from, to, proto, port)).toBe('allow');
    });
    it('incremental maps equal a full recomputation', () => {
      expect(f.consistent()).toBe(true);
    });
    it('translation reports no L7 rule as not enforced', () => {
      expect(f.translated.flatMap((t) => t.notEnforced).filter((n) => n.feature === 'l7Rules')).toEqual([]);
    });
  });

  it('an L7 rule added on an allowed port rewrites the allow entries; removed, the redirect goes', () => {
    const l4 = cnp('prod', 'api-l4', {
      endpointSelector: app('api'),
      ingress: [{ fromEndpoints: [app('web')], toPorts: [{ ports: [tcp(80)] }] }],
    });
    const l7 = cnp('prod', 'api-l7', {
      endpointSelector: app('api'),
      ingress: [{ fromEndpoints: [app('db')], toPorts: [{ ports: [tcp(80)], rules: { http: [{ path: '/x' }] } }] }],
    });
    const f = new Fixture([l4]);
    const ep = f.endpointOf('prod/api')!;
    const maps = new Map<number, Map<string, MapEntry>>();
    maps.set(ep, new Map(f.engine.endpointEntries(ep).map((e) => [entryText(e), e])));
    const state = (): MapEntry[] => [...maps.get(ep)!.values()].sort((a, b) => key(a).localeCompare(key(b)));
    const full = (): MapEntry[] => [...f.engine.endpointEntries(ep)].sort((a, b) => key(a).localeCompare(key(b)));

    expect(f.mapRedirect('prod/web', 'prod/api', P.TCP, 80, 'ingress')).toBe('none');
    applyOutputs(maps, f.engine.apply([{ type: 'policy-upserted', policy: translatePolicy(l7) }]));
    expect(f.mapRedirect('prod/web', 'prod/api', P.TCP, 80, 'ingress')).toBe('http');
    expect(f.mapRedirect('prod/db', 'prod/api', P.TCP, 80, 'ingress')).toBe('http');
    expect(state()).toEqual(full());
    expect(f.consistent()).toBe(true);

    applyOutputs(maps, f.engine.apply([{ type: 'policy-removed', key: 'CiliumNetworkPolicy/prod/api-l7' }]));
    expect(f.mapRedirect('prod/web', 'prod/api', P.TCP, 80, 'ingress')).toBe('none');
    expect(f.mapVerdict('prod/db', 'prod/api', P.TCP, 80)).toBe('drop');
    expect(state()).toEqual(full());
    expect(f.consistent()).toBe(true);
  });

  it('Kafka and l7proto rules are reported as not enforced (allowed at L4, not redirected)', () => {
    const f = new Fixture([
      cnp('prod', 'kafka', {
        endpointSelector: app('api'),
        ingress: [{ toPorts: [{ ports: [tcp(9092)], rules: { kafka: [{ topic: 't' }] } }] }],
      }),
    ]);
    expect(f.translated[0]!.notEnforced.map((n) => n.feature)).toEqual(['l7Rules']);
    expect(f.mapRedirect('prod/web', 'prod/api', P.TCP, 9092, 'ingress')).toBe('none');
    expect(f.mapVerdict('prod/web', 'prod/api', P.TCP, 9092)).toBe('allow');
  });
});

const key = (e: MapEntry): string =>
  `${e.direction}/${e.identity}/${e.protocol}/${e.portPrefix.port}/${e.portPrefix.prefixLen}/${e.verdict}/${e.l7 ?? ''}`;
