// What-if as a library: flows + cluster state + proposed change in, report out.
import { describe, expect, it } from '@jest/globals';
import type { PolicyObject } from '../../policy/index.js';
import {
  checkProposed,
  formatReport,
  parseFlowFile,
  resolveDelete,
  whatIf,
  WhatIfError,
  WhatIfErrorCode,
} from '../../whatif/index.js';
import { toProtoJson } from '../../hubble/format.js';
import { allowed, BACKEND_FROM_FRONTEND, flow, FRONTEND_DENY_INTRUDER, state } from './cluster-fixture.js';

const cnp = (name: string, spec: Record<string, unknown>, namespace = 'shop'): PolicyObject => ({
  kind: 'CiliumNetworkPolicy',
  object: { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name, namespace }, spec } as never,
});

const conn = (c: { source: string; destination: string; port: number; after: string }): string =>
  `${c.source} → ${c.destination}:${c.port} ${c.after}`;

describe('whatIf: a deny policy', () => {
  const flows = [
    ...allowed('shop/intruder', 'shop/frontend', 8080),
    ...allowed('shop/backend', 'shop/frontend', 8080),
    ...allowed('shop/frontend', 'shop/backend', 8080),
    ...allowed('shop/intruder', 'data/db', 5432),
    // the reply of the intruder's connection goes when the connection goes
    flow('shop/intruder', 'shop/frontend', 8080, { reply: true, point: 'INGRESS', eventType: 4 }),
  ];
  const report = whatIf(flows, state([]), { apply: [FRONTEND_DENY_INTRUDER] });

  it('lists exactly the connection it closes, with the deny rule that decides it', () => {
    expect(report.changes.map(conn)).toEqual(['shop/intruder → shop/frontend:8080 dropped']);
    const [c] = report.changes;
    expect(c).toMatchObject({
      before: 'allowed',
      after: 'dropped',
      direction: 'ingress',
      protocol: 'TCP',
      flows: 3,
      decidedBy: [{ policy: 'CiliumNetworkPolicy/shop/frontend-deny-intruder', path: 'spec.ingressDeny[0]' }],
      reason: 'denied by CiliumNetworkPolicy/shop/frontend-deny-intruder spec.ingressDeny[0]',
    });
  });

  it('counts flows: examined, unchanged, newly dropped, newly allowed; breaking for the gate', () => {
    expect(report.summary).toMatchObject({
      flows: 9,
      examined: 9,
      unchanged: 6,
      newlyDropped: 3,
      newlyAllowed: 0,
      stale: 0,
    });
    expect(report.breaking).toBe(true);
  });

  it('prints a summary and a table grouped by source → destination:port', () => {
    const text = formatReport(report);
    expect(text).toContain('newly dropped:  3');
    expect(text).toMatch(/NEWLY DROPPED\s+shop\/intruder → shop\/frontend:8080\/TCP\s+3\s+ingress\s+denied by/);
  });

  it('an allow-only policy closes the peers it leaves out: "no rule allows: default deny"', () => {
    const r = whatIf(flows, state([]), {
      apply: [
        cnp(
          'db-from-shop-backend',
          {
            endpointSelector: { matchLabels: { app: 'db' } },
            ingress: [{ fromEndpoints: [{ matchLabels: { app: 'backend' } }] }],
          },
          'data',
        ),
      ],
    });
    expect(r.changes.map(conn)).toEqual(['shop/intruder → data/db:5432 dropped']);
    expect(r.changes[0]!.reason).toBe('no rule allows: default deny (ingress of the destination)');
    expect(r.changes[0]!.decidedBy).toEqual([]);
  });
});

describe('whatIf: deleting an allow policy', () => {
  const flows = [
    ...allowed('shop/frontend', 'shop/backend', 8080),
    flow('shop/intruder', 'shop/backend', 8080, { point: 'EGRESS' }),
    flow('shop/intruder', 'shop/backend', 8080, { point: 'INGRESS', dropReason: 133 }),
    flow('shop/intruder', 'shop/backend', 8080, { point: 'INGRESS', dropReason: 133, eventType: 5 }),
  ];

  it('lists the connections that open, with why; not breaking', () => {
    const r = whatIf(flows, state([BACKEND_FROM_FRONTEND]), {
      delete: [{ kind: 'CiliumNetworkPolicy', namespace: 'shop', name: 'backend-from-frontend' }],
    });
    expect(r.changes.map(conn)).toEqual(['shop/intruder → shop/backend:8080 allowed']);
    expect(r.changes[0]).toMatchObject({
      before: 'dropped',
      direction: 'ingress',
      reason: 'no policy selects the destination for ingress: not enforced',
    });
    expect(r.summary).toMatchObject({ examined: 5, newlyAllowed: 3, newlyDropped: 0, unchanged: 2, stale: 0 });
    expect(r.breaking).toBe(false);
  });

  it('refuses to delete a policy the cluster does not have', () => {
    expect(() =>
      whatIf(flows, state([]), { delete: [{ kind: 'CiliumNetworkPolicy', namespace: 'shop', name: 'nope' }] }),
    ).toThrow(expect.objectContaining({ code: WhatIfErrorCode.NotFound }) as never);
  });
});

