// The cluster as an agent's policy engine sees it, in memory: every CiliumEndpoint an endpoint of
// one PolicyEngine, every CiliumIdentity and every valid policy fed as the agents feed them
// (controllers/agent/agent.ts), and the datapath's decision for one connection — ipcache lookup
// of the peer, then the policy map lookup of the source's egress and the destination's ingress.
import type { CiliumEndpoint } from '../crds/endpoint.js';
import type { CiliumIdentity } from '../crds/identity.js';
import { parsePrefix, prefixContains, type Prefix } from '../crds/cidr.js';
import { validateObject } from '../crds/validate.js';
import {
  LabelSet,
  PolicyEngine,
  ReservedIdentity,
  translatePolicy,
  isCidrIdentity,
  type ClusterNamedPorts,
  type ContainerPort,
  type LookupResult,
  type NamedPorts,
  type PolicyEvent,
  type PolicyObject,
  type ProtoName,
  type TranslatedPolicy,
} from '../policy/index.js';
import type { FlowSide } from './flows.js';
import { MapIndex } from './map-index.js';

/** What what-if reads from the cluster: today's policies, identities and endpoints. */
export interface ClusterState {
  /** CiliumNetworkPolicies, CiliumClusterwideNetworkPolicies and NetworkPolicies as stored. */
  readonly policies: readonly PolicyObject[];
  readonly identities: readonly CiliumIdentity[];
  readonly endpoints: readonly CiliumEndpoint[];
  /** The agents' `cluster-name` (default: the one the identities carry, else "default"). */
  readonly clusterName?: string;
}

/** One CiliumEndpoint as an engine endpoint. */
export interface KnownEndpoint {
  readonly id: number;
  readonly identity: number;
  /** `namespace/pod`. */
  readonly name: string;
  readonly namedPorts: NamedPorts;
}

export type Direction = 'egress' | 'ingress';

/** The datapath's decision for one connection: where it stops, if it does, and the peers it saw. */
export interface PathDecision {
  readonly verdict: 'allowed' | 'dropped';
  /** Where the connection stops (the first side that does not allow it). */
  readonly at?: Direction;
  /** `deny`: a deny rule; `drop`: default deny with no allow. */
  readonly how?: 'deny' | 'drop';
  readonly sourceIdentity: number;
  readonly destinationIdentity: number;
}

const PROTO_NAMES: ReadonlySet<string> = new Set(['TCP', 'UDP', 'SCTP']);
const WORLD: ReadonlySet<number> = new Set([
  ReservedIdentity.unknown,
  ReservedIdentity.world,
  ReservedIdentity['world-ipv4'],
  ReservedIdentity['world-ipv6'],
]);

/** A policy the agents would refuse as a whole (schema or semantic error) is not enforced anywhere. */
export function agentTranslate(p: PolicyObject, clusterName: string): TranslatedPolicy | undefined {
  if (p.kind !== 'NetworkPolicy' && validateObject(p.kind, p.object, { unknownFields: 'ignore' }).length)
    return undefined;
  return translatePolicy(p, { clusterName });
}

/**
 * The agents' `cluster-name`, read off the identities (every pod identity carries
 * `k8s:io.cilium.k8s.policy.cluster`): the `cluster` entity selects by it.
 */
