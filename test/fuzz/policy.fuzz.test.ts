// 10,000 random policies (about half schema-valid, the rest with wrong types, unknown fields,
// bad CIDRs, ports and selectors) through CRD validation, translation and the policy engine on
// a small cluster: validation answers with errors instead of throwing; what it accepts
// translates (unusable fields become problems, not exceptions) and the engine computes and
// removes it without throwing.
import { describe, expect, it } from '@jest/globals';
import { validateObject } from '../../crds/index.js';
import { PolicyEngine, translatePolicy, type PolicyEvent } from '../../policy/index.js';
import { makeWorkload } from '../../hack/bench/policy-workload.js';
import { FUZZ_SEED, gen, report } from './seed.js';

const CASES = 10_000;
const BATCH = 250;

describe('policy fuzzing', () => {
  it(`${CASES} policies through validation, translation and the engine`, () => {
    const g = gen(0x90c);
    const started = performance.now();
    const w = makeWorkload(FUZZ_SEED % 1000, {
      namespaces: 3,
      appsPerNamespace: 4,
      versions: 2,
      endpoints: 20,
      policies: 0,
    });
    const engine = new PolicyEngine({ enforcement: 'default', clusterName: 'default' });
    engine.apply([
      ...w.identities.map((i): PolicyEvent => ({ type: 'identity-upserted', id: i.id, labels: i.labels })),
      ...w.endpoints.map((endpoint): PolicyEvent => ({ type: 'endpoint-upserted', endpoint })),
    ]);
    const junk = (): unknown => g.pick<unknown>([g.str(g.int(10)), g.int(70_000) - 5, null, [], {}, true, -1]);
    const app = () => (g.chance(0.8) ? `app-${g.int(5)}` : g.str(g.int(8)));
    const selector = (): unknown =>
      g.chance(0.97)
        ? g.pick<unknown>([
            {},
            { matchLabels: { app: app() } },
            { matchLabels: { 'k8s:io.kubernetes.pod.namespace': `ns-${g.int(3)}` } },
            {
              matchExpressions: [
                {
                  key: 'app',
                  operator: g.pick(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Bogus']),
                  values: [`app-${g.int(5)}`],
                },
              ],
            },
          ])
        : junk();
    const ports = (): unknown =>
      g.chance(0.97)
        ? [
            {
              ports: [
                {
                  port: g.chance(0.9)
                    ? g.pick<unknown>([String(1 + g.int(65_535)), 'http', '0'])
                    : g.pick<unknown>([String(g.int(700_000)), g.int(65_536), '-1', 'x'.repeat(20)]),
                  protocol: g.chance(0.95) ? g.pick(['TCP', 'UDP', 'SCTP', 'ANY']) : g.pick(['ICMP', 'tcp']),
                  ...(g.chance(0.2) ? { endPort: g.int(70_000) } : {}),
                },
              ],
            },
          ]
        : junk();
    const peer = (): Record<string, unknown> =>
      g.pick<() => Record<string, unknown>>([
        () => ({ fromEndpoints: [selector()] }),
        () => ({
          fromEntities: [g.chance(0.95) ? g.pick(['world', 'cluster', 'host', 'all', 'remote-node']) : 'bogus'],
        }),
        () => ({
          fromCIDR: [g.chance(0.97) ? g.pick(['10.0.0.0/8', '10.0.0.1/32', 'fd00::/8']) : g.pick(['300.0.0.0/8', 'x'])],
        }),
        () => ({
          fromCIDRSet: [
            { cidr: '10.0.0.0/8', except: [g.chance(0.95) ? '10.1.0.0/16' : g.pick(['11.0.0.0/8', 'bad'])] },
          ],
        }),
        () => ({ fromRequires: [selector()] }),
      ])();
    const rule = (): unknown => {
      const r: Record<string, unknown> = { ...peer() };
      if (g.chance(0.03)) r[g.str(6)] = junk();
      if (g.chance(0.6)) r.toPorts = ports();
      return r;
    };
    const egress = (r: unknown): unknown =>
      r && typeof r === 'object'
        ? Object.fromEntries(Object.entries(r).map(([k, v]) => [k.replace(/^from/, 'to'), v]))
        : r;
    const tally = new Map<string, number>();
    let valid = 0;
    let problems = 0;
    for (let start = 0; start < CASES; start += BATCH) {
      const added: PolicyEvent[] = [];
      const names: { name: string; namespace: string }[] = [];
      for (let i = start; i < start + BATCH; i++) {
        const spec: Record<string, unknown> = { endpointSelector: selector() };
        if (g.chance(0.7)) spec.ingress = Array.from({ length: 1 + g.int(3) }, rule);
        if (g.chance(0.5)) spec.egress = Array.from({ length: 1 + g.int(2) }, () => egress(rule()));
        if (g.chance(0.15)) spec.ingressDeny = [rule()];
        if (g.chance(0.05)) spec[g.str(5)] = junk();
        const obj = g.chance(0.03)
          ? junk()
          : {
              apiVersion: 'cilium.io/v2',
              kind: 'CiliumNetworkPolicy',
              metadata: { name: `fuzz-${i}`, namespace: `ns-${g.int(3)}` },
              spec: g.chance(0.03) ? junk() : spec,
            };
        const errors = validateObject('CiliumNetworkPolicy', obj);
        expect(Array.isArray(errors)).toBe(true);
        if (errors.length) {
          const k = JSON.stringify(errors[0]).replace(/\d+/g, 'N').slice(0, 120);
          tally.set(k, (tally.get(k) ?? 0) + 1);
          continue;
        }
        valid++;
        const translated = translatePolicy({ kind: 'CiliumNetworkPolicy', object: obj as never });
        problems += translated.problems.length;
        added.push({ type: 'policy-upserted', policy: translated });
        names.push({ name: `fuzz-${i}`, namespace: (obj as { metadata: { namespace: string } }).metadata.namespace });
      }
      engine.apply(added);
      for (const ep of w.endpoints) engine.endpointEntries(ep.id);
      engine.apply(
        added.map(
          (e) => ({ type: 'policy-removed', key: (e as { policy: { key: string } }).policy.key }) as PolicyEvent,
        ),
      );
    }
    if (process.env.FUZZ_DEBUG) console.log([...tally].sort((a, b) => b[1] - a[1]).slice(0, 8));
    report('policy', CASES, started, { schemaValid: valid, translationProblems: problems });
    expect(valid).toBeGreaterThan(CASES / 3);
    expect(valid).toBeLessThan(CASES);
  }, 600_000);
});