describe('whatIf: decisions along the whole path', () => {
  it('a connection opened at egress but still dropped at ingress is unchanged', () => {
    const egressOnlyToData = {
      kind: 'CiliumClusterwideNetworkPolicy',
      object: {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumClusterwideNetworkPolicy',
        metadata: { name: 'reporting-stays-in-data' },
        spec: {
          endpointSelector: { matchLabels: { app: 'reporting', 'k8s:io.kubernetes.pod.namespace': 'data' } },
          egress: [{ toEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'data' } }] }],
        },
      },
    } as PolicyObject;
    const flows = [flow('data/reporting', 'shop/backend', 8080, { point: 'EGRESS', dropReason: 133 })];
    const r = whatIf(flows, state([egressOnlyToData, BACKEND_FROM_FRONTEND]), {
      delete: [{ kind: 'CiliumClusterwideNetworkPolicy', name: 'reporting-stays-in-data' }],
    });
    expect(r.changes).toEqual([]);
    expect(r.summary).toMatchObject({ examined: 1, unchanged: 1, stale: 0 });
    // without the backend's allow policy it does open
    const r2 = whatIf(flows, state([egressOnlyToData]), {
      delete: [{ kind: 'CiliumClusterwideNetworkPolicy', name: 'reporting-stays-in-data' }],
    });
    expect(r2.changes.map(conn)).toEqual(['data/reporting → shop/backend:8080 allowed']);
    expect(r2.changes[0]!.direction).toBe('egress');
  });

  it('world peers get the CIDR identity of the proposed policy (ipcache longest prefix)', () => {
    const world = (ip: string) => ({ ip, identity: 2, labels: ['reserved:world'] });
    const flows = [
      flow('shop/frontend', world('1.1.1.1'), 443),
      flow('shop/frontend', world('8.8.8.8'), 53, { protocol: 'UDP' }),
    ];
    const r = whatIf(flows, state([]), {
      apply: [
        cnp('frontend-egress', {
          endpointSelector: { matchLabels: { app: 'frontend' } },
          egress: [{ toCIDR: ['1.1.1.0/24'] }],
        }),
      ],
    });
    expect(r.changes.map(conn)).toEqual(['shop/frontend → world 8.8.8.8:53 dropped']);
    expect(r.changes[0]!.protocol).toBe('UDP');
  });

  it('named ports resolve against the destination pod (CiliumEndpoint named-ports)', () => {
    const flows = [...allowed('shop/backend', 'data/db', 5432), ...allowed('shop/backend', 'data/db', 8080)];
    const r = whatIf(flows, state([]), {
      apply: [
        cnp(
          'db-pg',
          {
            endpointSelector: { matchLabels: { app: 'db' } },
            ingress: [{ fromEntities: ['cluster'], toPorts: [{ ports: [{ port: 'pg', protocol: 'TCP' }] }] }],
          },
          'data',
        ),
      ],
    });
    expect(r.changes.map(conn)).toEqual(['shop/backend → data/db:8080 dropped']);
  });

  it('the `cluster` entity uses the cluster name the identities carry', () => {
    const base = state([]);
    const renamed = {
      ...base,
      identities: base.identities.map((i) => ({
        ...i,
        'security-labels': { ...i['security-labels'], 'k8s:io.cilium.k8s.policy.cluster': 'devcluster' },
      })),
    };
    const flows = allowed('shop/intruder', 'data/db', 5432);
    const fromCluster = cnp(
      'db-from-cluster',
      { endpointSelector: { matchLabels: { app: 'db' } }, ingress: [{ fromEntities: ['cluster'] }] },
      'data',
    );
    expect(whatIf(flows, renamed, { apply: [fromCluster] }).changes).toEqual([]);
    // told another name, the pods are not in "the cluster" and the connection closes
    const other = whatIf(flows, { ...renamed, clusterName: 'elsewhere' }, { apply: [fromCluster] });
    expect(other.changes.map(conn)).toEqual(['shop/intruder → data/db:5432 dropped']);
  });

  it("a recorded verdict that today's policies no longer give is stale, not a change", () => {
    // dropped while an older policy was in place; today nothing selects the backend
    const flows = [flow('shop/intruder', 'shop/backend', 8080, { point: 'INGRESS', dropReason: 133 })];
    const r = whatIf(flows, state([]), { apply: [] });
    expect(r.summary).toMatchObject({ examined: 1, unchanged: 1, stale: 1 });
    expect(r.changes).toEqual([]);
  });

  it('skips what the policy does not decide, and filters by namespace', () => {
    const flows = [
      flow('shop/intruder', 'shop/backend', 8080, { dropReason: 132 }), // not a policy drop
      { ...flow('shop/frontend', 'shop/backend', 8080), IP: undefined },
      ...allowed('data/reporting', 'data/db', 5432),
      ...allowed('shop/frontend', 'shop/backend', 8080),
    ];
    const r = whatIf(flows, state([]), { apply: [] }, { namespace: 'shop' });
    expect(r.summary).toMatchObject({
      flows: 6,
      examined: 2,
      skipped: { 'not-a-policy-drop': 1, 'no-ip': 1, 'other-namespace': 2 },
    });
  });
});

