// CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (Cilium's `Rule`, upstream pkg/policy/api)
// translated into the engine's rule model (rule-model.ts). Everything a rule uses but we do not
// enforce is listed, never dropped.
import type { EndpointSelector } from '../crds/common.js';
import { icmpTypeNumber } from '../crds/icmp.js';
import type {
  CidrRule,
  EgressDenyRule,
  EgressRule,
  Entity,
  IcmpRule,
  IngressDenyRule,
  IngressRule,
  PortRule,
  Rule,
} from '../crds/policy-rule.js';
import { type NotEnforced, PolicyErrorCode } from './errors.js';
import type { ReservedName } from './identities.js';
import type { FqdnSelector } from './fqdn-selector.js';
import type { L7Parser, L7PortRule } from './l7.js';
import { LABEL_CLUSTER, LABEL_NAMESPACE } from './labels.js';
import { ALL_TRAFFIC, compilePortProtocol, icmpSpec, type PortSpec } from './ports.js';
import {
  compileSelector,
  labelSelector,
  NOTHING,
  requirementsOf,
  singleLabel,
  WILDCARD,
  type Requirement,
  type Selector,
} from './selector.js';
import { TranslationContext } from './translation-context.js';
import {
  DEFAULT_TRANSLATE_OPTIONS,
  policyKey,
  type Direction,
  type PolicyRule,
  type RuleRef,
  type PeerRule,
  type TranslatedPolicy,
  type TranslateOptions,
} from './rule-model.js';

/** The cluster entity's reserved members (upstream pkg/policy/api/entity.go). */
const CLUSTER_RESERVED: readonly ReservedName[] = [
  'host',
  'remote-node',
  'init',
  'ingress',
  'health',
  'unmanaged',
  'kube-apiserver',
];

/** An entity as selectors. `all` is the wildcard (identity 0); `none` selects nothing. */
export function entitySelectors(entity: Entity | string, clusterName: string): Selector[] {
  switch (entity) {
    case 'all':
      return [WILDCARD];
    case 'none':
      return [];
    case 'world':
      return ['world', 'world-ipv4', 'world-ipv6'].map((n) => singleLabel('reserved', n));
    case 'cluster':
      return [
        ...CLUSTER_RESERVED.map((n) => singleLabel('reserved', n)),
        singleLabel('k8s', LABEL_CLUSTER, clusterName),
      ];
    case 'world-ipv4':
    case 'world-ipv6':
    case 'host':
    case 'init':
    case 'ingress':
    case 'unmanaged':
    case 'remote-node':
    case 'health':
    case 'kube-apiserver':
      return [singleLabel('reserved', entity)];
    default:
      return [NOTHING];
  }
}

type AnyPeerRule = IngressRule & EgressRule & IngressDenyRule & EgressDenyRule & Record<string, unknown>;

function has(obj: Record<string, unknown>, field: string): boolean {
  return obj[field] !== undefined && obj[field] !== null;
}

/**
 * The parser a port rule's `rules` ask for: http or dns are redirected to the node's proxy; Kafka
 * and generic `l7proto` rules are not parsed (reported, allowed at L4). Only one kind per port rule.
 */
function l7ParserOf(pr: PortRule, f: string, ctx: TranslationContext): L7Parser | undefined {
  const rules = pr.rules;
  if (!rules) return undefined;
  const set = (v: unknown): boolean => v !== undefined && v !== null;
  if (set(rules.kafka) || set(rules.l7proto) || (Array.isArray(rules.l7) && rules.l7.length > 0))
    ctx.skip(
      'l7Rules',
      `${f}.rules`,
      "Kafka and l7proto rules are not enforced: the ports are allowed at L4 for the rule's peers",
    );
  if (set(rules.http) && set(rules.dns)) {
    ctx.fail(
      PolicyErrorCode.BadPort,
      `${f}.rules`,
      'http and dns rules on one port rule: only one L7 type per port rule; http is used',
    );
    return 'http';
  }
  return set(rules.http) ? 'http' : set(rules.dns) ? 'dns' : undefined;
}