function clusterNameOf(identities: readonly CiliumIdentity[]): string | undefined {
  const counts = new Map<string, number>();
  for (const i of identities) {
    const name = i['security-labels']?.['k8s:io.cilium.k8s.policy.cluster'];
    if (name) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}

export class ClusterModel {
  readonly engine: PolicyEngine;
  readonly clusterName: string;
  /** Policies of the current state the agents refuse (their keys). */
  readonly refused: string[] = [];
  private readonly byIp = new Map<string, KnownEndpoint>();
  private readonly byPod = new Map<string, KnownEndpoint>();
  private cidr: { prefix: Prefix; identity: number }[] = [];
  private readonly index = new Map<number, MapIndex>();
  private readonly peerCache = new Map<string, number>();

  private readonly state: ClusterState;
  private readonly clusterPorts: ClusterNamedPorts;

  /** Indexes the endpoints; nothing reaches the engine until `load()`. */
  constructor(state: ClusterState) {
    this.state = state;
    this.clusterName = state.clusterName ?? clusterNameOf(state.identities) ?? 'default';
    this.engine = new PolicyEngine({ clusterName: this.clusterName });
    const clusterPorts = new Map<string, Map<string, ContainerPort>>();
    state.endpoints.forEach((cep, i) => {
      const identity = cep.status?.identity?.id;
      if (identity === undefined) return;
      const namedPorts: Record<string, ContainerPort> = {};
      for (const np of cep.status?.['named-ports'] ?? []) {
        const protocol = (np.protocol ?? 'TCP').toUpperCase();
        // container ports are TCP, UDP or SCTP; anything else cannot be a policy port
        if (!np.name || !PROTO_NAMES.has(protocol)) continue;
        const port = { port: np.port, protocol: protocol as ProtoName };
        namedPorts[np.name] = port;
        let m = clusterPorts.get(np.name);
        if (!m) clusterPorts.set(np.name, (m = new Map()));
        m.set(`${np.port}/${protocol}`, port);
      }
      const ep: KnownEndpoint = {
        id: i + 1,
        identity,
        name: `${cep.metadata?.namespace ?? ''}/${cep.metadata?.name ?? ''}`,
        namedPorts,
      };
      this.byPod.set(ep.name, ep);
      for (const a of cep.status?.networking?.addressing ?? []) {
        if (a.ipv4) this.byIp.set(a.ipv4, ep);
        if (a.ipv6) this.byIp.set(a.ipv6, ep);
      }
    });
    // Egress named ports resolve against every pod that names them (the agent's cluster-named-ports).
    const table: Record<string, ContainerPort[]> = {};
    for (const [name, m] of clusterPorts) table[name] = [...m.values()];
    this.clusterPorts = table;
  }

  /**
   * Feeds the engine what the flows' connections need: every valid policy, the endpoints that are
   * a side of some flow (the subjects) and the identities of every side. A peer's map entries
   * depend only on its own labels, so leaving out identities no flow names changes no decision;
   * it spares the entries a cluster-wide selector would make for each of them.
   */
  load(sides: Iterable<FlowSide>): void {
    const endpoints = new Map<number, KnownEndpoint>();
    const ids = new Set<number>();
    for (const s of sides) {
      const ep = this.endpointOf(s);
      if (ep) {
        endpoints.set(ep.id, ep);
        ids.add(ep.identity);
      } else ids.add(s.identity);
    }
    const events: PolicyEvent[] = [];
    for (const i of this.state.identities) {
      const id = Number(i.metadata?.name);
      if (ids.has(id) && i['security-labels'])
        events.push({ type: 'identity-upserted', id, labels: LabelSet.fromRecord(i['security-labels']) });
    }
    for (const p of this.state.policies) {
      const t = agentTranslate(p, this.clusterName);
      if (t) events.push({ type: 'policy-upserted', policy: t });
      else this.refused.push(`${p.kind}/${p.object.metadata?.namespace ?? ''}/${p.object.metadata?.name ?? ''}`);
    }
    for (const ep of endpoints.values())
      events.push({
        type: 'endpoint-upserted',
        endpoint: { id: ep.id, identity: ep.identity, namedPorts: ep.namedPorts },
      });
    events.push({ type: 'cluster-named-ports', ports: this.clusterPorts });
    this.engine.apply(events);
    this.refreshCidr();
  }

  /** Applies policy events (the proposed changes); returns the endpoints whose maps changed. */
  apply(events: readonly PolicyEvent[]): Set<number> {
    const changed = new Set<number>();
    let cidrChanged = false;
    for (const o of this.engine.apply(events)) {
      if (o.type === 'endpoint-delta') changed.add(o.endpoint);
      else if (o.type === 'cidr-identity-added' || o.type === 'cidr-identity-removed') cidrChanged = true;
    }
    for (const id of changed) this.index.delete(id);
    if (cidrChanged) this.refreshCidr();
    this.peerCache.clear();
    return changed;
  }

  private refreshCidr(): void {
    this.cidr = this.engine
      .cidrIdentities()
      .map(({ prefix, identity }) => ({ prefix: parsePrefix(prefix)!, identity }))
      .filter((c) => c.prefix !== undefined)
      .sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The endpoint a flow side is, by IP, else by pod name. */
  endpointOf(s: FlowSide): KnownEndpoint | undefined {
    return this.byIp.get(s.ip) ?? (s.pod && s.namespace ? this.byPod.get(`${s.namespace}/${s.pod}`) : undefined);
  }

  /**
   * The identity the datapath gives a peer: a pod's from its CiliumEndpoint; a reserved identity
   * (host, remote-node, …) or a cluster identity as the flow recorded it; anything else (world, a
   * node-local CIDR identity) by the longest policy prefix holding its IP, else world.
   */
  identityOf(s: FlowSide): number {
    const ep = this.endpointOf(s);
    if (ep) return ep.identity;
    if (!WORLD.has(s.identity) && !isCidrIdentity(s.identity)) return s.identity;
    let id = this.peerCache.get(s.ip);
    if (id === undefined) {
      const host = parsePrefix(s.ip);
      id = (host && this.cidr.find((c) => prefixContains(c.prefix, host))?.identity) ?? ReservedIdentity.world;
      this.peerCache.set(s.ip, id);
    }
    return id;
  }

  /** The policy map lookup of one endpoint in one direction (policy/entries.ts lookupVerdict, packed: map-index.ts). */
  lookup(endpoint: number, direction: Direction, peer: number, protocol: number, port: number): LookupResult {
    let idx = this.index.get(endpoint);
    if (!idx) this.index.set(endpoint, (idx = new MapIndex(this.engine.endpointEntries(endpoint))));
    return idx.lookup(direction, peer, protocol, port);
  }

  /** One side's decision: allow when the subject is not a cilium endpoint (nothing enforces there). */
  decideAt(
    direction: Direction,
    source: FlowSide,
    destination: FlowSide,
    protocol: number,
    port: number,
  ): LookupResult {
    const subject = this.endpointOf(direction === 'egress' ? source : destination);
    if (!subject) return 'allow';
    const peer = this.identityOf(direction === 'egress' ? destination : source);
    return this.lookup(subject.id, direction, peer, protocol, port);
  }

  /** The whole path of a new connection: the source's egress, then the destination's ingress. */
  decidePath(source: FlowSide, destination: FlowSide, protocol: number, port: number): PathDecision {
    const ids = { sourceIdentity: this.identityOf(source), destinationIdentity: this.identityOf(destination) };
    for (const d of ['egress', 'ingress'] as const) {
      const v = this.decideAt(d, source, destination, protocol, port);
      if (v !== 'allow') return { verdict: 'dropped', at: d, how: v, ...ids };
    }
    return { verdict: 'allowed', ...ids };
  }
}
