// The policy reconciler's priming before the datapath gate opens: it feeds the engine what the
// reconcilers have not fed yet, and skips what they fed at the same resourceVersion (at 5,000
// identities and 1,000 policies a restart fed everything twice: half a second).
import { describe, expect, it } from '@jest/globals';
import { PolicyReconciler } from '../../../controllers/agent/policy-reconciler.js';
import type { AgentStores } from '../../../controllers/agent/resources.js';
import { Store, type KubeObject, type ReconcileContext } from '../../../controllers/framework/index.js';
import type { PolicyEvent } from '../../../policy/index.js';

const identity = (id: number, rv: string, app: string) => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumIdentity',
  metadata: { name: String(id), resourceVersion: rv },
  'security-labels': { 'k8s:app': app, 'k8s:io.kubernetes.pod.namespace': 'shop' },
});
const cnp = (name: string, rv: string): KubeObject =>
  ({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name, namespace: 'shop', resourceVersion: rv },
    spec: { endpointSelector: { matchLabels: { app: 'web' } }, ingress: [{ fromEndpoints: [{}] }] },
  }) as KubeObject;

function setup() {
  const applied: PolicyEvent[] = [];
  const stores = {
    identity: new Store(),
    cnp: new Store(),
    ccnp: new Store(),
    np: new Store(),
  } as unknown as AgentStores;
  const gauge = { set: () => undefined };
  const r = new PolicyReconciler(
    { apply: (events: PolicyEvent[]) => void applied.push(...events) } as never,
    stores,
    { event: () => undefined } as never,
    { identities: gauge, policies: gauge } as never,
    { clusterName: 'default', cnpStatusUpdates: false },
  );
  const ctx = <T>(object: T) => ({ object, setCondition: async () => undefined }) as unknown as ReconcileContext<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const summary = () =>
    applied
      .splice(0)
      .map((e) =>
        e.type === 'identity-upserted'
          ? `identity ${e.id}`
          : e.type === 'policy-upserted'
            ? `policy ${e.policy.key}`
            : e.type,
      );
  return { stores, r, ctx, summary };
}

describe('PolicyReconciler.prime', () => {
  it('feeds what the reconcilers have not fed, and skips what they fed at the same version', async () => {
    const { stores, r, ctx, summary } = setup();
    const web = identity(1001, '10', 'web');
    const db = identity(1002, '11', 'db');
    const allow = cnp('allow', '20');
    const deny = cnp('deny', '21');
    for (const o of [web, db]) stores.identity.apply({ type: 'Apply', object: o as never });
    for (const o of [allow, deny]) stores.cnp.apply({ type: 'Apply', object: o });
    // the reconcilers got to one identity and one policy while the other caches synced
    await r.onIdentity('1001', ctx(web));
    await r.onPolicy('CiliumNetworkPolicy', 'shop/allow', ctx(allow));
    summary();
    r.prime();
    expect(summary()).toEqual(['identity 1002', 'policy CiliumNetworkPolicy/shop/deny']);
    // nothing changed since: nothing to feed
    r.prime();
    expect(summary()).toEqual([]);
    // a newer version in the cache than the one fed is fed again
    stores.identity.apply({ type: 'Apply', object: identity(1001, '30', 'web2') as never });
    stores.cnp.apply({ type: 'Apply', object: cnp('allow', '31') });
    r.prime();
    expect(summary()).toEqual(['identity 1001', 'policy CiliumNetworkPolicy/shop/allow']);
  });

  it('a policy deleted and created again under its name is fed again', async () => {
    const { stores, r, ctx, summary } = setup();
    const allow = cnp('allow', '20');
    stores.cnp.apply({ type: 'Apply', object: allow });
    await r.onPolicy('CiliumNetworkPolicy', 'shop/allow', ctx(allow));
    await r.onPolicy('CiliumNetworkPolicy', 'shop/allow', ctx(undefined));
    summary();
    r.prime();
    expect(summary()).toEqual(['policy CiliumNetworkPolicy/shop/allow']);
  });
});
