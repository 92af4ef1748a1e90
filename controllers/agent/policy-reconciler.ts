// The policy reconciler: identities and policies (CNP, CCNP, NetworkPolicy) from the caches into
// the policy engine, each policy's Valid condition, and the priming that feeds the engine the
// whole cached world before the datapath gate opens.
import { validateObject, type CrdValidationError } from '../../crds/index.js';
import {
  LabelSet,
  policyKey,
  translatePolicy,
  type PolicyEvent,
  type PolicyObject,
  type TranslatedPolicy,
} from '../../policy/index.js';
import { Action, type KubeObject, type ReconcileContext, type Store } from '../framework/index.js';
import type { CiliumIdentityObject } from './identity-allocator.js';
import type { AgentMetrics } from './metrics.js';
import type { NamedPortsFeed } from './named-ports.js';
import type { PolicyHub } from './policy-hub.js';
import type { AgentStores } from './resources.js';

export class PolicyReconciler {
  constructor(
    private readonly hub: PolicyHub,
    private readonly stores: AgentStores,
    private readonly namedPorts: NamedPortsFeed,
    private readonly metrics: AgentMetrics,
    private readonly clusterName: string,
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
    this.metrics.identities.set(this.stores.identity.size);
    return Action.awaitChange();
  }

  async onPolicy(kind: PolicyObject['kind'], key: string, ctx: ReconcileContext<KubeObject>): Promise<Action> {
    const [ns, name] = key.includes('/') ? (key.split('/') as [string, string]) : [undefined, key];
    const pkey = policyKey(kind, ns, name);
    if (!ctx.object) {
      this.hub.apply([{ type: 'policy-removed', key: pkey }]);
      this.countPolicies();
      return Action.awaitChange();
    }
    const { errors, translated } = this.translate(kind, ctx.object);
    if (!translated) {
      // Upstream refuses the whole policy: none of its rules apply.
      this.hub.apply([{ type: 'policy-removed', key: pkey }]);
      const message = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
      await ctx.setCondition({ type: 'Valid', status: 'False', reason: 'PolicyValidationFailed', message });
      this.countPolicies();
      return Action.awaitChange();
    }
    this.hub.apply([{ type: 'policy-upserted', policy: translated }]);
    this.countPolicies();
    if (kind !== 'NetworkPolicy') {
      const notes = [
        ...translated.problems.map((p) => `${p.field}: ${p.message}`),
        ...translated.notEnforced.map((n) => `${n.field}: ${n.message}`),
      ];
      const message = notes.length
        ? `Policy validation succeeded; not enforced: ${notes.join('; ')}`
        : 'Policy validation succeeded';
      await ctx.setCondition({ type: 'Valid', status: 'True', reason: 'PolicyValidated', message });
    }
    return Action.awaitChange();
  }

  /**
   * Feeds the engine every identity and policy the caches hold, synchronously, before the gate
   * opens: the reconcilers do the same later (idempotently), but a restored endpoint must never
   * be programmed from an engine that has not yet seen them.
   */
  prime(): void {
    const events: PolicyEvent[] = [];
    for (const i of this.stores.identity.list()) {
      const labels = i['security-labels'];
      const id = Number(i.metadata?.name);
      if (labels && Number.isInteger(id))
        events.push({ type: 'identity-upserted', id, labels: LabelSet.fromRecord(labels) });
    }
    const kinds: [Store<KubeObject>, PolicyObject['kind']][] = [
      [this.stores.cnp, 'CiliumNetworkPolicy'],
      [this.stores.ccnp, 'CiliumClusterwideNetworkPolicy'],
      [this.stores.np, 'NetworkPolicy'],
    ];
    for (const [store, kind] of kinds) {
      for (const object of store.list()) {
        const { translated } = this.translate(kind, object);
        if (translated) events.push({ type: 'policy-upserted', policy: translated });
      }
    }
    const namedPorts = this.namedPorts.event();
    if (namedPorts) events.push(namedPorts);
    this.hub.apply(events);
  }

  /**
   * Upstream refuses a policy with a schema or semantic error as a whole: then there is nothing to
   * translate, only errors to report in its Valid condition.
   */
  private translate(
    kind: PolicyObject['kind'],
    object: KubeObject,
  ): { errors: CrdValidationError[]; translated?: TranslatedPolicy } {
    const errors = kind === 'NetworkPolicy' ? [] : validateObject(kind, object, { unknownFields: 'ignore' });
    if (errors.length) return { errors };
    return {
      errors,
      translated: translatePolicy({ kind, object } as PolicyObject, { clusterName: this.clusterName }),
    };
  }

  private countPolicies(): void {
    this.metrics.policies.set(this.stores.cnp.size + this.stores.ccnp.size + this.stores.np.size);
  }
}
