// The policy engine's public API: translate policies, feed events, read per-endpoint deltas.
export * from './errors.js';
export * from './labels.js';
export * from './label-filter.js';
export * from './endpoint-labels.js';
export * from './identities.js';
export * from './cidr-identities.js';
export * from './fqdn-selector.js';
export * from './fqdn-selections.js';
export * from './fqdn-identities.js';
export * from './selector.js';
export * from './ports.js';
export * from './l7.js';
export * from './l7-table.js';
export * from './rule-model.js';
export * from './translation-context.js';
export * from './cilium-policy.js';
export * from './network-policy.js';
export * from './selector-cache.js';
export * from './entries.js';
export {
  ResolvedPolicy,
  ruleSelects,
  canBeSubject,
  type EnforcementMode,
  type Filter,
  type L7Verdict,
} from './resolve.js';
export * from './engine.js';
export { EndpointDelta, EndpointGroupDelta } from './endpoint-delta.js';
export * from './trace.js';
export * from './translate.js';
export * from './validity.js';
