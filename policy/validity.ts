// Whether a policy object is usable, as the agents judge it: a CiliumNetworkPolicy or a
// CiliumClusterwideNetworkPolicy with a schema error is refused as a whole (upstream refuses the
// whole policy: none of its rules apply); otherwise it is translated, and the fields accepted but
// not enforced are listed. The agent (which enforces) and the operator's validator (which writes
// the `Valid` condition, as upstream's operator does since v1.16) share this one judgement.
import type { CrdValidationError } from '../crds/errors.js';
import { validateObject } from '../crds/validate.js';
import type { TranslateOptions, TranslatedPolicy } from './rule-model.js';
import { translatePolicy, type PolicyObject } from './translate.js';

export interface PolicyCheck {
  /** Schema and semantic errors: the policy is refused as a whole when there is any. */
  errors: CrdValidationError[];
  /** The translation, when the policy is not refused. */
  translated?: TranslatedPolicy;
}

/** Validates (CNP, CCNP) and translates a policy object; never throws. */
export function checkPolicy(p: PolicyObject, options: TranslateOptions): PolicyCheck {
  const errors = p.kind === 'NetworkPolicy' ? [] : validateObject(p.kind, p.object, { unknownFields: 'ignore' });
  if (errors.length) return { errors };
  return { errors, translated: translatePolicy(p, options) };
}

/** The `Valid` status condition of a CNP or CCNP (metav1.Condition without its times). */
export interface PolicyValidCondition {
  type: 'Valid';
  status: 'True' | 'False';
  reason: 'PolicyValidated' | 'PolicyValidationFailed';
  message: string;
}

/**
 * The `Valid` condition for a checked policy: False with every error when it is refused, True
 * otherwise, naming the fields that are accepted but not enforced.
 */
export function policyValidCondition(check: PolicyCheck): PolicyValidCondition {
  const { errors, translated } = check;
  if (!translated)
    return {
      type: 'Valid',
      status: 'False',
      reason: 'PolicyValidationFailed',
      message: errors.map((e) => `${e.field}: ${e.message}`).join('; '),
    };
  const notes = [
    ...translated.problems.map((p) => `${p.field}: ${p.message}`),
    ...translated.notEnforced.map((n) => `${n.field}: ${n.message}`),
  ];
  return {
    type: 'Valid',
    status: 'True',
    reason: 'PolicyValidated',
    message: notes.length
      ? `Policy validation succeeded; not enforced: ${notes.join('; ')}`
      : 'Policy validation succeeded',
  };
}
