// One entry point for every policy kind the agent watches: object in, translated policy out.
import { translateNetworkPolicy, type NetworkPolicy } from './network-policy.js';
import { translateCiliumPolicy, type CiliumPolicyObject } from './cilium-policy.js';
import {
  DEFAULT_TRANSLATE_OPTIONS,
  type PolicyKind,
  type TranslatedPolicy,
  type TranslateOptions,
} from './rule-model.js';

export type PolicyObject =
  | { readonly kind: 'CiliumNetworkPolicy'; readonly object: CiliumPolicyObject }
  | { readonly kind: 'CiliumClusterwideNetworkPolicy'; readonly object: CiliumPolicyObject }
  | { readonly kind: 'NetworkPolicy'; readonly object: NetworkPolicy };

/** Translates any policy object; never throws (problems are listed in the result). */
export function translatePolicy(
  p: PolicyObject,
  options: TranslateOptions = DEFAULT_TRANSLATE_OPTIONS,
): TranslatedPolicy {
  switch (p.kind) {
    case 'NetworkPolicy':
      return translateNetworkPolicy(p.object, options);
    default:
      return translateCiliumPolicy(p.kind, p.object, options);
  }
}

export type { PolicyKind };

/** The `Valid` condition the agent writes to a policy's status (metav1.Condition shape). */
export interface ValidCondition {
  type: 'Valid';
  status: 'True' | 'False';
  reason: 'Enforced' | 'PartiallyEnforced' | 'InvalidFields';
  message: string;
}

/**
 * `Valid` from a translation: False when fields were unusable (they are skipped, the rest is
 * enforced), True otherwise; the message lists every field accepted but not enforced.
 */
export function validCondition(t: TranslatedPolicy): ValidCondition {
  const skipped = t.notEnforced.map((n) => `${n.field}: ${n.message}`);
  if (t.problems.length > 0) {
    const bad = t.problems.map((p) => `${p.field}: ${p.message} [${p.code}]`);
    return { type: 'Valid', status: 'False', reason: 'InvalidFields', message: [...bad, ...skipped].join('; ') };
  }
  if (skipped.length > 0)
    return {
      type: 'Valid',
      status: 'True',
      reason: 'PartiallyEnforced',
      message: `not enforced: ${skipped.join('; ')}`,
    };
  return { type: 'Valid', status: 'True', reason: 'Enforced', message: 'policy is enforced' };
}
