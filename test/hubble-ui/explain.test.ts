// The detail pane's policy explanation: the demo app's cluster (test/whatif/cluster-fixture.ts)
// decided by the agents' engine — a deny rule named for a POLICY_DENY drop, "no policy allows"
// for a default-deny drop with a suggested policy that, added to the cluster, allows exactly that
// connection (and nothing it should not), the allow rules for a forwarded flow, and drops that
// are not the policy's.
import { describe, expect, it } from '@jest/globals';
import { parse, parseAllDocuments } from 'yaml';
import { REPORTING_STAYS } from '../../hack/demo-app.js';
import { explainFlow } from '../../hubble-ui/explain.js';
import type { PolicyObject } from '../../policy/index.js';
import { BACKEND_FROM_FRONTEND, FRONTEND_DENY_INTRUDER, flow, state } from '../whatif/cluster-fixture.js';

const REPORTING: PolicyObject = { kind: 'CiliumClusterwideNetworkPolicy', object: parse(REPORTING_STAYS) as never };
const ALL = [BACKEND_FROM_FRONTEND, FRONTEND_DENY_INTRUDER, REPORTING];

/** The suggested YAML as policy objects, to add to the cluster. */
const policiesOf = (yaml: string): PolicyObject[] =>
  parseAllDocuments(yaml).map((d) => ({ kind: 'CiliumNetworkPolicy', object: d.toJS() }) as PolicyObject);

describe('explainFlow', () => {
  it('names the deny rule for a POLICY_DENY drop and offers no allow policy', () => {
    const e = explainFlow(
      flow('shop/intruder', 'shop/frontend', 8080, { dropReason: 181, point: 'INGRESS' }),
      state(ALL),
    );
    expect(e).toMatchObject({ kind: 'policy', verdict: 'dropped', at: 'ingress', how: 'deny', stale: false });
    expect(e.decidedBy).toEqual([
      { policy: 'CiliumNetworkPolicy/shop/frontend-deny-intruder', path: expect.stringContaining('ingressDeny[0]') },
    ]);
    expect(e.reason).toMatch(/^denied by CiliumNetworkPolicy\/shop\/frontend-deny-intruder .*ingressDeny\[0\]/);
    expect(e.suggestedPolicy).toBeUndefined();
    expect(e.suggestionNote).toMatch(/no allow rule can override/);
  });

  it('says "no policy allows" for a default-deny drop, and its suggestion then allows exactly that connection', () => {
    const dropped = flow('shop/intruder', 'shop/backend', 8080, { dropReason: 133, point: 'INGRESS' });
    const e = explainFlow(dropped, state(ALL));
    expect(e).toMatchObject({ verdict: 'dropped', at: 'ingress', how: 'drop', decidedBy: [] });
    expect(e.reason).toMatch(/^no policy allows: default deny at the ingress of the destination shop\/backend/);
    expect(e.reason).toContain('CiliumNetworkPolicy/shop/backend-from-frontend');
    const suggested = policiesOf(e.suggestedPolicy!);
    expect(suggested).toHaveLength(1);
    expect(suggested[0]!.object).toMatchObject({
      kind: 'CiliumNetworkPolicy',
      metadata: { namespace: 'shop' },
      spec: {
        endpointSelector: { matchLabels: { app: 'backend' } },
        ingress: [
          {
            fromEndpoints: [{ matchLabels: { app: 'intruder', 'k8s:io.kubernetes.pod.namespace': 'shop' } }],
            toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }],
          },
        ],
      },
    });

    const after = state([...ALL, ...suggested]);
    const now = explainFlow(dropped, after);
    expect(now).toMatchObject({ verdict: 'allowed', stale: true });
    expect(now.decidedBy.map((r) => r.policy)).toContain(
      `CiliumNetworkPolicy/shop/${suggested[0]!.object.metadata!.name}`,
    );
    // exactly that connection: another port of the backend, and another source, stay dropped
    expect(explainFlow(flow('shop/intruder', 'shop/backend', 9090, { dropReason: 133 }), after).verdict).toBe(
      'dropped',
    );
    expect(explainFlow(flow('data/reporting', 'shop/backend', 8080, { dropReason: 133 }), after).verdict).toBe(
      'dropped',
    );
  });

  it('drafts an egress policy for a drop at the source (a CCNP that keeps reporting in its namespace)', () => {
    const dropped = flow('data/reporting', 'shop/frontend', 8080, { dropReason: 133, point: 'EGRESS' });
    const e = explainFlow(dropped, state(ALL));
    expect(e).toMatchObject({ verdict: 'dropped', at: 'egress', how: 'drop' });
    expect(e.reason).toContain('CiliumClusterwideNetworkPolicy/reporting-stays-in-data');
    const suggested = policiesOf(e.suggestedPolicy!);
    expect(suggested[0]!.object).toMatchObject({
      metadata: { namespace: 'data' },
      spec: { endpointSelector: { matchLabels: { app: 'reporting' } }, egress: [expect.anything()] },
    });
    expect(explainFlow(dropped, state([...ALL, ...suggested])).verdict).toBe('allowed');
  });

  it('names the allow rules of a forwarded flow, and says so when nothing is enforced', () => {
    const e = explainFlow(flow('shop/frontend', 'shop/backend', 8080, { point: 'INGRESS' }), state(ALL));
    expect(e).toMatchObject({ verdict: 'allowed', stale: false });
    expect(e.reason).toMatch(/^allowed by CiliumNetworkPolicy\/shop\/backend-from-frontend/);
    const open = explainFlow(flow('shop/frontend', 'data/db', 5432), state([]));
    expect(open.reason).toBe('allowed: no policy selects either side, so nothing is enforced');
  });

  it("tells a drop that is not the policy's, and a flow without L4", () => {
    const e = explainFlow(
      { ...flow('shop/frontend', 'shop/backend', 8080, { dropReason: 2 }), drop_reason_desc: 'INVALID_PACKET_DROPPED' },
      state(ALL),
    );
    expect(e).toMatchObject({
      kind: 'other',
      reason: expect.stringContaining('INVALID_PACKET_DROPPED, not by a policy'),
    });
    const noL4 = { ...flow('shop/frontend', 'shop/backend', 8080), l4: undefined };
    expect(explainFlow(noL4, state(ALL)).kind).toBe('other');
  });
});