function compilePorts(r: AnyPeerRule, field: string, ctx: TranslationContext, l7?: L7PortRule[]): PortSpec[] {
  const toPorts = Array.isArray(r.toPorts) ? (r.toPorts as PortRule[]) : undefined;
  const icmps = Array.isArray(r.icmps) ? (r.icmps as IcmpRule[]) : undefined;
  if (!toPorts && !icmps) return [ALL_TRAFFIC];
  const out: PortSpec[] = [];
  (toPorts ?? []).forEach((pr, i) => {
    const f = `${field}.toPorts[${i}]`;
    if (!pr || typeof pr !== 'object') return;
    const parser = l7ParserOf(pr, f, ctx);
    if (pr.terminatingTLS || pr.originatingTLS || (pr.serverNames && pr.serverNames.length > 0)) {
      ctx.skip('tls', f, 'TLS interception and serverNames are not enforced: the ports are allowed at L4');
    }
    if (pr.listener)
      ctx.skip('listener', `${f}.listener`, 'Envoy listeners are not enforced: the ports are allowed at L4');
    if (!Array.isArray(pr.ports) || pr.ports.length === 0) {
      ctx.fail(
        PolicyErrorCode.BadPort,
        `${f}.ports`,
        'a port rule without ports matches no traffic (port "0" means every port)',
      );
    }
    (pr.ports ?? []).forEach((pp, j) => {
      const specs = pp && typeof pp === 'object' ? compilePortProtocol(pp) : undefined;
      if (!specs)
        ctx.fail(PolicyErrorCode.BadPort, `${f}.ports[${j}]`, 'unusable port or protocol; the entry is skipped');
      else out.push(...specs);
    });
    if (parser && l7) {
      const specs = (pr.ports ?? []).flatMap((pp) =>
        pp && typeof pp === 'object' ? (compilePortProtocol(pp) ?? []) : [],
      );
      l7.push({ parser, ports: specs, http: pr.rules?.http ?? [], dns: pr.rules?.dns ?? [] });
    }
  });
  (icmps ?? []).forEach((ic, i) => {
    (ic?.fields ?? []).forEach((fld, j) => {
      const family = fld?.family === 'IPv6' ? 'IPv6' : 'IPv4';
      const t = fld ? icmpTypeNumber(fld.type, family) : undefined;
      if (t === undefined)
        ctx.fail(
          PolicyErrorCode.BadIcmp,
          `${field}.icmps[${i}].fields[${j}].type`,
          'unknown ICMP type; the entry is skipped',
        );
      else out.push(icmpSpec(t, family));
    });
  });
  return out;
}

