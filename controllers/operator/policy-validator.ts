// The policy validator, as upstream's operator has it since v1.16 (`validate-network-policy`, on by
// default): one writer of each CiliumNetworkPolicy's and CiliumClusterwideNetworkPolicy's `Valid`
// condition for the whole cluster, instead of every agent writing into every policy (the agents
// do not, unless `disable-cnp-status-updates` is "false"). Purely informational: the agents enforce
// a policy or refuse it on the same judgement (policy/validity.ts) whatever this writes.
import { checkPolicy, policyValidCondition, type PolicyObject } from '../../policy/index.js';
import { Action, type ControllerOptions, type KubeObject } from '../framework/index.js';
import { CCNPS, CNPS } from './resources.js';

export interface PolicyValidatorOptions {
  /** `cluster-name`: the `cluster` entity and namespace selectors are translated with it. */
  clusterName: string;
}

/** One controller per policy kind; each reconcile writes the Valid condition when it changed. */
export function policyValidatorControllers(o: PolicyValidatorOptions): ControllerOptions<KubeObject>[] {
  const kinds: [typeof CNPS, PolicyObject['kind']][] = [
    [CNPS, 'CiliumNetworkPolicy'],
    [CCNPS, 'CiliumClusterwideNetworkPolicy'],
  ];
  return kinds.map(([resource, kind]) => ({
    name: `cilium-operator-policy-validator-${resource.plural}`,
    resource,
    // Its own status writes change no generation: they cause no reconcile.
    generationFilter: true,
    async reconcile(_key, ctx) {
      if (!ctx.object) return Action.awaitChange();
      const check = checkPolicy({ kind, object: ctx.object } as PolicyObject, { clusterName: o.clusterName });
      await ctx.setCondition(policyValidCondition(check));
      return Action.awaitChange();
    },
  }));
}