describe('proposed policies are checked as kubectl apply would', () => {
  it('schema and semantic errors come back with field paths; nothing is simulated', () => {
    const bad = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'bad' },
      spec: {
        endpointSelector: { matchLabels: { app: 'db' } },
        ingress: [{ fromEndpoint: [{}], toPorts: [{ ports: [{ port: '80', endPort: 70, protocol: 'TCPX' }] }] }],
      },
    };
    let err: unknown;
    try {
      checkProposed([{ object: bad, origin: 'bad.yaml' }], 'shop');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WhatIfError);
    const msg = (err as WhatIfError).message;
    expect((err as WhatIfError).code).toBe(WhatIfErrorCode.InvalidPolicy);
    expect(msg).toContain('error when applying "bad.yaml": CiliumNetworkPolicy.cilium.io "bad" is invalid');
    expect(msg).toContain('spec.ingress[0].fromEndpoint: unknown field "fromEndpoint"');
    expect(msg).toContain('spec.ingress[0].toPorts[0].ports[0].protocol: Unsupported value: "TCPX"');
  });

  it('a valid object gets the default namespace; other kinds are refused', () => {
    const [p] = checkProposed([{ object: { ...FRONTEND_DENY_INTRUDER.object, metadata: { name: 'x' } } }], 'team');
    expect(p!.object.metadata?.namespace).toBe('team');
    expect(() => checkProposed([{ object: { kind: 'Pod', metadata: { name: 'p' } } }])).toThrow(/NetworkPolicy only/);
  });

  it('--delete names resolve against the cluster: [KIND/][NAMESPACE/]NAME', () => {
    const have = [BACKEND_FROM_FRONTEND, FRONTEND_DENY_INTRUDER];
    expect(resolveDelete('backend-from-frontend', have, 'shop')).toEqual({
      kind: 'CiliumNetworkPolicy',
      namespace: 'shop',
      name: 'backend-from-frontend',
    });
    expect(resolveDelete('cnp/shop/frontend-deny-intruder', have)).toMatchObject({ name: 'frontend-deny-intruder' });
    expect(() => resolveDelete('backend-from-frontend', have)).toThrow(
      /no policy "backend-from-frontend" in namespace "default"/,
    );
  });
});

describe('saved flow files', () => {
  const flows = [
    ...allowed('shop/intruder', 'shop/frontend', 8080),
    flow('shop/intruder', 'shop/frontend', 8080, { reply: true, point: 'INGRESS', eventType: 4 }),
  ];
  const expected = whatIf(flows, state([]), { apply: [FRONTEND_DENY_INTRUDER] });

  it('`hubble observe -o json` lines (camelCase protojson) give the same report', () => {
    const text = flows.map((f) => JSON.stringify(toProtoJson(f))).join('\n');
    expect(whatIf(parseFlowFile(text), state([]), { apply: [FRONTEND_DENY_INTRUDER] })).toEqual(expected);
  });

  it('upstream snake_case responses ({flow: …}) and a JSON array too', () => {
    const text = JSON.stringify(flows.map((f) => ({ flow: { ...f, is_reply: f.is_reply?.value }, node_name: 'n1' })));
    expect(whatIf(parseFlowFile(text), state([]), { apply: [FRONTEND_DENY_INTRUDER] })).toEqual(expected);
  });

  it('a line that is not JSON is refused with its number', () => {
    expect(() => parseFlowFile('{}\nnot json')).toThrow(/line 2: not JSON/);
  });
});
