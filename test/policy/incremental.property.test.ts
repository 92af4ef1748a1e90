// Property: on random clusters of 1,000 policies and 10,000 identities, adding or removing one
// identity yields exactly the entries that a full recomputation changes, for every endpoint;
// and so does adding or removing one policy. The oracle is a fresh engine fed the state after
// the change (its own selector cache, no history). Fixed seeds: deterministic.
import { describe, expect, it } from '@jest/globals';
import {
  diffEntries,
  entryText,
  PolicyEngine,
  translatePolicy,
  type MapEntry,
  type PolicyEvent,
  type PolicyOutput,
  type TranslatedPolicy,
} from '../../policy/index.js';
import { FULL_SIZE, makeWorkload, rng, type IdentityDef, type Workload } from '../../hack/bench/policy-workload.js';

const SIZE = { ...FULL_SIZE, endpoints: 100 };
const SEEDS = [11, 23, 37];
/**
 * Per seed: identity add, remove, add, remove; then a policy added and removed; then a policy
 * with from/toRequires (which narrows the subject's other endpoint peers) added and removed.
 */
const STEPS = 8;

function load(
  engine: PolicyEngine,
  identities: readonly IdentityDef[],
  policies: readonly TranslatedPolicy[],
  w: Workload,
  identitiesFirst: boolean,
): void {
  const ids: PolicyEvent[] = identities.map((i) => ({ type: 'identity-upserted', id: i.id, labels: i.labels }));
  const pols: PolicyEvent[] = policies.map((policy) => ({ type: 'policy-upserted', policy }));
  const eps: PolicyEvent[] = w.endpoints.map((endpoint) => ({ type: 'endpoint-upserted', endpoint }));
  engine.apply(identitiesFirst ? [...ids, ...pols, ...eps] : [...eps, ...pols, ...ids]);
}

const keyed = (list: readonly MapEntry[]): Map<string, MapEntry> => new Map(list.map((e) => [entryText(e), e]));
const texts = (list: readonly MapEntry[]): string[] => list.map((e) => `${entryText(e)}=${e.verdict}`).sort();

describe.each(SEEDS)('seed %i: one identity (or policy) added or removed', (seed) => {
  it('changes exactly what a full recomputation changes, for every endpoint', () => {
    const w = makeWorkload(seed, SIZE);
    let policies = w.policies.map((p) => translatePolicy(p));
    // The added policy selects the app of a local endpoint, and names a new CIDR (a new CIDR
    // identity, which `world` peers of other policies then select too).
    const firstApp = w.identities.find((i) => i.id === w.endpoints[0]?.identity)?.labels.value('k8s', 'app') ?? 'app-0';
    const added = translatePolicy({
      kind: 'CiliumClusterwideNetworkPolicy',
      object: {
        metadata: { name: 'extra' },
        spec: {
          endpointSelector: { matchLabels: { app: firstApp } },
          ingress: [
            {
              fromEndpoints: [{ matchLabels: { 'io.cilium.k8s.namespace.labels.team': 'payments' } }],
              toPorts: [{ ports: [{ port: '8080', endPort: 8090, protocol: 'TCP' }] }],
            },
          ],
          egress: [{ toCIDRSet: [{ cidr: '10.9.0.0/16', except: ['10.9.9.0/24'] }] }],
          egressDeny: [{ toEntities: ['world'], toPorts: [{ ports: [{ port: '25', protocol: 'TCP' }] }] }],
        } as never,
      },
    });
    const requiring = translatePolicy({
      kind: 'CiliumClusterwideNetworkPolicy',
      object: {
        metadata: { name: 'requiring' },
        spec: {
          endpointSelector: { matchLabels: { app: firstApp } },
          ingress: [
            { fromRequires: [{ matchLabels: { tier: 'back' } }] },
            {
              fromEndpoints: [{ matchLabels: { 'io.cilium.k8s.namespace.labels.env': 'prod' } }],
              toPorts: [{ ports: [{ port: '9090', protocol: 'TCP' }] }],
            },
          ],
          egress: [
            { toRequires: [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['data'] }] }] },
            { toEntities: ['world'] },
          ],
        } as never,
      },
    });
    const engine = new PolicyEngine();
    load(engine, w.identities, policies, w, true);
    let live = [...w.identities];
    // The datapath's view: every endpoint's map, built only from the deltas it was sent.
    const maps = new Map<number, Map<string, MapEntry>>(
      w.endpoints.map((e) => [e.id, keyed(engine.endpointEntries(e.id))]),
    );
    const r = rng(seed * 7);
    let nextId = 100_000;
    let checkedDeltas = 0;
    for (let step = 0; step < STEPS; step++) {
      let event: PolicyEvent;
      if (step === 4) {
        policies = [...policies, added];
        event = { type: 'policy-upserted', policy: added };
      } else if (step === 5) {
        policies = policies.filter((p) => p !== added);
        event = { type: 'policy-removed', key: added.key };
      } else if (step === 6) {
        policies = [...policies, requiring];
        event = { type: 'policy-upserted', policy: requiring };
      } else if (step === 7) {
        policies = policies.filter((p) => p !== requiring);
        event = { type: 'policy-removed', key: requiring.key };
      } else if (step % 2 === 0) {
        // Add: a fresh identity, or one whose app/namespace many selectors name.
        const ident = w.newIdentity(nextId++);
        live.push(ident);
        event = { type: 'identity-upserted', id: ident.id, labels: ident.labels };
      } else {
        // Remove: sometimes the identity of a local endpoint (its endpoints lose their map).
        const local = new Set(w.endpoints.map((e) => e.identity));
        const pool = r() < 0.25 ? live.filter((i) => local.has(i.id)) : live.filter((i) => !local.has(i.id));
        const victim = pool[Math.floor(r() * pool.length)] ?? live[0];
        if (!victim) throw new Error('empty cluster');
        live = live.filter((i) => i.id !== victim.id);
        event = { type: 'identity-removed', id: victim.id };
      }
      const outputs: PolicyOutput[] = engine.apply([event]);
      // Oracle: a fresh engine with the new state, loaded in the other order.
      const fresh = new PolicyEngine();
      load(fresh, live, policies, w, false);
      const deltas = new Map(outputs.flatMap((o) => (o.type === 'endpoint-delta' ? [[o.endpoint, o] as const] : [])));
      if (step >= 4) expect(deltas.size).toBeGreaterThan(0);
      for (const ep of w.endpoints) {
        const before = [...(maps.get(ep.id)?.values() ?? [])];
        const after = fresh.endpointEntries(ep.id);
        const want = diffEntries(before, after);
        const got = deltas.get(ep.id) ?? { added: [], removed: [] };
        expect({ endpoint: ep.id, added: texts(got.added), removed: texts(got.removed) }).toEqual({
          endpoint: ep.id,
          added: texts(want.added),
          removed: texts(want.removed),
        });
        if (got.added.length + got.removed.length > 0) checkedDeltas++;
        maps.set(ep.id, keyed(after));
      }
    }
    // The random changes did reach endpoints (the property is not vacuous).
    expect(checkedDeltas).toBeGreaterThan(0);
  });
});