function compilePeerRule(
  r: AnyPeerRule,
  direction: Direction,
  deny: boolean,
  ref: RuleRef,
  ctx: TranslationContext,
): PeerRule {
  const from = direction === 'ingress' ? 'from' : 'to';
  const field = ref.path;
  const endpoints: Selector[] = [];
  const others: Selector[] = [];
  const list = <T>(name: string): T[] | undefined => (Array.isArray(r[name]) ? (r[name] as T[]) : undefined);
  const eps = list<EndpointSelector>(`${from}Endpoints`);
  eps?.forEach((s) => endpoints.push(ctx.peer(s)));
  list<string>(`${from}CIDR`)?.forEach((c, i) => {
    const s = ctx.cidr(c, [], `${field}.${from}CIDR[${i}]`);
    if (s) others.push(s);
  });
  list<CidrRule>(`${from}CIDRSet`)?.forEach((c, i) => {
    const f = `${field}.${from}CIDRSet[${i}]`;
    if (c?.cidrGroupRef !== undefined)
      ctx.skip('cidrGroupRef', `${f}.cidrGroupRef`, 'CiliumCIDRGroup references are not enforced: they select no peer');
    if (c?.cidrGroupSelector !== undefined)
      ctx.skip(
        'cidrGroupSelector',
        `${f}.cidrGroupSelector`,
        'CIDR group selectors are not enforced: they select no peer',
      );
    if (typeof c?.cidr === 'string') {
      const s = ctx.cidr(c.cidr, c.except ?? [], f);
      if (s) others.push(s);
    }
  });
  list<string>(`${from}Entities`)?.forEach((e) => others.push(...entitySelectors(e, ctx.options.clusterName)));
  // toFQDNs: the IPs the DNS proxy learned for the names, through their CIDR identities (fqdn-identities.ts)
  const fqdns = direction === 'egress' ? list<FqdnSelector>('toFQDNs') : undefined;
  fqdns?.forEach((f, i) => {
    const s = ctx.fqdn(f, `${field}.toFQDNs[${i}]`);
    if (s) others.push(s);
  });
  const unenforcedPeers: [string, NotEnforced['feature'], string][] = [
    ['toServices', 'toServices', 'toServices is not enforced: services select no peer'],
    ['toGroups', 'toGroups', 'toGroups is not enforced: cloud groups select no peer'],
    ['fromGroups', 'fromGroups', 'fromGroups is not enforced: cloud groups select no peer'],
    [
      'fromNodes',
      'fromNodes',
      'fromNodes is not enforced: node selectors select no peer (use the host or remote-node entity)',
    ],
    [
      'toNodes',
      'toNodes',
      'toNodes is not enforced: node selectors select no peer (use the host or remote-node entity)',
    ],
  ];
  let l3 =
    eps !== undefined ||
    fqdns !== undefined ||
    has(r, `${from}CIDR`) ||
    has(r, `${from}CIDRSet`) ||
    has(r, `${from}Entities`);
  for (const [name, feature, message] of unenforcedPeers) {
    if (!name.startsWith(from) || !has(r, name)) continue;
    l3 = true;
    if (Array.isArray(r[name]) && (r[name] as unknown[]).length > 0) ctx.skip(feature, `${field}.${name}`, message);
  }
  const auth = r.authentication as { mode?: string } | undefined;
  if (auth && auth.mode && auth.mode !== 'disabled')
    ctx.skip(
      'authentication',
      `${field}.authentication`,
      'mutual authentication is not enforced: traffic is allowed without it',
    );
  const hasPorts = has(r, 'toPorts') || has(r, 'icmps');
  // L7 rules only in allow rules (deny rules have no `rules`, upstream PortDenyRule).
  const l7: L7PortRule[] = [];
  const ports = compilePorts(r, field, ctx, deny ? undefined : l7);
  // Upstream: an explicitly empty peer list (`fromEndpoints: []`) makes the rule select no peer
  // at all, whatever the other peer fields say.
  const emptyList = [`${from}Endpoints`, `${from}Nodes`, `${from}Entities`, `${from}CIDR`, `${from}CIDRSet`].some(
    (k) => Array.isArray(r[k]) && (r[k] as unknown[]).length === 0,
  );
  if (emptyList) return { ref, direction, deny, endpoints: [], others: [], ports, l7 };
  // An L4-only rule (ports, no peer field) applies to every peer; an empty rule to none
  // (docs: security/policy/language, Ingress/Egress Default Deny).
  if (!l3 && hasPorts) endpoints.push(WILDCARD);
  return { ref, direction, deny, endpoints, others, ports, l7 };
}

function requirementsFrom(list: unknown, ctx: TranslationContext): Requirement[] {
  const out: Requirement[] = [];
  if (!Array.isArray(list)) return out;
  for (const s of list as EndpointSelector[]) {
    const reqs = requirementsOf(ctx.peer(s));
    if (reqs) out.push(...reqs);
    else out.push({ source: 'reserved', key: 'none', op: 'In', values: ['never'] });
  }
  return out;
}

