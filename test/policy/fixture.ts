// A small cluster for table tests: namespaces, pods (identities + local endpoints), the host
// endpoint, and a verdict function that checks the datapath's map lookup and trace agree.
import { parsePrefix, prefixContains } from '../../crds/cidr.js';
import {
  endpointLabels,
  lookupRedirect,
  lookupVerdict,
  PolicyEngine,
  ReservedIdentity,
  translatePolicy,
  tracePolicy,
  Proto,
  type EngineOptions,
  type NamedPorts,
  type PolicyObject,
  type TraceVerdict,
  type TranslatedPolicy,
} from '../../policy/index.js';

export interface PodDef {
  ns: string;
  name: string;
  labels: Record<string, string>;
  sa?: string;
  namedPorts?: NamedPorts;
}

export const NAMESPACES: Record<string, Record<string, string>> = {
  prod: { 'kubernetes.io/metadata.name': 'prod', team: 'payments', env: 'prod' },
  dev: { 'kubernetes.io/metadata.name': 'dev', team: 'payments', env: 'dev' },
  other: { 'kubernetes.io/metadata.name': 'other', team: 'search' },
};

export const PODS: PodDef[] = [
  {
    ns: 'prod',
    name: 'web',
    labels: { app: 'web', tier: 'front' },
    sa: 'web',
    namedPorts: { http: { port: 8080, protocol: 'TCP' }, metrics: { port: 9100 } },
  },
  {
    ns: 'prod',
    name: 'web2',
    labels: { app: 'web', tier: 'front' },
    sa: 'web',
    namedPorts: { http: { port: 8080, protocol: 'TCP' }, metrics: { port: 9100 } },
  },
  {
    ns: 'prod',
    name: 'api',
    labels: { app: 'api', tier: 'back' },
    sa: 'api',
    namedPorts: { http: { port: 9090, protocol: 'TCP' }, dns: { port: 53, protocol: 'UDP' } },
  },
  { ns: 'prod', name: 'db', labels: { app: 'db', role: 'primary' }, sa: 'db' },
  { ns: 'dev', name: 'web', labels: { app: 'web', tier: 'front' }, sa: 'web' },
  { ns: 'dev', name: 'client', labels: { app: 'client' }, sa: 'default' },
  { ns: 'other', name: 'client', labels: { app: 'client', 'pod-template-hash': '5d9c7b' }, sa: 'default' },
  { ns: 'other', name: 'web', labels: { app: 'web', 'controller-revision-hash': 'abc' }, sa: 'default' },
];

export const EXTERNAL: Record<string, string> = {
  'ip:8.8.8.8': '8.8.8.8',
  'ip:10.1.2.3': '10.1.2.3',
  'ip:10.2.0.1': '10.2.0.1',
  'ip:192.168.1.5': '192.168.1.5',
  'ip:172.16.0.9': '172.16.0.9',
  'ip6:2001:db8::1': '2001:db8::1',
  // addresses the FQDN table's DNS answers hand out (table-fqdn.ts)
  'ip:192.0.2.10': '192.0.2.10',
  'ip:192.0.2.11': '192.0.2.11',
  'ip:192.0.2.20': '192.0.2.20',
  'ip6:2001:db8::10': '2001:db8::10',
};

export type Expect = 'allow' | 'deny' | 'drop';

export class Fixture {
  readonly engine: PolicyEngine;
  readonly podIdentity = new Map<string, number>();
  readonly podEndpoint = new Map<string, number>();
  readonly translated: TranslatedPolicy[] = [];
  private nextId = 1000;

  constructor(policies: PolicyObject[], options: Partial<EngineOptions> = {}, pods: PodDef[] = PODS) {
    this.engine = new PolicyEngine(options);
    const byLabels = new Map<string, number>();
    let ep = 100;
    this.engine.apply([{ type: 'endpoint-upserted', endpoint: { id: 1, identity: ReservedIdentity.host } }]);
    for (const p of pods) {
      const labels = endpointLabels({
        podLabels: p.labels,
        namespace: p.ns,
        namespaceLabels: NAMESPACES[p.ns],
        serviceAccount: p.sa,
        clusterName: options.clusterName,
      });
      const text = labels.toString();
      let id = byLabels.get(text);
      if (id === undefined) {
        id = this.nextId++;
        byLabels.set(text, id);
        this.engine.apply([{ type: 'identity-upserted', id, labels }]);
      }
      this.podIdentity.set(`${p.ns}/${p.name}`, id);
      this.podEndpoint.set(`${p.ns}/${p.name}`, ep);
      this.engine.apply([
        { type: 'endpoint-upserted', endpoint: { id: ep++, identity: id, namedPorts: p.namedPorts } },
      ]);
    }
    for (const pol of policies) {
      const t = translatePolicy(pol, { clusterName: options.clusterName ?? 'default' });
      this.translated.push(t);
      this.engine.apply([{ type: 'policy-upserted', policy: t }]);
    }
  }

