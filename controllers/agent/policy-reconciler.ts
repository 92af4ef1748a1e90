// The policy reconciler: identities and policies (CNP, CCNP, NetworkPolicy) from the caches into
// the policy engine, each policy's Valid condition, and the priming that feeds the engine the
// whole cached world before the datapath gate opens. The Valid condition is the operator's to
// write (its policy validator); agents write it only with `disable-cnp-status-updates: "false"`:
// every agent writing into every policy does not scale (upstream turned agents' writes off).
import {
  LabelSet,
  checkPolicy,
  policyKey,
  policyValidCondition,
  type PolicyCheck,
  type PolicyEvent,
  type PolicyObject,
} from '../../policy/index.js';
import { Action, type KubeObject, type ReconcileContext, type Store } from '../framework/index.js';
import type { CiliumIdentityObject } from './identity-allocator.js';
import type { AgentMetrics } from './metrics.js';
import type { NamedPortsFeed } from './named-ports.js';
import type { PolicyHub } from './policy-hub.js';
import type { AgentStores } from './resources.js';

export class PolicyReconciler {
  /**
   * The resourceVersion of each identity (by id) and policy (by engine key) the engine was fed:
   * prime() skips what the reconcilers already fed while the other caches synced (at 5,000
   * identities and 1,000 policies that was half a second of a restart, all of it repeated).
   */
  private readonly fedIdentities = new Map<number, string | undefined>();
  private readonly fedPolicies = new Map<string, string | undefined>();

  constructor(
    private readonly hub: PolicyHub,
    private readonly stores: AgentStores,
    private readonly namedPorts: NamedPortsFeed,
    private readonly metrics: AgentMetrics,
    private readonly o: { clusterName: string; cnpStatusUpdates: boolean },
  ) {}

  async onIdentity(key: string, ctx: ReconcileContext<CiliumIdentityObject>): Promise<Action> {
    const id = Number(key);
    if (!Number.isInteger(id)) return Action.awaitChange();
    const labels = ctx.object?.['security-labels'];
    this.hub.apply(
      labels
        ? [{ type: 'identity-upserted', id, labels: LabelSet.fromRecord(labels) }]
        : [{ type: 'identity-removed', id }],
    );
    if (labels) this.fedIdentities.set(id, ctx.object?.metadata?.resourceVersion);
    else this.fedIdentities.delete(id);
    this.metrics.identities.set(this.stores.identity.size);
    return Action.awaitChange();
  }

  async onPolicy(kind: PolicyObject['kind'], key: string, ctx: ReconcileContext<KubeObject>): Promise<Action> {
    const [ns, name] = key.includes('/') ? (key.split('/') as [string, string]) : [undefined, key];
    const pkey = policyKey(kind, ns, name);
    if (!ctx.object) {
      this.fedPolicies.delete(pkey);
      this.hub.apply([{ type: 'policy-removed', key: pkey }]);
      this.countPolicies();
      return Action.awaitChange();
    }
    const check = this.translate(kind, ctx.object);
    const { translated } = check;
    // Upstream refuses the whole policy: none of its rules apply.
    this.hub.apply(
      translated ? [{ type: 'policy-upserted', policy: translated }] : [{ type: 'policy-removed', key: pkey }],
    );
    this.fedPolicies.set(pkey, ctx.object.metadata?.resourceVersion);
    this.countPolicies();
    if (this.o.cnpStatusUpdates && kind !== 'NetworkPolicy') await ctx.setCondition(policyValidCondition(check));
    return Action.awaitChange();
  }

  /**
   * Feeds the engine every identity and policy the caches hold that the reconcilers have not fed
   * yet (at this resourceVersion), synchronously, before the gate opens: the reconcilers feed the
   * rest later (idempotently), but a restored endpoint must never be programmed from an engine
   * that has not yet seen them.
   */
  prime(): void {
    const events: PolicyEvent[] = [];
    for (const i of this.stores.identity.list()) {
      const labels = i['security-labels'];
      const id = Number(i.metadata?.name);
      if (!labels || !Number.isInteger(id)) continue;
      const rv = i.metadata?.resourceVersion;
      if (rv !== undefined && this.fedIdentities.get(id) === rv) continue;
      events.push({ type: 'identity-upserted', id, labels: LabelSet.fromRecord(labels) });
      this.fedIdentities.set(id, rv);
    }
    const kinds: [Store<KubeObject>, PolicyObject['kind']][] = [
      [this.stores.cnp, 'CiliumNetworkPolicy'],
      [this.stores.ccnp, 'CiliumClusterwideNetworkPolicy'],
      [this.stores.np, 'NetworkPolicy'],
    ];
    for (const [store, kind] of kinds) {
      for (const object of store.list()) {
        const rv = object.metadata?.resourceVersion;
        const pkey = policyKey(kind, object.metadata?.namespace, object.metadata?.name ?? '');
        if (rv !== undefined && this.fedPolicies.get(pkey) === rv) continue;
        const { translated } = this.translate(kind, object);
        if (translated) events.push({ type: 'policy-upserted', policy: translated });
        this.fedPolicies.set(pkey, rv);
      }
    }
    const namedPorts = this.namedPorts.event();
    if (namedPorts) events.push(namedPorts);
    this.hub.apply(events);
  }

  private translate(kind: PolicyObject['kind'], object: KubeObject): PolicyCheck {
    return checkPolicy({ kind, object } as PolicyObject, { clusterName: this.o.clusterName });
  }

  private countPolicies(): void {
    this.metrics.policies.set(this.stores.cnp.size + this.stores.ccnp.size + this.stores.np.size);
  }
}
