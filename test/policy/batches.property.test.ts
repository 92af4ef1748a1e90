// Property: random batches of mixed events (identities added, relabelled and removed; policies
// added, changed and removed; endpoints added, moved to another identity or named ports, removed)
// applied through the grouped outputs leave every endpoint's map exactly as a recomputation from
// scratch says. A batch is where the engine's shortcut can go wrong: the endpoints that stayed
// in their resolved policy share its netted delta as one group, those that moved carry their own,
// starting with the deltas their old policy had in the batch before they left. Fixed seeds.
import { describe, expect, it } from '@jest/globals';
import {
  applyDelta,
  endpointLabels,
  entryText,
  PolicyEngine,
  translatePolicy,
  type EntryDelta,
  type MapEntry,
  type NamedPorts,
  type PolicyEvent,
  type TranslatedPolicy,
} from '../../policy/index.js';
import { rng } from '../../hack/bench/policy-workload.js';
import { ccnp, cnp } from './fixture.js';

const SEEDS = [3, 17, 29, 41];
const BATCHES = 150;
const ENDPOINTS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const IDENTITIES = [1001, 1002, 1003, 1004, 1005, 1006];
const APPS = ['web', 'api', 'db', 'client'];
const NAMESPACES = ['prod', 'dev'];
const PORTS: (NamedPorts | undefined)[] = [
  undefined,
  { http: { port: 8080, protocol: 'TCP' } },
  { http: { port: 9090, protocol: 'TCP' }, dns: { port: 53, protocol: 'UDP' } },
];

/** Variants per policy name: an upsert of a name picks one (a changed policy under the same key). */
const POLICIES: TranslatedPolicy[][] = [
  [
    translatePolicy(
      cnp('prod', 'web-in', {
        endpointSelector: { matchLabels: { app: 'web' } },
        ingress: [{ fromEndpoints: [{ matchLabels: { app: 'client' } }] }],
      }),
    ),
    translatePolicy(
      cnp('prod', 'web-in', {
        endpointSelector: { matchLabels: { app: 'web' } },
        ingress: [{ fromEndpoints: [{}], toPorts: [{ ports: [{ port: 'http', protocol: 'TCP' }] }] }],
      }),
    ),
  ],
  [
    translatePolicy(
      ccnp('all-out', {
        endpointSelector: {},
        egress: [{ toEndpoints: [{ matchLabels: { app: 'db' } }], toPorts: [{ ports: [{ port: 'http' }] }] }],
      }),
    ),
    translatePolicy(ccnp('all-out', { endpointSelector: {}, egress: [{ toEntities: ['world'] }] })),
  ],
  [
    translatePolicy(
      cnp('dev', 'dev-deny', {
        endpointSelector: {},
        ingressDeny: [{ fromEndpoints: [{ matchLabels: { app: 'api' } }] }],
      }),
    ),
  ],
  [
    translatePolicy(
      ccnp('api-any', {
        endpointSelector: { matchLabels: { app: 'api' } },
        ingress: [
          { fromEndpoints: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'client'] }] }] },
        ],
        egress: [{ toEndpoints: [{}] }],
      }),
    ),
  ],
];

function randomBatch(r: () => number): PolicyEvent[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const labels = () => endpointLabels({ podLabels: { app: pick(APPS) }, namespace: pick(NAMESPACES) });
  const events: PolicyEvent[] = [];
  const n = 1 + Math.floor(r() * 6);
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.2) events.push({ type: 'identity-upserted', id: pick(IDENTITIES), labels: labels() });
    else if (k < 0.3) events.push({ type: 'identity-removed', id: pick(IDENTITIES) });
    else if (k < 0.5) events.push({ type: 'policy-upserted', policy: pick(pick(POLICIES)) });
    else if (k < 0.6) events.push({ type: 'policy-removed', key: pick(POLICIES)[0]!.key });
    else if (k < 0.9)
      events.push({
        type: 'endpoint-upserted',
        endpoint: { id: pick(ENDPOINTS), identity: pick(IDENTITIES), namedPorts: pick(PORTS) },
      });
    else events.push({ type: 'endpoint-removed', id: pick(ENDPOINTS) });
  }
  return events;
}

const texts = (m: Iterable<MapEntry>) => [...m].map((e) => `${entryText(e)}=${e.verdict}`).sort();

describe.each(SEEDS)('seed %i: random batches of mixed events', (seed) => {
  it('the grouped outputs rebuild every endpoint map exactly; each endpoint is in one output at most', () => {
    const r = rng(seed);
    const engine = new PolicyEngine();
    const maps = new Map<number, Map<string, MapEntry>>();
    let groups = 0;
    let moved = 0;
    // a start with every identity known and every endpoint in a group
    const start: PolicyEvent[] = IDENTITIES.map((id, i) => ({
      type: 'identity-upserted',
      id,
      labels: endpointLabels({ podLabels: { app: APPS[i % APPS.length]! }, namespace: NAMESPACES[i % 2]! }),
    }));
    for (const id of ENDPOINTS)
      start.push({ type: 'endpoint-upserted', endpoint: { id, identity: IDENTITIES[id % IDENTITIES.length]! } });
    for (let b = 0; b <= BATCHES; b++) {
      const batch = b === 0 ? start : randomBatch(r);
      const seen = new Set<number>();
      const take = (id: number, delta: EntryDelta) => {
        expect({ batch: b, endpoint: id, twice: seen.has(id) }).toEqual({ batch: b, endpoint: id, twice: false });
        seen.add(id);
        let m = maps.get(id);
        if (!m) maps.set(id, (m = new Map()));
        applyDelta(m, delta);
      };
      for (const o of engine.applyGrouped(batch)) {
        if (o.type === 'endpoints-delta') {
          groups++;
          for (const id of o.endpoints) {
            expect(engine.endpointIdentity(id)).toBe(o.identity);
            take(id, o.delta);
          }
        } else if (o.type === 'endpoint-delta') {
          moved++;
          take(o.endpoint, o);
        }
      }
      for (const id of ENDPOINTS) {
        const want = engine.endpointIdentity(id) === undefined ? [] : texts(engine.recomputeEndpoint(id));
        expect({ batch: b, endpoint: id, entries: texts(maps.get(id)?.values() ?? []) }).toEqual({
          batch: b,
          endpoint: id,
          entries: want,
        });
      }
    }
    // both kinds of output were exercised (the property is not vacuous)
    expect(groups).toBeGreaterThan(20);
    expect(moved).toBeGreaterThan(20);
  });
});
