// CiliumNetworkPolicy (namespaced) and CiliumClusterwideNetworkPolicy (cluster-wide): `spec` or
// `specs`, plus a status carrying the agent's `Valid` condition.
import { Type, type Static } from '@sinclair/typebox';
import { Condition, ObjectMeta } from './common.js';
import { DerivativePolicyStatus, Rule } from './policy-rule.js';
import { List } from './schema-kit.js';

export const PolicyStatus = Type.Object({
  conditions: Type.Optional(List(Condition, { description: 'Valid: whether the agents could use the policy.' })),
  derivativePolicies: Type.Optional(DerivativePolicyStatus),
});
export type PolicyStatus = Static<typeof PolicyStatus>;

const policyObject = (description: string) =>
  Type.Object(
    {
      apiVersion: Type.Optional(Type.String()),
      kind: Type.Optional(Type.String()),
      metadata: Type.Optional(ObjectMeta),
      spec: Type.Optional(Rule),
      specs: Type.Optional(List(Rule, { description: 'Several rules in one object.' })),
      status: Type.Optional(PolicyStatus),
    },
    { description },
  );

export const CiliumNetworkPolicy = policyObject(
  'CiliumNetworkPolicy: rules confined to the namespace of the policy, with `spec` or `specs`.',
);
export type CiliumNetworkPolicy = Static<typeof CiliumNetworkPolicy>;

export const CiliumClusterwideNetworkPolicy = policyObject(
  'CiliumClusterwideNetworkPolicy: rules that apply cluster-wide; may select nodes (host policies).',
);
export type CiliumClusterwideNetworkPolicy = Static<typeof CiliumClusterwideNetworkPolicy>;
