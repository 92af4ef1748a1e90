// The cilium.io/v2 CRDs: schemas (TypeScript source of truth), types, validators and CRD objects.
export * from './common.js';
export * from './policy-rule.js';
export * from './network-policy.js';
export * from './endpoint.js';
export * from './node.js';
export * from './identity.js';
export * from './definitions.js';
export * from './errors.js';
export * from './validate.js';
export { parsePrefix, prefixContains, isCidr, type Prefix } from './cidr.js';
export { icmpTypeNumber, ICMPV4_TYPES, ICMPV6_TYPES } from './icmp.js';
export { structuralViolations, type StructuralViolation } from './structural.js';
