// Problems the policy engine reports instead of throwing: stable codes for the agent's `Valid`
// condition and logs. The engine never crashes on odd input; it reports and carries on.

/** Stable codes; the agent and tests rely on them. */
export const PolicyErrorCode = {
  /** A selector key or requirement the engine cannot use (the selector then selects nothing). */
  BadSelector: 'POLICY_ERR_BAD_SELECTOR',
  /** A CIDR that does not parse, or an `except` outside its `cidr` (the CIDR is skipped). */
  BadCidr: 'POLICY_ERR_BAD_CIDR',
  /** A toFQDNs `matchName` / `matchPattern` that is not a DNS name or pattern (the entry selects nothing). */
  BadFqdn: 'POLICY_ERR_BAD_FQDN',
  /** A port, range or protocol that does not parse (the port rule is skipped). */
  BadPort: 'POLICY_ERR_BAD_PORT',
  /** An ICMP type out of range or an unknown name (the ICMP field is skipped). */
  BadIcmp: 'POLICY_ERR_BAD_ICMP',
  /** A policy object carries neither `spec` nor `specs`. */
  EmptyPolicy: 'POLICY_ERR_NO_RULES',
  /** The node-local CIDR identity range (bit 24) is exhausted. */
  CidrIdentitiesExhausted: 'POLICY_ERR_CIDR_IDENTITIES_EXHAUSTED',
  /** An event names an identity or endpoint the engine does not know. */
  UnknownObject: 'POLICY_ERR_UNKNOWN_OBJECT',
} as const;
export type PolicyErrorCode = (typeof PolicyErrorCode)[keyof typeof PolicyErrorCode];

/** One problem found while translating a policy or applying an event. */
export interface PolicyProblem {
  code: PolicyErrorCode;
  /** The policy key (`CiliumNetworkPolicy/ns/name`) or event the problem belongs to. */
  source: string;
  /** The field path as kubectl prints it (`specs[0].ingress[1].toPorts[0].ports[0].port`). */
  field: string;
  message: string;
}

/** Features a policy uses that this engine accepts but does not enforce (for `Valid`). */
export const NOT_ENFORCED_FEATURES = [
  'l7Rules',
  'toServices',
  'toGroups',
  'fromGroups',
  'fromNodes',
  'toNodes',
  'cidrGroupRef',
  'cidrGroupSelector',
  'authentication',
  'tls',
  'listener',
] as const;
export type NotEnforcedFeature = (typeof NOT_ENFORCED_FEATURES)[number];

/** One field accepted but not enforced, with what the datapath does instead. */
export interface NotEnforced {
  feature: NotEnforcedFeature;
  source: string;
  field: string;
  message: string;
}

/** The base of the policy layer's errors: a problem raised as a failure by a caller that cannot carry on. */
export class PolicyError extends Error {
  constructor(
    readonly code: PolicyErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PolicyError';
  }
}

export function problem(code: PolicyErrorCode, source: string, field: string, message: string): PolicyProblem {
  return { code, source, field, message };
}
