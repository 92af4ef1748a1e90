// The engine's rule model: one normalized form for CiliumNetworkPolicy, the clusterwide variant
// and Kubernetes NetworkPolicy. The translators live in cilium-policy.ts (Cilium's `Rule`) and
// network-policy.ts; everything a rule uses but we do not enforce is listed, never dropped.
import type { Prefix } from '../crds/cidr.js';
import type { NotEnforced, PolicyProblem } from './errors.js';
import type { FqdnSelector } from './fqdn-selector.js';
import type { L7PortRule } from './l7.js';
import { DEFAULT_CLUSTER_NAME } from './labels.js';
import type { PortSpec } from './ports.js';
import type { Requirement, Selector } from './selector.js';

export type Direction = 'ingress' | 'egress';
export const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

export type PolicyKind = 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy' | 'NetworkPolicy';

/** Where a rule came from, for trace output and deltas' provenance. */
export interface RuleRef {
  /** `CiliumNetworkPolicy/ns/name`, `CiliumClusterwideNetworkPolicy/name`, `NetworkPolicy/ns/name`. */
  readonly policy: string;
  /** Field path inside the object: `specs[1].ingressDeny[0]`. */
  readonly path: string;
}

/** One ingress/egress (allow or deny) entry of a rule: peers × ports. */
export interface PeerRule {
  readonly ref: RuleRef;
  readonly direction: Direction;
  readonly deny: boolean;
  /** from/toEndpoints (and the implicit wildcard of an L4-only rule): fromRequires applies. */
  readonly endpoints: readonly Selector[];
  /** Entities and CIDRs: fromRequires does not apply. */
  readonly others: readonly Selector[];
  readonly ports: readonly PortSpec[];
  /** Port rules with L7 rules (allow rules only): their ports redirect to the node's proxy. */
  readonly l7?: readonly L7PortRule[];
}

/** One rule after translation: who it applies to and what it allows or denies. */
export interface PolicyRule {
  readonly id: string;
  readonly ref: RuleRef;
  readonly subject: Selector;
  /** A host-firewall rule (nodeSelector): applies to the host identity only. */
  readonly node: boolean;
  readonly peerRules: readonly PeerRule[];
  /** from/toRequires of this rule: ANDed into the endpoint peers of every rule of the subject. */
  readonly requires: Readonly<Record<Direction, readonly Requirement[]>>;
  /** Whether this rule puts its subjects in default deny, per direction. */
  readonly defaultDeny: Readonly<Record<Direction, boolean>>;
}

/** A policy object translated: its rules and what the agent should report. */
export interface TranslatedPolicy {
  readonly key: string;
  readonly rules: readonly PolicyRule[];
  /** Every prefix named (cidr and except): each needs a node-local CIDR identity. */
  readonly prefixes: readonly Prefix[];
  /** The toFQDNs selectors (valid ones): the IPs each selects get CIDR identities (fqdn-identities.ts). */
  readonly fqdnSelectors?: readonly FqdnSelector[];
  readonly notEnforced: readonly NotEnforced[];
  readonly problems: readonly PolicyProblem[];
}

export interface TranslateOptions {
  clusterName: string;
}
export const DEFAULT_TRANSLATE_OPTIONS: TranslateOptions = { clusterName: DEFAULT_CLUSTER_NAME };

export function policyKey(kind: PolicyKind, namespace: string | undefined, name: string): string {
  return kind === 'CiliumClusterwideNetworkPolicy' ? `${kind}/${name}` : `${kind}/${namespace ?? ''}/${name}`;
}
