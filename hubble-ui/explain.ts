// Why a flow got its verdict, decided again by the agents' own policy engine (whatif/'s
// ClusterModel: every policy, identity and endpoint fed as the agents feed them, then the policy
// map lookups the datapath does) and explained by policy trace: the deny rule, the allow rules, or
// "no policy allows" with the rules that select the endpoint and so put it in default deny. For a
// default-deny drop it drafts the CiliumNetworkPolicy that allows exactly that connection and
// checks the draft in the same engine before offering it.
import { stringify } from 'yaml';
import type { Explanation, SideExplanation } from './api-types.js';
import type { Flow } from '../hubble/types.js';
import { protoName, tracePolicy, type RuleRef } from '../policy/index.js';
import {
  agentTranslate,
  ClusterModel,
  observe,
  type ClusterState,
  type Direction,
  type FlowSide,
  type Observation,
  type PathDecision,
} from '../whatif/index.js';

const refText = (r: RuleRef): string => (r.path ? `${r.policy} ${r.path}` : r.policy);
const refsText = (refs: readonly RuleRef[]): string => refs.map(refText).join(', ');

/** Reserved identities a policy names as entities (upstream api/v1 entities). */
const ENTITIES: Readonly<Record<string, string>> = {
  host: 'host',
  'remote-node': 'remote-node',
  health: 'health',
  init: 'init',
  ingress: 'ingress',
  'kube-apiserver': 'kube-apiserver',
  unmanaged: 'unmanaged',
};
/** Label keys that name an app (the keys upstream's UI titles its cards by). */
const APP_KEYS = ['app', 'k8s-app', 'app.kubernetes.io/name', 'name', 'functionName'];
const NAMESPACE_KEY = 'io.kubernetes.pod.namespace';

function reservedOf(s: FlowSide): string | undefined {
  return s.labels.find((l) => l.startsWith('reserved:'))?.slice('reserved:'.length);
}

function sideName(s: FlowSide, model: ClusterModel): string {
  const ep = model.endpointOf(s);
  if (ep) return ep.name;
  if (s.pod) return `${s.namespace ?? ''}/${s.pod}`;
  const reserved = reservedOf(s);
  if (reserved && !reserved.startsWith('world')) return reserved;
  return `world ${s.ip}`;
}

/** "k8s:app=backend" → ["app", "backend"] for the pod's own k8s labels (not cilium's bookkeeping ones). */
function podLabels(s: FlowSide): [string, string][] {
  const out: [string, string][] = [];
  for (const l of s.labels) {
    if (!l.startsWith('k8s:')) continue;
    const kv = l.slice(4);
    const i = kv.indexOf('=');
    const [k, v] = i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
    if (k === NAMESPACE_KEY || k.startsWith('io.cilium.k8s.') || k.startsWith('io.kubernetes.pod.')) continue;
    out.push([k, v]);
  }
  return out;
}

/** The narrowest readable selector of a pod: its app label, else all its own labels. */
function selectorLabels(s: FlowSide): Record<string, string> {
  const labels = podLabels(s);
  const app = APP_KEYS.map((k) => labels.find(([key]) => key === k)).find(Boolean);
  return Object.fromEntries(app ? [app] : labels);
}

const dnsName = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');

/** The rule's port part: L4 ports, or the ICMP type. */
function portsPart(o: Observation): Record<string, unknown> {
  if (o.protocol === 1 || o.protocol === 58)
    return { icmps: [{ fields: [{ type: o.port, family: o.protocol === 1 ? 'IPv4' : 'IPv6' }] }] };
  return { toPorts: [{ ports: [{ port: String(o.port), protocol: protoName(o.protocol) }] }] };
}

/** The peer part of a rule: the peer pod by labels and namespace, a reserved entity, or its /32. */
function peerPart(peer: FlowSide, model: ClusterModel, direction: Direction): Record<string, unknown> | undefined {
  const to = direction === 'egress';
  const ep = model.endpointOf(peer);
  if (ep || peer.pod) {
    const ns = peer.namespace ?? ep?.name.split('/')[0];
    const match = { ...selectorLabels(peer), ...(ns ? { [`k8s:${NAMESPACE_KEY}`]: ns } : {}) };
    return { [to ? 'toEndpoints' : 'fromEndpoints']: [{ matchLabels: match }] };
  }
  const reserved = reservedOf(peer);
  const entity = reserved ? ENTITIES[reserved] : undefined;
  if (entity) return { [to ? 'toEntities' : 'fromEntities']: [entity] };
  if (!peer.ip) return undefined;
  return { [to ? 'toCIDR' : 'fromCIDR']: [`${peer.ip}/${peer.ip.includes(':') ? 128 : 32}`] };
}

/** A CNP in the subject's namespace allowing exactly this connection on one side, or why there is none. */
function draft(o: Observation, direction: Direction, model: ClusterModel): object | string {
  const subject = direction === 'egress' ? o.source : o.destination;
  const peer = direction === 'egress' ? o.destination : o.source;
  const ep = model.endpointOf(subject);
  if (!ep) return `the ${direction === 'egress' ? 'source' : 'destination'} is not a Cilium endpoint`;
  const ns = ep.name.split('/')[0]!;
  const peerRule = peerPart(peer, model, direction);
  if (!peerRule) return 'the peer has no address to allow';
  const name = dnsName(
    `allow-${sideName(o.source, model).split('/').pop()}-to-${sideName(o.destination, model).split('/').pop()}-${o.port}`,
  );
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name: direction === 'egress' ? `${name}-egress`.slice(0, 63) : name, namespace: ns },
    spec: {
      endpointSelector: { matchLabels: selectorLabels(subject) },
      [direction]: [{ ...peerRule, ...portsPart(o) }],
    },
  };
}

