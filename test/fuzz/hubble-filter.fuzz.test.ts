// 10,000 random FlowFilter requests (patterns with stars, regex metacharacters, selectors with
// odd spacing, out-of-range ports and enums, oversized lists) compiled and run against random
// flows: each either compiles and answers true or false for every flow, or is refused with
// HUBBLE_ERR_BAD_FILTER (InvalidArgument) — never another exception.
import { describe, expect, it } from '@jest/globals';
import { HubbleError, HubbleErrorCode } from '../../hubble/errors.js';
import { compileFilters } from '../../hubble/filter.js';
import type { Flow, FlowFilter } from '../../hubble/types.js';
import { gen, report } from './seed.js';

const CASES = 10_000;

describe('hubble filter fuzzing', () => {
  it(`${CASES} filter requests: a boolean per flow or InvalidArgument`, () => {
    const g = gen(0x4bb);
    const started = performance.now();
    const meta = 'ab*.+?()[]{}|^$\\ :=,!/-';
    const flows: Flow[] = Array.from({ length: 20 }, (_, i) => ({
      verdict: g.pick(['FORWARDED', 'DROPPED', 'AUDIT'] as const),
      node_name: g.pick(['node-a', 'default/node-b', g.str(30, 'ab*')]),
      IP: { source: `10.0.0.${i}`, destination: '10.0.1.1', ipVersion: 'IPv4' },
      l4: { TCP: { source_port: 1000 + i, destination_port: 80, flags: { SYN: true } } },
      source: { namespace: 'demo', pod_name: `web-${i}`, labels: ['k8s:app=web', `k8s:i=${i}`], identity: i },
      destination: { labels: ['reserved:world'], identity: 2 },
      destination_names: [g.str(20, 'ab.*')],
      l7: { http: { method: 'GET', url: `http://svc/${g.str(30, 'ab/')}`, code: 200 }, dns: { query: 'a.b.' } },
    }));
    const field = (): Partial<FlowFilter> =>
      g.pick<() => Partial<FlowFilter>>([
        () => ({ node_name: [g.str(g.int(40), meta)] }),
        () => ({ destination_fqdn: [g.str(g.int(40), meta)] }),
        () => ({ http_path: [g.str(g.int(30), meta)] }),
        () => ({ dns_query: [g.str(g.int(30), meta)] }),
        () => ({ source_label: [g.str(g.int(60), meta + 'in notin ')] }),
        () => ({ source_pod: [g.str(g.int(20), meta)] }),
        () => ({ destination_port: [String(g.int(70_000) - 10)] }),
        () => ({ source_ip: [g.pick(['10.0.0.1', '10.0.0.0/24', '10.0.0.0/33', 'x', 'fd00::/8'])] }),
        () => ({ verdict: [g.pick<never>(['DROPPED', 3, 99, -1] as never[])] }),
        () => ({ protocol: [g.pick(['tcp', 'udp', 'http', 'gopher'])] }),
        () => ({ http_status_code: [g.pick(['200', '4+', '4x', ''])] }),
        () => ({ node_name: Array.from({ length: g.int(300) }, () => 'n*') }),
        () => ({ source_label: ['a'.repeat(g.int(1100))] }),
      ])();
    let refused = 0;
    let matched = 0;
    for (let i = 0; i < CASES; i++) {
      const list = (): FlowFilter[] =>
        Array.from({ length: g.chance(0.01) ? 70 : g.int(3) }, () => Object.assign({}, field(), field()));
      let predicate;
      try {
        predicate = compileFilters(list(), g.chance(0.3) ? list() : []);
      } catch (e) {
        if (!(e instanceof HubbleError) || e.code !== HubbleErrorCode.BadFilter) throw e;
        refused++;
        continue;
      }
      for (const f of flows) {
        const r = predicate(f);
        expect(typeof r).toBe('boolean');
        if (r) matched++;
      }
    }
    report('hubble-filter', CASES, started, { refused, matchedFlows: matched });
    expect(refused).toBeGreaterThan(0);
    expect(refused).toBeLessThan(CASES);
  }, 300_000);
});
