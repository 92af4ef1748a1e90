// The service map as data, built from flows as they arrive: a card per workload (pods grouped by
// their app label, else their owner, else the pod), per reserved peer (world, host, remote-node,
// …); a link per (source card, destination card, protocol, destination port) with its flow counts
// by verdict. Aggregated and bounded: a flood of flows grows counters, not the map, and past the
// limits the least recently seen links and cards go first. No DOM here: the bench and the tests
// run it in Node.
import type { Endpoint, Flow } from '../../hubble/types.js';

export type CardKind = 'workload' | 'world' | 'host' | 'remote-node' | 'reserved';

export interface Card {
  readonly id: string;
  readonly title: string;
  readonly namespace?: string;
  readonly kind: CardKind;
  /** Pods seen behind this card (bounded). */
  readonly pods: Set<string>;
  lastSeen: number;
}

export type LinkVerdict = 'forwarded' | 'dropped' | 'mixed';

export interface Link {
  readonly id: string;
  readonly source: string;
  readonly destination: string;
  readonly protocol: string;
  readonly port: number;
  /** Flows seen arriving: forwarded at the destination's ingress, or to a peer that is not a pod. */
  forwarded: number;
  dropped: number;
  /**
   * Flows forwarded on the way only (leaving the source, towards a pod): a connection the
   * destination drops is forwarded at the source first, so these do not make a link green.
   */
  transit: number;
  lastSeen: number;
}

/** Red when its flows are dropped and none arrives, orange when some do, green otherwise. */
export const linkVerdict = (l: Link): LinkVerdict =>
  l.dropped && l.forwarded ? 'mixed' : l.dropped ? 'dropped' : 'forwarded';

export const linkFlows = (l: Link): number => l.forwarded + l.dropped + l.transit;

/** A forwarded flow that shows the connection arrived (not only that it left its source). */
const arrived = (f: Flow): boolean => f.traffic_direction === 'INGRESS' || !f.destination?.pod_name;

export interface MapLimits {
  /** Cards kept; past it the least recently seen go (with their links). */
  maxCards: number;
  /** Links kept; past it the least recently seen go. */
  maxLinks: number;
}

export const DEFAULT_MAP_LIMITS: MapLimits = { maxCards: 1000, maxLinks: 4000 };

/** Label keys whose value titles a card (upstream hubble-ui's choice), without their source prefix. */
const TITLE_KEYS = ['app', 'k8s-app', 'name', 'functionName', 'app.kubernetes.io/name'];

function labelValue(labels: readonly string[] | undefined, keys: readonly string[]): string | undefined {
  for (const key of keys)
    for (const l of labels ?? []) {
      const i = l.indexOf('=');
      const k = (i < 0 ? l : l.slice(0, i)).replace(/^[a-z0-9-]+:/, '').replace(/^io\.kubernetes\.pod\./, '');
      if (k === key) return i < 0 ? '' : l.slice(i + 1);
    }
  return undefined;
}

const RESERVED_KINDS: Readonly<Record<string, CardKind>> = {
  world: 'world',
  'world-ipv4': 'world',
  'world-ipv6': 'world',
  host: 'host',
  'remote-node': 'remote-node',
};

/** The card an endpoint of a flow belongs to (its id, title and kind). */
export function cardOf(e: Endpoint | undefined, ip: string | undefined): Omit<Card, 'pods' | 'lastSeen'> {
  const reserved = e?.labels?.find((l) => l.startsWith('reserved:'))?.slice('reserved:'.length);
  if (!e?.pod_name && reserved) {
    const kind = RESERVED_KINDS[reserved] ?? 'reserved';
    const title = kind === 'world' ? 'world' : reserved;
    return { id: `reserved:${title}`, title, kind };
  }
  const ns = e?.namespace || undefined;
  const app = labelValue(e?.labels, TITLE_KEYS);
  const owner = e?.workloads?.[0];
  const title = app || owner?.name || e?.pod_name || ip || 'unknown';
  if (!ns && !e?.pod_name) return { id: `ip:${title}`, title, kind: 'world' };
  return { id: `${ns ?? ''}/${title}`, title, ...(ns ? { namespace: ns } : {}), kind: 'workload' };
}

const PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'ICMPv4', 'ICMPv6'] as const;

/** "TCP", 8080 for a flow (ICMP: its type as the port, as policies key it). */
export function l4Of(f: Flow): { protocol: string; port: number } | undefined {
  const l4 = f.l4;
  if (!l4) return undefined;
  for (const p of PROTOCOLS) {
    const v = l4[p] as { destination_port?: number; type?: number } | undefined;
    if (v) return { protocol: p, port: Number(v.destination_port ?? v.type ?? 0) };
  }
  return undefined;
}

export const isReply = (f: Flow): boolean => f.is_reply?.value ?? f.reply ?? false;

export class ServiceMap {
  readonly cards = new Map<string, Card>();
  readonly links = new Map<string, Link>();
  /** Bumped on every change of the card set (the layout reruns only then). */
  cardsVersion = 0;
  private readonly limits: MapLimits;

  constructor(limits: Partial<MapLimits> = {}) {
    this.limits = { ...DEFAULT_MAP_LIMITS, ...limits };
  }

  private card(e: Endpoint | undefined, ip: string | undefined, now: number): Card {
    const c = cardOf(e, ip);
    let card = this.cards.get(c.id);
    if (!card) {
      card = { ...c, pods: new Set(), lastSeen: now };
      this.cards.set(c.id, card);
      this.cardsVersion++;
    }
    card.lastSeen = now;
    if (e?.pod_name && card.pods.size < 100) card.pods.add(e.pod_name);
    return card;
  }

  /** Adds flows; replies are left out (a connection is drawn from its opener, as upstream does). */
  add(flows: readonly Flow[], now = Date.now()): void {
    for (const f of flows) {
      if (isReply(f) || (f.verdict !== 'FORWARDED' && f.verdict !== 'DROPPED')) continue;
      const l4 = l4Of(f);
      if (!l4) continue;
      const src = this.card(f.source, f.IP?.source, now);
      const dst = this.card(f.destination, f.IP?.destination, now);
      const id = `${src.id}→${dst.id} ${l4.protocol}/${l4.port}`;
      let link = this.links.get(id);
      if (!link) {
        link = { id, source: src.id, destination: dst.id, ...l4, forwarded: 0, dropped: 0, transit: 0, lastSeen: now };
        this.links.set(id, link);
      }
      if (f.verdict === 'DROPPED') link.dropped++;
      else if (arrived(f)) link.forwarded++;
      else link.transit++;
      link.lastSeen = now;
    }
    this.evict();
  }

  private evict(): void {
    if (this.links.size > this.limits.maxLinks) {
      const old = [...this.links.values()].sort((a, b) => a.lastSeen - b.lastSeen);
      for (const l of old.slice(0, this.links.size - this.limits.maxLinks)) this.links.delete(l.id);
    }
    if (this.cards.size > this.limits.maxCards) {
      const old = [...this.cards.values()].sort((a, b) => a.lastSeen - b.lastSeen);
      for (const c of old.slice(0, this.cards.size - this.limits.maxCards)) this.cards.delete(c.id);
      for (const l of this.links.values())
        if (!this.cards.has(l.source) || !this.cards.has(l.destination)) this.links.delete(l.id);
      this.cardsVersion++;
    }
  }

  clear(): void {
    this.cards.clear();
    this.links.clear();
    this.cardsVersion++;
  }
}
