// Filters a client can send to make the agent slow, and the answers they get now: globs with many
// stars and catastrophic regexes still give the right answer (RE2 and a linear glob matcher, no
// backtracking), regex features RE2 lacks (backreferences, lookaround) and oversized requests are
// InvalidArgument, and label selectors are parsed in linear time (the 30,000-space selector).
// Per-flow costs are measured by hack/bench/hubble-filters.ts, not asserted here.
import { describe, expect, it } from '@jest/globals';
import { HubbleError, HubbleErrorCode, toGrpcError } from '../../hubble/errors.js';
import { compileFilters, FILTER_LIMITS, glob, parseSelector } from '../../hubble/filter.js';
import type { Flow, FlowFilter } from '../../hubble/types.js';

const flow = (over: Partial<Flow> = {}): Flow => ({
  verdict: 'FORWARDED',
  node_name: 'default/' + 'a'.repeat(60),
  source: { namespace: 'demo', pod_name: 'web-1', labels: ['k8s:app=web', 'k8s:tier=front'] },
  l7: { http: { method: 'GET', url: 'http://svc/' + 'a'.repeat(40) + '!', code: 200 } },
  ...over,
});

const refused = (f: () => unknown, msg: RegExp) => {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(HubbleError);
  expect(err).toMatchObject({ code: HubbleErrorCode.BadFilter, message: expect.stringMatching(msg) });
  expect(toGrpcError(err as HubbleError).code).toBe(3 /* INVALID_ARGUMENT */);
};

describe('globs without backtracking', () => {
  it.each([
    ['*', 'anything', true],
    ['node-*', 'node-a', true],
    ['node-*', 'xnode-a', false],
    ['*-a', 'node-a', true],
    ['n*d*-*a', 'node-a', true],
    ['a*a*a', 'aa', false],
    ['a*a*a', 'aaa', true],
    ['*ab*ab*', 'xabyab', true],
    ['*ab*ab*', 'xaby', false],
    ['exact', 'exact', true],
    ['exact', 'exactly', false],
    ['a.b', 'axb', false],
  ])('%s ~ %s → %s', (pattern, name, want) => expect(glob(pattern).test(name)).toBe(want));

  it('the ten-star node_name glob gives the right answer on a long name', () => {
    const star10 = '*a'.repeat(10) + '*b';
    const match = compileFilters([{ node_name: [star10] }]);
    expect(match(flow())).toBe(false);
    expect(match(flow({ node_name: 'default/' + 'a'.repeat(60) + 'b' }))).toBe(true);
  });
});

describe('regexes on RE2', () => {
  it('a catastrophic-backtracking pattern answers correctly', () => {
    const match = compileFilters([{ http_path: ['^/(a+)+$'] }]);
    expect(match(flow())).toBe(false);
    expect(match(flow({ l7: { http: { url: 'http://svc/aaaa' } } }))).toBe(true);
  });

  it('backreferences and lookaround (not RE2) are InvalidArgument', () => {
    refused(() => compileFilters([{ http_path: ['(a)\\1'] }]), /invalid regular expression/);
    refused(() => compileFilters([{ dns_query: ['(?<=a)b'] }]), /invalid regular expression/);
    refused(() => compileFilters([{ dns_query: ['(unclosed'] }]), /invalid regular expression/);
  });
});

describe('limits', () => {
  it('too many filters, values or characters are InvalidArgument', () => {
    const many: FlowFilter[] = Array.from({ length: FILTER_LIMITS.filters + 1 }, () => ({ verdict: ['DROPPED'] }));
    refused(() => compileFilters(many), /filters \(at most/);
    refused(() => compileFilters([], many), /blacklist/);
    refused(
      () => compileFilters([{ node_name: Array.from({ length: FILTER_LIMITS.valuesPerField + 1 }, () => 'n') }]),
      /node_name: \d+ values/,
    );
    refused(() => compileFilters([{ source_label: ['a'.repeat(FILTER_LIMITS.valueChars + 1)] }]), /characters/);
  });

  it('all filters of a request together are bounded too (values and characters)', () => {
    const values = (n: number, v = 'x') => Array.from({ length: n }, () => v);
    refused(
      () => compileFilters([{ node_name: values(200) }], [{ node_name: values(FILTER_LIMITS.totalValues - 199) }]),
      new RegExp(`${FILTER_LIMITS.totalValues + 1} filter values in one request`),
    );
    refused(
      () => compileFilters([{ dns_query: values(20, 'a'.repeat(FILTER_LIMITS.valueChars)) }]),
      /characters of filter values in one request/,
    );
    expect(() => compileFilters([{ node_name: values(FILTER_LIMITS.totalValues) }])).not.toThrow();
  });

  it('out-of-range ports and enum values are InvalidArgument', () => {
    refused(() => compileFilters([{ destination_port: ['65536'] }]), /invalid port/);
    refused(() => compileFilters([{ source_port: ['-1'] }]), /invalid port/);
    refused(() => compileFilters([{ verdict: [99 as never] }]), /unknown enum value 99/);
    refused(() => compileFilters([{ http_status_code: ['4x'] }]), /invalid HTTP status code/);
  });
});

describe('label selectors in linear time', () => {
  it('30,000 spaces parse to nothing (and fit no limit check bypass)', () => {
    expect(parseSelector(' '.repeat(30_000))).toEqual([]);
    expect(parseSelector('app' + ' '.repeat(30_000) + 'in (web)')).toEqual([{ key: 'app', op: 'in', values: ['web'] }]);
    refused(() => parseSelector('a' + ' '.repeat(30_000) + 'b'), /invalid label selector/);
  });

  it('keeps the selector semantics', () => {
    expect(parseSelector('k8s:app=web, tier != db, !legacy, env in (a, b), zone notin (x)')).toEqual([
      { source: 'k8s', key: 'app', op: 'in', values: ['web'] },
      { key: 'tier', op: 'notin', values: ['db'] },
      { key: 'legacy', op: 'absent', values: [] },
      { key: 'env', op: 'in', values: ['a', 'b'] },
      { key: 'zone', op: 'notin', values: ['x'] },
    ]);
    expect(parseSelector('app==web')).toEqual([{ key: 'app', op: 'in', values: ['web'] }]);
    refused(() => parseSelector('=web'), /invalid label selector/);
    refused(() => parseSelector(' = web'), /invalid label selector/);
    const match = compileFilters([{ source_label: ['app in (web, api), tier'] }]);
    expect(match(flow())).toBe(true);
    expect(match(flow({ source: { labels: ['k8s:app=db'] } }))).toBe(false);
  });
});
