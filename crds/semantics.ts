// Checks that a JSON schema cannot express but upstream Cilium applies when it parses a policy
// (`pkg/policy/api` sanitize): these reach the user through the policy's `Valid` condition.
import type { EndpointSelector } from './common.js';
import { CrdErrorCode, type CrdValidationError } from './errors.js';
import { parsePrefix, prefixContains } from './cidr.js';
import { icmpTypeNumber } from './icmp.js';
import type { CidrRule, IcmpRule, PortRule, Rule } from './policy-rule.js';

type Report = (code: CrdErrorCode, field: string, message: string) => void;

// Peer fields that upstream refuses to combine within one rule ("Combining X and Y is not supported yet").
const INGRESS_L3 = ['fromEndpoints', 'fromCIDR', 'fromCIDRSet', 'fromEntities', 'fromNodes', 'fromGroups'] as const;
const EGRESS_L3 = [
  'toEndpoints',
  'toCIDR',
  'toCIDRSet',
  'toEntities',
  'toNodes',
  'toGroups',
  'toServices',
  'toFQDNs',
] as const;

function checkSelector(sel: EndpointSelector | undefined, field: string, report: Report): void {
  sel?.matchExpressions?.forEach((req, i) => {
    const f = `${field}.matchExpressions[${i}]`;
    const n = req.values?.length ?? 0;
    if ((req.operator === 'In' || req.operator === 'NotIn') && n === 0) {
      report(
        CrdErrorCode.SelectorRequirement,
        `${f}.values`,
        `values must be non-empty when operator is ${req.operator}`,
      );
    }
    if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && n > 0) {
      report(CrdErrorCode.SelectorRequirement, `${f}.values`, `values must be empty when operator is ${req.operator}`);
    }
  });
}

function checkCidrRule(rule: CidrRule, field: string, report: Report): void {
  const sources = (['cidr', 'cidrGroupRef', 'cidrGroupSelector'] as const).filter((k) => rule[k] !== undefined);
  if (sources.length !== 1) {
    report(
      CrdErrorCode.CidrRule,
      field,
      sources.length === 0
        ? 'a CIDR rule needs exactly one of cidr, cidrGroupRef, cidrGroupSelector'
        : `a CIDR rule takes only one of cidr, cidrGroupRef, cidrGroupSelector (found ${sources.join(', ')})`,
    );
  }
  if (!rule.except?.length) return;
  const outer = rule.cidr !== undefined ? parsePrefix(rule.cidr) : undefined;
  if (!outer) {
    if (rule.cidr === undefined)
      report(CrdErrorCode.CidrRule, `${field}.except`, 'except is only allowed together with cidr');
    return;
  }
  rule.except.forEach((ex, i) => {
    const inner = parsePrefix(ex);
    if (inner && !prefixContains(outer, inner)) {
      report(CrdErrorCode.CidrRule, `${field}.except[${i}]`, `except ${ex} is not contained in cidr ${rule.cidr}`);
    }
  });
}

function checkPorts(toPorts: readonly PortRule[] | undefined, field: string, report: Report): void {
  toPorts?.forEach((pr, i) => {
    const f = `${field}.toPorts[${i}]`;
    const l7 = pr.rules
      ? (['http', 'kafka', 'dns', 'l7proto'] as const).filter((k) => pr.rules?.[k] !== undefined)
      : [];
    if (l7.length > 1)
      report(CrdErrorCode.L7, `${f}.rules`, `only one L7 protocol per port rule is allowed (found ${l7.join(', ')})`);
    pr.ports?.forEach((pp, j) => {
      const pf = `${f}.ports[${j}]`;
      const numeric = pp.port !== undefined && /^\d+$/.test(pp.port);
      if (pp.endPort !== undefined && numeric && pp.endPort !== 0 && pp.endPort < Number(pp.port)) {
        report(
          CrdErrorCode.PortRange,
          `${pf}.endPort`,
          `endPort ${pp.endPort} must be greater than or equal to port ${pp.port}`,
        );
      }
      if (pp.endPort !== undefined && pp.endPort > 0 && l7.length > 0) {
        report(CrdErrorCode.PortRange, `${pf}.endPort`, 'a port range cannot carry L7 rules');
      }
      if (pp.endPort !== undefined && pp.endPort > 0 && pp.port === undefined) {
        report(CrdErrorCode.PortRange, `${pf}.port`, 'endPort needs port, the start of the range');
      }
    });
  });
}

