// Kubernetes NetworkPolicy (networking.k8s.io/v1) translated into the engine's rule model, with
// upstream's reading (ParseNetworkPolicy): pod selectors match identity labels (k8s source),
// namespace selectors match `io.cilium.k8s.namespace.labels.*`, an absent `from`/`to` means every
// peer, and `policyTypes` adds default deny even without rules.
import type { EndpointSelector } from '../crds/common.js';
import { PolicyErrorCode } from './errors.js';
import { LABEL_NAMESPACE, LABEL_NAMESPACE_LABELS_PREFIX } from './labels.js';
import { ALL_TRAFFIC, compilePortProtocol, type PortSpec } from './ports.js';
import {
  DEFAULT_TRANSLATE_OPTIONS,
  policyKey,
  type Direction,
  type PeerRule,
  type PolicyRule,
  type TranslatedPolicy,
  type TranslateOptions,
} from './rule-model.js';
import { compileSelector, labelSelector, NOTHING, type Requirement, type Selector } from './selector.js';
import { TranslationContext } from './translation-context.js';

export interface NetworkPolicyPort {
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port?: number | string;
  endPort?: number;
}

export interface IPBlock {
  cidr: string;
  except?: string[];
}

export interface NetworkPolicyPeer {
  podSelector?: EndpointSelector;
  namespaceSelector?: EndpointSelector;
  ipBlock?: IPBlock;
}

export interface NetworkPolicyIngressRule {
  from?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicySpec {
  podSelector?: EndpointSelector;
  ingress?: NetworkPolicyIngressRule[];
  egress?: NetworkPolicyEgressRule[];
  policyTypes?: ('Ingress' | 'Egress')[];
}

/** The networking.k8s.io/v1 NetworkPolicy shape the engine reads. */
export interface NetworkPolicy {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; [key: string]: unknown };
  spec?: NetworkPolicySpec;
}

/** A namespaceSelector as requirements on the pod identity's namespace labels. */
function namespaceRequirements(sel: EndpointSelector): Requirement[] | undefined {
  const compiled = compileSelector(sel, 'k8s');
  if (compiled.kind === 'none') return undefined;
  const reqs = compiled.kind === 'labels' ? compiled.reqs : [];
  return [
    ...reqs.map((r) => ({ ...r, source: 'k8s', key: LABEL_NAMESPACE_LABELS_PREFIX + r.key })),
    // Only pods have a namespace: reserved identities and CIDRs are not "in" any namespace.
    { source: 'k8s', key: LABEL_NAMESPACE, op: 'Exists' as const, values: [] },
  ];
}

function peerSelector(peer: NetworkPolicyPeer, field: string, ctx: TranslationContext): Selector | undefined {
  if (peer.ipBlock) {
    if (typeof peer.ipBlock.cidr !== 'string') {
      ctx.fail(PolicyErrorCode.BadCidr, `${field}.ipBlock.cidr`, 'ipBlock without a cidr; the peer is skipped');
      return undefined;
    }
    return ctx.cidr(
      peer.ipBlock.cidr,
      Array.isArray(peer.ipBlock.except) ? peer.ipBlock.except : [],
      `${field}.ipBlock`,
    );
  }
  // Upstream: a peer with neither selector nor ipBlock selects nothing.
  if (!peer.podSelector && !peer.namespaceSelector) return undefined;
  const pods = peer.podSelector ? compileSelector(peer.podSelector, 'k8s') : undefined;
  if (!peer.namespaceSelector) {
    // podSelector alone: pods of the policy's namespace.
    const sel = pods ?? compileSelector({}, 'k8s');
    return sel.kind === 'labels' || sel.kind === 'wildcard'
      ? labelSelector([
          ...(sel.kind === 'labels' ? sel.reqs : []),
          { source: 'k8s', key: LABEL_NAMESPACE, op: 'In', values: [ctx.namespace ?? 'default'] },
        ])
      : sel;
  }
  const ns = namespaceRequirements(peer.namespaceSelector);
  if (!ns || pods?.kind === 'none') return NOTHING;
  return labelSelector([...(pods?.kind === 'labels' ? pods.reqs : []), ...ns]);
}

