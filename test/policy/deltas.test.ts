// Per-endpoint deltas: what the datapath is told when a policy, an identity, an endpoint or a
// namespace's labels change; sharing of resolved policies; batching; trace provenance.
import { describe, expect, it } from '@jest/globals';
import {
  applyOutputs,
  endpointLabels,
  entryText,
  lookupVerdict,
  PolicyEngine,
  Proto,
  tracePolicy,
  translatePolicy,
  withNamespaceLabels,
  type MapEntry,
  type PolicyOutput,
} from '../../policy/index.js';
import { ccnp, cnp, knp } from './fixture.js';

const web = endpointLabels({ podLabels: { app: 'web' }, namespace: 'prod', namespaceLabels: { env: 'prod' } });
const api = endpointLabels({ podLabels: { app: 'api' }, namespace: 'prod', namespaceLabels: { env: 'prod' } });
const client = endpointLabels({ podLabels: { app: 'client' }, namespace: 'dev', namespaceLabels: { env: 'dev' } });

function setup(): PolicyEngine {
  const e = new PolicyEngine();
  e.apply([
    { type: 'identity-upserted', id: 1001, labels: web },
    { type: 'identity-upserted', id: 1002, labels: api },
    { type: 'identity-upserted', id: 1003, labels: client },
    { type: 'endpoint-upserted', endpoint: { id: 11, identity: 1001 } },
    { type: 'endpoint-upserted', endpoint: { id: 12, identity: 1001 } },
    { type: 'endpoint-upserted', endpoint: { id: 21, identity: 1002 } },
  ]);
  return e;
}

const deltas = (out: PolicyOutput[]) =>
  Object.fromEntries(
    out.flatMap((o) =>
      o.type === 'endpoint-delta'
        ? [
            [
              o.endpoint,
              {
                added: o.added.map((x) => `${entryText(x)}=${x.verdict}`).sort(),
                removed: o.removed.map((x) => `${entryText(x)}=${x.verdict}`).sort(),
              },
            ],
          ]
        : [],
    ),
  );

const snapshot = (e: PolicyEngine) => Object.fromEntries(e.endpointIds().map((id) => [id, e.endpointEntries(id)]));

