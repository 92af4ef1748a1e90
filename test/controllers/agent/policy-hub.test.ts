// The agent's policy hub over the sim datapath: identity churn and changes that only add or only
// remove allows are written in place, everything else swaps whole maps, and after either the
// datapath holds exactly what the engine resolved.
import { describe, expect, it, jest } from '@jest/globals';
import { pino } from 'pino';
import { PolicyHub } from '../../../controllers/agent/policy-hub.js';
import type { PolicyWrite, ResolvedDelta } from '../../../datapath/datapath.js';
import { SimDatapath } from '../../../datapath/sim.js';
import { LabelSet, translatePolicy, type MapEntry } from '../../../policy/index.js';

const labels = (app: string) =>
  LabelSet.fromRecord({
    'k8s:app': app,
    'k8s:io.kubernetes.pod.namespace': 'demo',
    'k8s:io.cilium.k8s.policy.cluster': 'default',
  });

const allowFromWeb = translatePolicy({
  kind: 'CiliumNetworkPolicy',
  object: {
    metadata: { name: 'web-to-db', namespace: 'demo' },
    spec: {
      endpointSelector: { matchLabels: { app: 'db' } },
      ingress: [
        { fromEndpoints: [{ matchLabels: { app: 'web' } }], toPorts: [{ ports: [{ port: '5432', protocol: 'TCP' }] }] },
      ],
    },
  },
});

const text = (e: Pick<MapEntry, 'identity' | 'direction' | 'protocol' | 'portPrefix' | 'verdict'>) =>
  `${e.direction}/${e.identity}/${e.protocol}/${e.portPrefix.port}/${e.portPrefix.prefixLen}/${e.verdict}`;

function setup() {
  const dp = new SimDatapath();
  // writes split by kind: `apply` sees each endpoint's in-place delta (grouped or not), `swap`
  // each call with whole maps
  const apply = jest.fn<(endpointId: number, delta: ResolvedDelta) => void>();
  const swap = jest.fn<(updates: ReadonlyMap<number, PolicyWrite>) => void>();
  const write = dp.writePolicy.bind(dp);
  dp.writePolicy = (updates) => {
    const swaps = [...updates].filter(([, w]) => w.mode === 'swap');
    if (swaps.length) swap(new Map(swaps));
    for (const [id, w] of updates) if (w.mode === 'delta') apply(id, w);
    return write(updates);
  };
  const writeDeltas = dp.writePolicyDeltas.bind(dp);
  dp.writePolicyDeltas = (groups) => {
    for (const g of groups) for (const id of g.endpoints) apply(id, g);
    return writeDeltas(groups);
  };
  const regenerated: number[][] = [];
  const hub = new PolicyHub(dp, {
    enforcement: 'default',
    clusterName: 'default',
    log: pino({ level: 'silent' }),
    onCidrIdentities: () => {},
    onRegenerated: (ids) => regenerated.push([...ids]),
  });
  hub.apply([
    { type: 'identity-upserted', id: 1001, labels: labels('db') },
    { type: 'identity-upserted', id: 2001, labels: labels('web') },
    { type: 'endpoint-upserted', endpoint: { id: 7, identity: 1001 } },
    { type: 'policy-upserted', policy: allowFromWeb },
  ]);
  hub.openGate([7]);
  /** The kernel-side map equals the engine's resolution. */
  const inSync = () => expect((dp.dumpPolicy(7) ?? []).map(text).sort()).toEqual(hub.entries(7).map(text).sort());
  return { dp, hub, apply, swap, regenerated, inSync };
}

