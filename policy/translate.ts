// One entry point for every policy kind the agent watches: object in, translated policy out.
import { translateNetworkPolicy, type NetworkPolicy } from './network-policy.js';
import { DEFAULT_TRANSLATE_OPTIONS, translateCiliumPolicy, type CiliumPolicyObject, type PolicyKind, type TranslatedPolicy, type TranslateOptions } from './rule-model.js';

export type PolicyObject =
  | { readonly kind: 'CiliumNetworkPolicy'; readonly object: CiliumPolicyObject }
  | { readonly kind: 'CiliumClusterwideNetworkPolicy'; readonly object: CiliumPolicyObject }
  | { readonly kind: 'NetworkPolicy'; readonly object: NetworkPolicy };

/** Translates any policy object; never throws (problems are listed in the result). */
export function translatePolicy(p: PolicyObject, options: TranslateOptions = DEFAULT_TRANSLATE_OPTIONS): TranslatedPolicy {
  switch (p.kind) {
    case 'NetworkPolicy':
      return translateNetworkPolicy(p.object, options);
    default:
      return translateCiliumPolicy(p.kind, p.object, options);
  }
}

export type { PolicyKind };