describe('per-endpoint deltas', () => {
  it('an endpoint with no policy gets the allow-all entries of both directions plus allow-localhost', () => {
    const e = setup();
    expect(e.endpointEntries(21).map((x) => `${entryText(x)}=${x.verdict}`)).toEqual([
      'e0:0/0/0=allow',
      'i0:0/0/0=allow',
      'i1:0/0/0=allow',
    ]);
  });

  it('a policy change reaches exactly the endpoints it selects, sharing endpoints of one identity', () => {
    const e = setup();
    const t = translatePolicy(
      cnp('prod', 'web', {
        endpointSelector: { matchLabels: { app: 'web' } },
        ingress: [
          { fromEndpoints: [{ matchLabels: { app: 'api' } }], toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] },
        ],
      }),
    );
    const d = deltas(e.apply([{ type: 'policy-upserted', policy: t }]));
    expect(Object.keys(d)).toEqual(['11', '12']);
    expect(d[11]).toEqual({ added: ['i1002:6/80/16=allow'], removed: ['i0:0/0/0=allow'] });
    expect(e.stats().resolvedPolicies).toBe(2);
  });

  it('deleting a policy, and re-applying it under the same name, restores reachability exactly (cilium-cli connectivity tests rely on it)', () => {
    const e = setup();
    const before = snapshot(e);
    const t = translatePolicy(
      cnp('prod', 'p', {
        endpointSelector: {},
        ingress: [{ fromEndpoints: [{ matchLabels: { app: 'api' } }] }],
        egressDeny: [{ toEntities: ['world'] }],
      }),
    );
    e.apply([{ type: 'policy-upserted', policy: t }]);
    const during = snapshot(e);
    expect(during).not.toEqual(before);
    expect(deltas(e.apply([{ type: 'policy-upserted', policy: t }]))).toEqual({});
    e.apply([{ type: 'policy-removed', key: t.key }]);
    expect(snapshot(e)).toEqual(before);
    e.apply([{ type: 'policy-upserted', policy: t }]);
    expect(snapshot(e)).toEqual(during);
  });

  it('changing a policy under the same name sends only the difference', () => {
    const e = setup();
    const mk = (port: string) =>
      translatePolicy(
        cnp('prod', 'p', {
          endpointSelector: { matchLabels: { app: 'web' } },
          ingress: [
            { fromEndpoints: [{ matchLabels: { app: 'api' } }], toPorts: [{ ports: [{ port, protocol: 'TCP' }] }] },
          ],
        }),
      );
    e.apply([{ type: 'policy-upserted', policy: mk('80') }]);
    expect(deltas(e.apply([{ type: 'policy-upserted', policy: mk('443') }]))[11]).toEqual({
      added: ['i1002:6/443/16=allow'],
      removed: ['i1002:6/80/16=allow'],
    });
  });

  it("a namespace's labels change: new identity for its pods, and a namespaceSelector rule follows (#38030)", () => {
    const e = setup();
    e.apply([{ type: 'endpoint-upserted', endpoint: { id: 31, identity: 1003 } }]);
    const np = translatePolicy(
      knp('prod', 'from-trusted', {
        podSelector: { matchLabels: { app: 'web' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { trusted: 'yes' } } }] }],
      }),
    );
    e.apply([{ type: 'policy-upserted', policy: np }]);
    expect(lookupVerdict(e.endpointEntries(11), 'ingress', 1003, Proto.TCP, 80)).toBe('drop');
    // The agent relabels the namespace: pods of `dev` get a new identity (1004).
    const relabelled = withNamespaceLabels(client, { env: 'dev', trusted: 'yes' });
    const out = e.apply([
      { type: 'identity-upserted', id: 1004, labels: relabelled },
      { type: 'endpoint-upserted', endpoint: { id: 31, identity: 1004 } },
      { type: 'identity-removed', id: 1003 },
    ]);
    const d = deltas(out);
    expect(d[11]).toEqual({ added: ['i1004:0/0/0=allow'], removed: [] });
    expect(d[12]).toEqual(d[11]);
    expect(lookupVerdict(e.endpointEntries(11), 'ingress', 1004, Proto.TCP, 80)).toBe('allow');
  });

  it('an identity relabelled in place moves its endpoints to the rules of the new labels', () => {
    const e = setup();
    const t = translatePolicy(ccnp('api-only', { endpointSelector: { matchLabels: { app: 'api' } }, ingress: [{}] }));
    e.apply([{ type: 'policy-upserted', policy: t }]);
    expect(e.enforced(11, 'ingress')).toBe(false);
    const d = deltas(e.apply([{ type: 'identity-upserted', id: 1001, labels: api }]));
    expect(d[11]?.removed).toEqual(['i0:0/0/0=allow']);
    expect(e.enforced(11, 'ingress')).toBe(true);
  });

  it('an endpoint whose identity is unknown waits with an empty map, then gets its entries', () => {
    const e = setup();
    expect(deltas(e.apply([{ type: 'endpoint-upserted', endpoint: { id: 41, identity: 5000 } }]))).toEqual({});
    expect(e.endpointEntries(41)).toEqual([]);
    const d = deltas(e.apply([{ type: 'identity-upserted', id: 5000, labels: client }]));
    expect(d[41]?.added.length).toBe(3);
  });

  it('applying every delta in order rebuilds each endpoint map exactly (applyOutputs, what datapath/ does)', () => {
    const e = new PolicyEngine();
    const maps = new Map<number, Map<string, MapEntry>>();
    const step = (events: Parameters<PolicyEngine['apply']>[0]) => applyOutputs(maps, e.apply(events));
    step([
      { type: 'identity-upserted', id: 1001, labels: web },
      { type: 'identity-upserted', id: 1002, labels: api },
      { type: 'endpoint-upserted', endpoint: { id: 11, identity: 1001 } },
    ]);
    step([
      {
        type: 'policy-upserted',
        policy: translatePolicy(
          cnp('prod', 'p', {
            endpointSelector: {},
            ingress: [{ fromEndpoints: [{}] }],
            egressDeny: [{ toEntities: ['world'] }],
          }),
        ),
      },
    ]);
    step([
      { type: 'identity-upserted', id: 1003, labels: endpointLabels({ podLabels: { app: 'x' }, namespace: 'prod' }) },
    ]);
    step([{ type: 'identity-removed', id: 1002 }]);
    const text = (m: Iterable<MapEntry>) => [...m].map((x) => `${entryText(x)}=${x.verdict}`).sort();
    expect(text(maps.get(11)?.values() ?? [])).toEqual(text(e.endpointEntries(11)));
    expect(text(e.endpointEntries(11))).toContain('i1003:0/0/0=allow');
  });

  it('removing an endpoint removes all its entries; the shared policy stays for the others', () => {
    const e = setup();
    const d = deltas(e.apply([{ type: 'endpoint-removed', id: 11 }]));
    expect(d[11]?.removed.length).toBe(3);
    expect(e.endpointEntries(12).length).toBe(3);
    expect(e.stats().resolvedPolicies).toBe(2);
  });

  it('a batch nets out: an identity added and removed in one apply changes nothing', () => {
    const e = setup();
    e.apply([
      {
        type: 'policy-upserted',
        policy: translatePolicy(
          cnp('prod', 'p', {
            endpointSelector: {},
            ingress: [{ fromEndpoints: [{ matchLabels: { app: 'client' } }] }],
          }),
        ),
      },
    ]);
    const ns = endpointLabels({ podLabels: { app: 'client' }, namespace: 'prod' });
    expect(
      deltas(
        e.apply([
          { type: 'identity-upserted', id: 7000, labels: ns },
          { type: 'identity-removed', id: 7000 },
        ]),
      ),
    ).toEqual({});
    expect(deltas(e.apply([{ type: 'identity-upserted', id: 7000, labels: ns }]))[11]).toEqual({
      added: ['i7000:0/0/0=allow'],
      removed: [],
    });
  });

  it('egress named ports resolve against the cluster named-port table', () => {
    const e = setup();
    e.apply([
      {
        type: 'policy-upserted',
        policy: translatePolicy(
          cnp('prod', 'p', {
            endpointSelector: { matchLabels: { app: 'web' } },
            egress: [{ toEndpoints: [{ matchLabels: { app: 'api' } }], toPorts: [{ ports: [{ port: 'grpc' }] }] }],
          }),
        ),
      },
    ]);
    expect(lookupVerdict(e.endpointEntries(11), 'egress', 1002, Proto.TCP, 9000)).toBe('drop');
    const d = deltas(e.apply([{ type: 'cluster-named-ports', ports: { grpc: [{ port: 9000, protocol: 'TCP' }] } }]));
    expect(d[11]).toEqual({ added: ['e1002:6/9000/16=allow'], removed: [] });
  });

  it("egress named ports also resolve against local endpoints' container ports", () => {
    const e = setup();
    e.apply([
      {
        type: 'policy-upserted',
        policy: translatePolicy(
          cnp('prod', 'p', {
            endpointSelector: { matchLabels: { app: 'web' } },
            egress: [{ toEndpoints: [{ matchLabels: { app: 'api' } }], toPorts: [{ ports: [{ port: 'grpc' }] }] }],
          }),
        ),
      },
    ]);
    const d = deltas(
      e.apply([
        {
          type: 'endpoint-upserted',
          endpoint: { id: 21, identity: 1002, namedPorts: { grpc: { port: 9000, protocol: 'TCP' } } },
        },
      ]),
    );
    expect(d[11]).toEqual({ added: ['e1002:6/9000/16=allow'], removed: [] });
    expect(deltas(e.apply([{ type: 'endpoint-removed', id: 21 }]))[11]).toEqual({
      added: [],
      removed: ['e1002:6/9000/16=allow'],
    });
  });

  it('every entry keeps the key rules: protocol 0 only with every port; identity 0 for "any"; CCNP {} peers are pods', () => {
    const e = setup();
    e.apply([
      {
        type: 'policy-upserted',
        policy: translatePolicy(
          ccnp('all', {
            endpointSelector: {},
            ingress: [{ fromEntities: ['all'], toPorts: [{ ports: [{ port: '53', protocol: 'ANY' }] }] }],
            egress: [{ toEndpoints: [{}] }],
          }),
        ),
      },
    ]);
    const all: MapEntry[] = e.endpointIds().flatMap((id) => e.endpointEntries(id));
    expect(all.filter((x) => x.protocol === 0 && x.portPrefix.prefixLen !== 0)).toEqual([]);
    expect(e.endpointEntries(21).map((x) => `${entryText(x)}=${x.verdict}`)).toEqual([
      'e1001:0/0/0=allow',
      'e1002:0/0/0=allow',
      'e1003:0/0/0=allow',
      'i0:6/53/16=allow',
      'i0:17/53/16=allow',
      'i0:132/53/16=allow',
      'i1:0/0/0=allow',
    ]);
  });
});