describe('policy hub', () => {
  it('writes identity churn in place and keeps the map equal to the engine', () => {
    const { hub, apply, swap, regenerated, inSync } = setup();
    inSync();
    expect(swap).toHaveBeenCalledTimes(1); // the gate opened: one whole program
    swap.mockClear();
    regenerated.length = 0;

    hub.apply([{ type: 'identity-upserted', id: 2002, labels: labels('web') }]); // another web pod's label set elsewhere
    expect(apply).toHaveBeenCalledTimes(1);
    expect(apply.mock.calls[0]![0]).toBe(7);
    expect(apply.mock.calls[0]![1].added.map(text)).toEqual(['ingress/2002/6/5432/16/allow']);
    expect(swap).not.toHaveBeenCalled();
    expect(regenerated).toEqual([[7]]);
    expect(hub.deltasApplied).toBe(1);
    inSync();

    hub.apply([{ type: 'identity-removed', id: 2002 }]);
    expect(apply).toHaveBeenCalledTimes(2);
    expect(apply.mock.calls[1]![1].removed.map(text)).toEqual(['ingress/2002/6/5432/16/allow']);
    expect(swap).not.toHaveBeenCalled();
    inSync();

    // an identity nobody selects changes nothing at all
    hub.apply([{ type: 'identity-upserted', id: 3001, labels: labels('cache') }]);
    expect(apply).toHaveBeenCalledTimes(2);
    expect(swap).not.toHaveBeenCalled();
  });

  it("swaps whole maps for policy changes and for a change of the endpoint's own identity", () => {
    const { hub, apply, swap, inSync } = setup();
    swap.mockClear();
    hub.apply([{ type: 'policy-removed', key: allowFromWeb.key }]);
    expect(swap).toHaveBeenCalledTimes(1);
    expect(apply).not.toHaveBeenCalled();
    inSync();
    hub.apply([{ type: 'policy-upserted', policy: allowFromWeb }]);
    expect(swap).toHaveBeenCalledTimes(2);
    inSync();

    // the endpoint's own identity relabelled: its rules change, so the map is swapped whole
    hub.apply([{ type: 'identity-upserted', id: 1001, labels: labels('db-replica') }]);
    expect(apply).not.toHaveBeenCalled();
    expect(swap).toHaveBeenCalledTimes(3);
    inSync();
  });

  it('repairs a failed in-place write with a whole swap', () => {
    const { dp, hub, apply, swap, inSync } = setup();
    swap.mockClear();
    apply.mockImplementationOnce(() => {
      throw new Error('DP_ERR_MAP_FULL: the policy map of endpoint 7 is full');
    });
    hub.apply([{ type: 'identity-upserted', id: 2003, labels: labels('web') }]);
    expect(swap).toHaveBeenCalledTimes(1);
    expect(dp.dumpPolicy(7)!.map(text)).toContain('ingress/2003/6/5432/16/allow');
    inSync();
  });

  it('writes a policy change that only adds or only removes allows in place', () => {
    const { hub, apply, swap, inSync } = setup();
    swap.mockClear();
    /** A policy on db: `direction` rules from web to one TCP port. */
    const fromWeb = (name: string, direction: 'ingress' | 'ingressDeny', port: string) =>
      translatePolicy({
        kind: 'CiliumNetworkPolicy',
        object: {
          metadata: { name, namespace: 'demo' },
          spec: {
            endpointSelector: { matchLabels: { app: 'db' } },
            [direction]: [
              { fromEndpoints: [{ matchLabels: { app: 'web' } }], toPorts: [{ ports: [{ port, protocol: 'TCP' }] }] },
            ],
          },
        },
      });
    const more = fromWeb('web-to-db-metrics', 'ingress', '9187');
    hub.apply([{ type: 'policy-upserted', policy: more }]);
    expect(swap).not.toHaveBeenCalled();
    expect(apply.mock.calls.at(-1)![1].added.map(text)).toEqual(['ingress/2001/6/9187/16/allow']);
    inSync();
    hub.apply([{ type: 'policy-removed', key: more.key }]);
    expect(swap).not.toHaveBeenCalled();
    expect(apply.mock.calls.at(-1)![1].removed.map(text)).toEqual(['ingress/2001/6/9187/16/allow']);
    inSync();

    // a deny is never written in place by a policy change: the map is swapped whole
    const deny = fromWeb('deny-web', 'ingressDeny', '22');
    const calls = apply.mock.calls.length;
    hub.apply([{ type: 'policy-upserted', policy: deny }]);
    expect(swap).toHaveBeenCalledTimes(1);
    expect(apply.mock.calls.length).toBe(calls);
    inSync();
  });

  it('writes a delta shared by many endpoints as one group, whatever the number of events netted', () => {
    const { dp, hub } = setup();
    // 50 more db endpoints: one resolved policy, so one delta object for all 51
    const ids = [7, ...Array.from({ length: 50 }, (_, i) => 100 + i)];
    hub.apply(ids.slice(1).map((id) => ({ type: 'endpoint-upserted', endpoint: { id, identity: 1001 } })));
    const groups: number[][] = [];
    const writeDeltas = dp.writePolicyDeltas.bind(dp);
    dp.writePolicyDeltas = (gs) => {
      for (const g of gs) groups.push([...g.endpoints]);
      return writeDeltas(gs);
    };
    // two label sets of web in one batch: two deltas per endpoint, netted once for all
    hub.apply([
      { type: 'identity-upserted', id: 2002, labels: labels('web') },
      { type: 'identity-upserted', id: 2003, labels: labels('web') },
    ]);
    expect(groups).toEqual([ids]);
    for (const id of ids) expect((dp.dumpPolicy(id) ?? []).map(text).sort()).toEqual(hub.entries(id).map(text).sort());
    expect(hub.entries(100).map(text)).toContain('ingress/2003/6/5432/16/allow');
  });
});