/** Translates one Cilium `Rule` (a `spec` or one of `specs`). */
export function translateRule(rule: Rule, path: string, index: number, ctx: TranslationContext): PolicyRule {
  const ref = { policy: ctx.key, path };
  const node = rule.nodeSelector !== undefined && rule.endpointSelector === undefined;
  let subject = compileSelector(node ? rule.nodeSelector : rule.endpointSelector);
  if (ctx.namespace !== undefined) {
    // A namespaced policy selects pods of its own namespace only, whatever its selector says;
    // upstream refuses a selector naming another namespace, we report it (it selects nothing).
    const own = ctx.namespace;
    const other = (requirementsOf(subject) ?? []).find(
      (r) =>
        r.key === LABEL_NAMESPACE &&
        r.op === 'In' &&
        (r.source === 'k8s' || r.source === 'any') &&
        !(r.values.length === 1 && r.values[0] === own),
    );
    if (other)
      ctx.fail(
        PolicyErrorCode.BadSelector,
        `${path}.endpointSelector`,
        `a namespaced policy cannot select namespace ${other.values.join(',')}; the rule selects nothing`,
      );
    const reqs = requirementsOf(subject);
    subject = reqs
      ? labelSelector([...reqs, { source: 'k8s', key: LABEL_NAMESPACE, op: 'In', values: [ctx.namespace] }])
      : subject;
  }
  const peerRules: PeerRule[] = [];
  const sections: [keyof Rule, Direction, boolean][] = [
    ['ingress', 'ingress', false],
    ['ingressDeny', 'ingress', true],
    ['egress', 'egress', false],
    ['egressDeny', 'egress', true],
  ];
  const present: Record<Direction, boolean> = { ingress: false, egress: false };
  const requires: Record<Direction, Requirement[]> = { ingress: [], egress: [] };
  for (const [field, direction, deny] of sections) {
    const list = rule[field];
    if (!Array.isArray(list) || list.length === 0) continue;
    present[direction] = true;
    list.forEach((r, i) => {
      if (!r || typeof r !== 'object') return;
      const pr = r as AnyPeerRule;
      peerRules.push(compilePeerRule(pr, direction, deny, { policy: ctx.key, path: `${path}.${field}[${i}]` }, ctx));
      requires[direction].push(...requirementsFrom(direction === 'ingress' ? pr.fromRequires : pr.toRequires, ctx));
    });
  }
  const edd = rule.enableDefaultDeny ?? {};
  // Upstream (evaluateDefaultDenyForRule): unset = the direction has (allow or deny) rules; an
  // explicit value wins, so `enableDefaultDeny.egress: true` denies egress even without rules.
  const defaultDeny = {
    ingress: typeof edd.ingress === 'boolean' ? edd.ingress : present.ingress,
    egress: typeof edd.egress === 'boolean' ? edd.egress : present.egress,
  };
  return { id: `${ctx.key}#${index}`, ref, subject, node, peerRules, requires, defaultDeny };
}

export interface CiliumPolicyObject {
  metadata?: { name?: string; namespace?: string };
  spec?: Rule;
  specs?: Rule[];
}

/** Translates a CiliumNetworkPolicy (namespaced) or CiliumClusterwideNetworkPolicy. */
export function translateCiliumPolicy(
  kind: 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy',
  obj: CiliumPolicyObject,
  options: TranslateOptions = DEFAULT_TRANSLATE_OPTIONS,
): TranslatedPolicy {
  const name = obj.metadata?.name ?? '';
  const namespace = kind === 'CiliumNetworkPolicy' ? (obj.metadata?.namespace ?? 'default') : undefined;
  const key = policyKey(kind, namespace, name);
  const ctx = new TranslationContext(key, namespace, options);
  const rules: PolicyRule[] = [];
  const all: [Rule, string][] = [];
  if (obj.spec && typeof obj.spec === 'object') all.push([obj.spec, 'spec']);
  if (Array.isArray(obj.specs)) obj.specs.forEach((r, i) => r && typeof r === 'object' && all.push([r, `specs[${i}]`]));
  if (all.length === 0)
    ctx.fail(PolicyErrorCode.EmptyPolicy, 'spec', 'the policy has neither spec nor specs; it selects nothing');
  all.forEach(([r, path], i) => rules.push(translateRule(r, path, i, ctx)));
  return {
    key,
    rules,
    prefixes: ctx.prefixes,
    fqdnSelectors: ctx.fqdnSelectors,
    notEnforced: ctx.notEnforced,
    problems: ctx.problems,
  };
}