describe('trace: the verdict and the rules that decided it', () => {
  const e = setup();
  e.apply([
    {
      type: 'policy-upserted',
      policy: translatePolicy(
        cnp('prod', 'web', {
          endpointSelector: { matchLabels: { app: 'web' } },
          ingress: [{ fromEndpoints: [{ matchLabels: { app: 'api' } }] }],
          ingressDeny: [
            {
              fromEndpoints: [{ matchLabels: { app: 'api' } }],
              toPorts: [{ ports: [{ port: '22', protocol: 'TCP' }] }],
            },
          ],
        }),
      ),
    },
    {
      type: 'policy-upserted',
      policy: translatePolicy(
        knp('prod', 'egress', {
          podSelector: { matchLabels: { app: 'api' } },
          policyTypes: ['Egress'],
          egress: [{ ports: [{ port: 80 }] }],
        }),
      ),
    },
  ]);
  it.each([
    [
      'allowed by the ingress rule, egress allowed by the NetworkPolicy',
      80,
      'allow',
      ['CiliumNetworkPolicy/prod/web spec.ingress[0]'],
      [],
      ['NetworkPolicy/prod/egress spec.egress[0]'],
    ],
    [
      'denied by the ingressDeny rule',
      22,
      'deny',
      ['CiliumNetworkPolicy/prod/web spec.ingress[0]'],
      ['CiliumNetworkPolicy/prod/web spec.ingressDeny[0]'],
      [],
    ],
    [
      'dropped by egress default deny (no rule matched)',
      443,
      'drop',
      ['CiliumNetworkPolicy/prod/web spec.ingress[0]'],
      [],
      [],
    ],
  ])('%s', (_n, port, verdict, ingressAllowed, ingressDenied, egressAllowed) => {
    const t = tracePolicy(e, { source: { identity: 1002 }, destination: { labels: web }, port, protocol: 'TCP' });
    expect(t.verdict).toBe(verdict);
    const refs = (l: readonly { policy: string; path: string }[]) => l.map((r) => `${r.policy} ${r.path}`);
    expect({ ia: refs(t.ingress.allowedBy), id: refs(t.ingress.deniedBy), ea: refs(t.egress.allowedBy) }).toEqual({
      ia: ingressAllowed,
      id: ingressDenied,
      ea: egressAllowed,
    });
    expect(t.lines.at(-1)).toBe(`Final verdict: ${verdict.toUpperCase()}`);
  });
  it('labels as input (`k8s:app=api` strings) work like identities', () => {
    const t = tracePolicy(e, {
      source: { labels: ['k8s:app=api', 'k8s:io.kubernetes.pod.namespace=prod'] },
      destination: { identity: 1001 },
      port: 80,
      protocol: 'TCP',
    });
    expect(t.ingress.verdict).toBe('allow');
  });
  it('an unknown identity is never allowed (identities are cluster-wide; a miss fails closed)', () => {
    expect(
      tracePolicy(e, { source: { identity: 99999 }, destination: { identity: 1001 }, port: 80, protocol: 'TCP' })
        .verdict,
    ).toBe('drop');
  });
});