/**
 * Drafts the policies that let this connection through — one per side that default-denies it —
 * and applies each in the model to check that the connection is then allowed.
 */
function suggest(model: ClusterModel, o: Observation, first: PathDecision): { yaml?: string; note?: string } {
  const docs: object[] = [];
  let d = first;
  for (let i = 0; i < 2 && d.verdict === 'dropped'; i++) {
    if (d.how === 'deny')
      return {
        ...(docs.length ? { yaml: docs.map((x) => stringify(x)).join('---\n') } : {}),
        note: `a deny rule decides at ${d.at}: no allow rule can override it; change the deny policy instead`,
      };
    const p = draft(o, d.at!, model);
    if (typeof p === 'string') return { note: `no policy to suggest: ${p}` };
    const translated = agentTranslate({ kind: 'CiliumNetworkPolicy', object: p as never }, model.clusterName);
    if (!translated) return { note: 'no policy to suggest: the draft does not validate' };
    model.apply([{ type: 'policy-upserted', policy: translated }]);
    docs.push(p);
    d = model.decidePath(o.source, o.destination, o.protocol, o.port);
  }
  if (d.verdict !== 'allowed') return { note: 'no policy to suggest: the drafts would not allow it' };
  return { yaml: docs.map((x) => stringify(x)).join('---\n') };
}

const SKIPPED: Readonly<Record<string, string>> = {
  'no-ip': 'the flow has no IP addresses: no policy decides it',
  'no-l4': 'the flow has no L4 header the policy could match',
  'other-verdict': 'this verdict is not a policy decision',
};

/** Explains one flow against the cluster's policies as they are now. Pure: reads only its arguments. */
export function explainFlow(flow: Flow, state: ClusterState): Explanation {
  const o = observe(flow, 0);
  if (typeof o === 'string') {
    const reason =
      o === 'not-a-policy-drop'
        ? `dropped by the datapath for ${flow.drop_reason_desc ?? `reason ${flow.drop_reason}`}, not by a policy`
        : SKIPPED[o]!;
    return { kind: 'other', reason, decidedBy: [], sides: [], stale: false };
  }
  const model = new ClusterModel(state);
  model.load([o.source, o.destination]);
  const d = model.decidePath(o.source, o.destination, o.protocol, o.port);
  const dstEp = model.endpointOf(o.destination);
  const trace = tracePolicy(model.engine, {
    source: { identity: d.sourceIdentity },
    destination: { identity: d.destinationIdentity },
    port: o.port,
    protocol: o.protocol,
    destinationNamedPorts: dstEp?.namedPorts,
  });
  const sides: SideExplanation[] = (['egress', 'ingress'] as const).map((direction) => {
    const t = trace[direction];
    const s = direction === 'egress' ? o.source : o.destination;
    const ep = model.endpointOf(s);
    return {
      direction,
      subject: ep ? ep.name : `${sideName(s, model)} (not a Cilium endpoint: nothing enforces here)`,
      enforced: !!ep && t.enforced,
      selectedBy: t.selectedBy,
      allowedBy: t.allowedBy,
      deniedBy: t.deniedBy,
      // a side that is not an endpoint of ours has no policy map: it allows
      verdict: ep ? t.verdict : 'allow',
    };
  });
  const base = {
    kind: 'policy' as const,
    source: sideName(o.source, model),
    destination: sideName(o.destination, model),
    port: o.port,
    protocol: protoName(o.protocol),
    verdict: d.verdict,
    sides,
    stale: d.verdict !== o.recorded,
  };
  if (d.verdict === 'dropped') {
    const side = sides.find((s) => s.direction === d.at)!;
    const who = d.at === 'egress' ? 'source' : 'destination';
    if (d.how === 'deny')
      return {
        ...base,
        at: d.at,
        how: 'deny',
        decidedBy: side.deniedBy,
        reason: `denied by ${refsText(side.deniedBy) || 'a deny rule'} (${d.at} of the ${who} ${side.subject})`,
        suggestionNote: 'a deny rule decides: no allow rule can override it; change the deny policy instead',
      };
    const s = suggest(model, o, d);
    return {
      ...base,
      at: d.at,
      how: 'drop',
      decidedBy: [],
      reason:
        `no policy allows: default deny at the ${d.at} of the ${who} ${side.subject}, ` +
        `which ${refsText(side.selectedBy) || 'a policy'} select${side.selectedBy.length === 1 ? 's' : ''} and so puts in default deny`,
      ...(s.yaml ? { suggestedPolicy: s.yaml } : {}),
      ...(s.note ? { suggestionNote: s.note } : {}),
    };
  }
  const allowedBy = sides.flatMap((s) => (s.enforced ? s.allowedBy : []));
  const open = sides.filter((s) => !s.enforced).map((s) => `${s.direction} not enforced`);
  return {
    ...base,
    decidedBy: allowedBy,
    reason: allowedBy.length
      ? `allowed by ${refsText(allowedBy)}${open.length ? ` (${open.join(', ')})` : ''}`
      : 'allowed: no policy selects either side, so nothing is enforced',
  };
}