function ports(list: NetworkPolicyPort[] | undefined, field: string, ctx: TranslationContext): PortSpec[] {
  if (!Array.isArray(list) || list.length === 0) return [ALL_TRAFFIC];
  const out: PortSpec[] = [];
  list.forEach((p, i) => {
    // Kubernetes: the protocol defaults to TCP; an absent port means every port.
    const specs =
      p && typeof p === 'object'
        ? compilePortProtocol({
            protocol: p.protocol ?? 'TCP',
            port: p.port === undefined ? undefined : String(p.port),
            endPort: p.endPort,
          })
        : undefined;
    if (!specs)
      ctx.fail(PolicyErrorCode.BadPort, `${field}.ports[${i}]`, 'unusable port or protocol; the entry is skipped');
    else out.push(...specs);
  });
  return out;
}

/** Translates a Kubernetes NetworkPolicy into one rule. */
export function translateNetworkPolicy(
  np: NetworkPolicy,
  options: TranslateOptions = DEFAULT_TRANSLATE_OPTIONS,
): TranslatedPolicy {
  const namespace = np.metadata?.namespace ?? 'default';
  const key = policyKey('NetworkPolicy', namespace, np.metadata?.name ?? '');
  const ctx = new TranslationContext(key, namespace, options);
  const spec = np.spec ?? {};
  // As upstream's ParseNetworkPolicy: rules are read whatever policyTypes says, every rule
  // puts its direction in default deny, and policyTypes adds default deny without rules
  // (Ingress when listed or when Egress is not; Egress when listed).
  const types: readonly string[] = Array.isArray(spec.policyTypes) ? spec.policyTypes : [];
  const hasIngress = Array.isArray(spec.ingress) && spec.ingress.length > 0;
  const hasEgress = Array.isArray(spec.egress) && spec.egress.length > 0;
  const enforced: Record<Direction, boolean> = {
    ingress: hasIngress || types.includes('Ingress') || !types.includes('Egress'),
    egress: hasEgress || types.includes('Egress'),
  };
  const subject = labelSelector([
    ...((): Requirement[] => {
      const s = compileSelector(spec.podSelector, 'k8s');
      return s.kind === 'labels'
        ? [...s.reqs]
        : s.kind === 'none'
          ? [{ source: 'reserved', key: 'none', op: 'In', values: ['never'] }]
          : [];
    })(),
    { source: 'k8s', key: LABEL_NAMESPACE, op: 'In', values: [namespace] },
  ]);
  const peerRules: PeerRule[] = [];
  const sections: [Direction, 'ingress' | 'egress', 'from' | 'to'][] = [
    ['ingress', 'ingress', 'from'],
    ['egress', 'egress', 'to'],
  ];
  for (const [direction, field, peersField] of sections) {
    const list = spec[field];
    if (!Array.isArray(list)) continue;
    list.forEach((r, i) => {
      if (!r || typeof r !== 'object') return;
      const path = `spec.${field}[${i}]`;
      const peers = (r as Record<string, unknown>)[peersField] as NetworkPolicyPeer[] | undefined;
      const endpoints: Selector[] = [];
      const others: Selector[] = [];
      if (!Array.isArray(peers) || peers.length === 0) endpoints.push({ kind: 'wildcard', key: '*' });
      else
        peers.forEach((p, j) => {
          const s = p && typeof p === 'object' ? peerSelector(p, `${path}.${peersField}[${j}]`, ctx) : undefined;
          if (s) (s.kind === 'cidr' ? others : endpoints).push(s);
        });
      peerRules.push({
        ref: { policy: key, path },
        direction,
        deny: false,
        endpoints,
        others,
        ports: ports(r.ports, path, ctx),
      });
    });
  }
  const rule: PolicyRule = {
    id: `${key}#0`,
    ref: { policy: key, path: 'spec' },
    subject,
    node: false,
    peerRules,
    requires: { ingress: [], egress: [] },
    defaultDeny: enforced,
  };
  return { key, rules: [rule], prefixes: ctx.prefixes, notEnforced: ctx.notEnforced, problems: ctx.problems };
}