  /** The identity of a peer name: a pod, a reserved name, or an external IP (ipcache LPM). */
  identityOf(name: string): number {
    const pod = this.podIdentity.get(name);
    if (pod !== undefined) return pod;
    if (name in ReservedIdentity) return ReservedIdentity[name as keyof typeof ReservedIdentity];
    const ip = EXTERNAL[name];
    if (!ip) throw new Error(`unknown peer ${name}`);
    const addr = parsePrefix(ip);
    if (!addr) throw new Error(`bad ip ${ip}`);
    let best: { id: number; len: number } | undefined;
    for (const { prefix, identity } of this.engine.cidrIdentities()) {
      const p = parsePrefix(prefix);
      if (p && prefixContains(p, addr) && (!best || p.length > best.len)) best = { id: identity, len: p.length };
    }
    return best?.id ?? ReservedIdentity.world;
  }

  endpointOf(name: string): number | undefined {
    if (name === 'host') return 1;
    return this.podEndpoint.get(name);
  }

  /** Map lookups at both ends (egress at the source endpoint, ingress at the destination). */
  mapVerdict(from: string, to: string, proto: number, port: number): Expect {
    const src = this.endpointOf(from);
    const dst = this.endpointOf(to);
    const egress =
      src === undefined
        ? 'allow'
        : lookupVerdict(this.engine.endpointEntries(src), 'egress', this.identityOf(to), proto, port);
    const ingress =
      dst === undefined
        ? 'allow'
        : lookupVerdict(this.engine.endpointEntries(dst), 'ingress', this.identityOf(from), proto, port);
    return combine(egress, ingress);
  }

  /** The proxy a packet is redirected to at one end (egress at the source, ingress at the destination). */
  mapRedirect(from: string, to: string, proto: number, port: number, direction: 'ingress' | 'egress'): string {
    const ep = this.endpointOf(direction === 'egress' ? from : to);
    if (ep === undefined) return 'none';
    const peer = this.identityOf(direction === 'egress' ? to : from);
    return lookupRedirect(this.engine.endpointEntries(ep), direction, peer, proto, port) ?? 'none';
  }

  traceVerdict(from: string, to: string, proto: number, port: number): TraceVerdict {
    const named = PODS.find((p) => `${p.ns}/${p.name}` === to)?.namedPorts;
    return tracePolicy(this.engine, {
      source: { identity: this.identityOf(from) },
      destination: { identity: this.identityOf(to) },
      protocol: proto,
      port,
      destinationNamedPorts: named,
    }).verdict;
  }

  /** Every endpoint's incremental map equals a from-scratch recomputation. */
  consistent(): boolean {
    return this.engine
      .endpointIds()
      .every(
        (id) => JSON.stringify(this.engine.endpointEntries(id)) === JSON.stringify(this.engine.recomputeEndpoint(id)),
      );
  }
}

export function combine(a: Expect, b: Expect): Expect {
  if (a === 'deny' || b === 'deny') return 'deny';
  if (a === 'drop' || b === 'drop') return 'drop';
  return 'allow';
}

export const P = { TCP: Proto.TCP, UDP: Proto.UDP, SCTP: Proto.SCTP, ICMP: Proto.ICMP, ICMPV6: Proto.ICMPV6 } as const;

export const cnp = (
  ns: string,
  name: string,
  spec: Record<string, unknown> | Record<string, unknown>[],
): PolicyObject => ({
  kind: 'CiliumNetworkPolicy',
  object: Array.isArray(spec)
    ? { metadata: { name, namespace: ns }, specs: spec as never }
    : { metadata: { name, namespace: ns }, spec: spec as never },
});
export const ccnp = (name: string, spec: Record<string, unknown>): PolicyObject => ({
  kind: 'CiliumClusterwideNetworkPolicy',
  object: { metadata: { name }, spec: spec as never },
});
export const knp = (ns: string, name: string, spec: Record<string, unknown>): PolicyObject => ({
  kind: 'NetworkPolicy',
  object: { metadata: { name, namespace: ns }, spec: spec as never },
});