function checkIcmps(icmps: readonly IcmpRule[] | undefined, field: string, report: Report): void {
  icmps?.forEach((ir, i) =>
    ir.fields?.forEach((fld, j) => {
      if (icmpTypeNumber(fld.type, fld.family ?? 'IPv4') === undefined) {
        report(
          CrdErrorCode.Icmp,
          `${field}.icmps[${i}].fields[${j}].type`,
          `ICMP type ${JSON.stringify(fld.type)} is neither a number from 0 to 255 nor a known ${fld.family ?? 'IPv4'} type name`,
        );
      }
    }),
  );
}

type PeerRule = Record<string, unknown> & { toPorts?: readonly PortRule[]; icmps?: readonly IcmpRule[] };

function checkPeerRule(r: PeerRule, field: string, l3: readonly string[], report: Report): void {
  const present = l3.filter((k) => Array.isArray(r[k]) && (r[k] as unknown[]).length > 0);
  if (present.length > 1) {
    report(CrdErrorCode.Exclusive, field, `Combining ${present[0]} and ${present[1]} is not supported yet`);
  }
  if (r.icmps?.length && r.toPorts?.length) {
    report(CrdErrorCode.Exclusive, field, 'icmps and toPorts are mutually exclusive; define a separate rule for each');
  }
  for (const k of ['fromEndpoints', 'fromRequires', 'fromNodes', 'toEndpoints', 'toRequires', 'toNodes']) {
    (r[k] as EndpointSelector[] | undefined)?.forEach((s, i) => checkSelector(s, `${field}.${k}[${i}]`, report));
  }
  for (const k of ['fromCIDRSet', 'toCIDRSet']) {
    (r[k] as CidrRule[] | undefined)?.forEach((c, i) => checkCidrRule(c, `${field}.${k}[${i}]`, report));
  }
  checkPorts(r.toPorts, field, report);
  checkIcmps(r.icmps, field, report);
}

/** The semantic errors of one rule at `field` (e.g. `spec` or `specs[2]`). */
export function checkRule(rule: Rule, field: string, clusterwide: boolean, report: Report): void {
  const hasEp = rule.endpointSelector !== undefined;
  const hasNode = rule.nodeSelector !== undefined;
  if (hasEp && hasNode) {
    report(CrdErrorCode.Selector, field, 'endpointSelector and nodeSelector are mutually exclusive');
  } else if (!hasEp && !hasNode) {
    report(
      CrdErrorCode.Selector,
      `${field}.endpointSelector`,
      'a rule needs endpointSelector (or nodeSelector in a clusterwide policy)',
    );
  } else if (hasNode && !clusterwide) {
    report(
      CrdErrorCode.Selector,
      `${field}.nodeSelector`,
      'nodeSelector is only allowed in a CiliumClusterwideNetworkPolicy',
    );
  }
  checkSelector(rule.endpointSelector, `${field}.endpointSelector`, report);
  checkSelector(rule.nodeSelector, `${field}.nodeSelector`, report);
  rule.ingress?.forEach((r, i) => checkPeerRule(r as PeerRule, `${field}.ingress[${i}]`, INGRESS_L3, report));
  rule.ingressDeny?.forEach((r, i) => checkPeerRule(r as PeerRule, `${field}.ingressDeny[${i}]`, INGRESS_L3, report));
  rule.egress?.forEach((r, i) => checkPeerRule(r as PeerRule, `${field}.egress[${i}]`, EGRESS_L3, report));
  rule.egressDeny?.forEach((r, i) => checkPeerRule(r as PeerRule, `${field}.egressDeny[${i}]`, EGRESS_L3, report));
}

/** The semantic errors of a CNP or CCNP object (already schema-valid). */
export function policySemanticErrors(
  policy: { spec?: Rule; specs?: Rule[] },
  clusterwide: boolean,
): CrdValidationError[] {
  const errors: CrdValidationError[] = [];
  const report: Report = (code, field, message) => errors.push({ code, field, message, stage: 'semantic' });
  if (policy.spec === undefined && !policy.specs?.length) {
    report(CrdErrorCode.EmptyPolicy, 'spec', 'the policy has no rule: set spec or a non-empty specs list');
  }
  if (policy.spec) checkRule(policy.spec, 'spec', clusterwide, report);
  policy.specs?.forEach((r, i) => checkRule(r, `specs[${i}]`, clusterwide, report));
  return errors;
}
