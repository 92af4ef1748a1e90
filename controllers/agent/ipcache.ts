// Ipcache assembly: the ipcache (prefix → identity) from every source the agent knows — the
// engine's CIDR identities, the nodes' addresses, the CiliumEndpoints, the local endpoints, this
// node's router and InternalIP. Kept incrementally: each source change updates only the claims of
// its owner (one CiliumEndpoint, one CiliumNode, …), marks those prefixes dirty, and the next
// event-loop turn resolves just those prefixes and writes the difference to the kernel map. A
// full read-back sync (dump + diff) happens only at start and after a failed write.
import type { Logger } from 'pino';
import { parsePrefix } from '../../crds/index.js';
import { normalizePrefix, prefixText } from '../../policy/identities.js';
import type { Datapath, IpcacheEntry, SyncResult } from '../../datapath/datapath.js';
import type { Store, StoreChange } from '../framework/index.js';
import type { EndpointManager } from './endpoint-manager.js';
import type { HostIpam } from './ipam.js';
import type { AgentMetrics } from './metrics.js';
import type { PolicyHub } from './policy-hub.js';
import type { CepObject, CiliumNodeObject } from './resources.js';

/** Reserved identities (upstream pkg/identity/numericidentity.go). */
export const HOST_IDENTITY = 1;
export const REMOTE_NODE_IDENTITY = 6;

/**
 * Which source wins a prefix claimed by several: a higher rank. Within one rank the claim with the
 * greater `order` wins (a CiliumEndpoint's creationTimestamp: the newer pod owns a reused IP), then
 * the greater owner name, so the result never depends on event order.
 */
export const IpcacheRank = { cidr: 0, node: 1, cep: 2, endpoint: 3, router: 4, host: 5 } as const;

/** One owner's claim on one prefix. */
export interface IpcacheClaim {
  owner: string;
  rank: number;
  order: string;
  identity: number;
  /** tunnel mode: the node to encapsulate to (a remote node's own addresses) */
  tunnelEndpoint?: string;
}

/** True when claim `a` beats claim `b` for the same prefix. */
export function claimBeats(a: IpcacheClaim, b: IpcacheClaim): boolean {
  if (a.rank !== b.rank) return a.rank > b.rank;
  if (a.order !== b.order) return a.order > b.order;
  return a.owner > b.owner;
}

/** IPv4 /32 prefixes of a CiliumEndpoint's addresses, with its identity (none without one). */
export function cepPrefixes(cep: CepObject | undefined): string[] {
  const id = cep?.status?.identity?.id;
  if (!id) return [];
  return (cep.status?.networking?.addressing ?? []).flatMap((a) => (a.ipv4 ? [`${a.ipv4}/32`] : []));
}

/** IPv4 /32 prefixes of a CiliumNode's addresses. */
export function nodePrefixes(node: CiliumNodeObject | undefined): string[] {
  return (node?.spec?.addresses ?? []).flatMap((a) => (a.ip && !a.ip.includes(':') ? [`${a.ip}/32`] : []));
}

const entryOf = (prefix: string, c: IpcacheClaim): IpcacheEntry =>
  c.tunnelEndpoint
    ? { prefix, identity: c.identity, tunnelEndpoint: c.tunnelEndpoint }
    : { prefix, identity: c.identity };

/**
 * The claims on every prefix and the winner of each. Pure bookkeeping (no I/O): owners replace
 * their claims, changed prefixes are collected, and `drain` yields what to write.
 */
export class IpcacheClaims {
  /** prefix → its claims: one claim (the usual case, no array allocated) or several */
  private readonly claims = new Map<string, IpcacheClaim | IpcacheClaim[]>();
  /** owner → the prefixes it claims */
  private readonly owned = new Map<string, string | string[]>();
  /** prefix → the claim last handed out as the winner (what the map holds) */
  private readonly winners = new Map<string, IpcacheClaim>();
  private readonly dirty = new Set<string>();
  /** Moves each time a drain changed a winner: readers of `written()` compare it, not the entries. */
  revision = 0;

  /** Owners holding claims (a size metric). */
  get owners(): number {
    return this.owned.size;
  }

  /** Prefixes with a winner. */
  get size(): number {
    return this.winners.size;
  }

  get pending(): boolean {
    return this.dirty.size > 0;
  }

  /** The prefixes `owner` claims. */
  prefixesOf(owner: string): readonly string[] {
    const p = this.owned.get(owner);
    return p === undefined ? [] : typeof p === 'string' ? [p] : p;
  }

  /** The owner whose claim wins `prefix`, once drained. */
  ownerOf(prefix: string): string | undefined {
    return this.winners.get(prefix)?.owner;
  }

  /** Replaces every claim of `owner` with `prefixes` → identity (an empty list removes the owner). */
  set(
    owner: string,
    rank: number,
    order: string,
    identity: number,
    prefixes: readonly string[],
    tunnelEndpoint?: string,
  ): void {
    const before = this.prefixesOf(owner);
    for (const p of before) this.unclaim(p, owner);
    const unique = [...new Set(prefixes)];
    for (const p of unique)
      this.claim(p, { owner, rank, order, identity, ...(tunnelEndpoint ? { tunnelEndpoint } : {}) });
    if (unique.length === 0) this.owned.delete(owner);
    else this.owned.set(owner, unique.length === 1 ? unique[0]! : unique);
    for (const p of before) this.dirty.add(p);
    for (const p of unique) this.dirty.add(p);
  }

  delete(owner: string): void {
    this.set(owner, 0, '', 0, []);
  }

  /** The winner of every dirty prefix whose winner changed: entries to write and prefixes to delete. */
  drain(): { upserts: IpcacheEntry[]; deletes: string[] } {
    const upserts: IpcacheEntry[] = [];
    const deletes: string[] = [];
    for (const prefix of this.dirty) {
      const best = this.best(prefix);
      const had = this.winners.get(prefix);
      if (!best) {
        if (had) {
          this.winners.delete(prefix);
          deletes.push(prefix);
        }
        continue;
      }
      this.winners.set(prefix, best);
      if (!had || had.identity !== best.identity || had.tunnelEndpoint !== best.tunnelEndpoint)
        upserts.push(entryOf(prefix, best));
    }
    this.dirty.clear();
    if (upserts.length || deletes.length) this.revision++;
    return { upserts, deletes };
  }

  /**
   * The identity the map holds for an IPv4 address: the longest winning prefix that contains it,
   * as the datapath's LPM lookup finds it (what was last drained, i.e. written). For the L7 proxy,
   * which needs a peer's identity once per connection.
   */
  lookup(ip: string): number | undefined {
    return longestPrefix(ip, (prefix) => this.winners.get(prefix)?.identity);
  }

  /** What was last drained (what the map holds), without draining: changes still pending stay for the next drain. */
  written(): IpcacheEntry[] {
    return [...this.winners].map(([prefix, c]) => entryOf(prefix, c));
  }

  /** The whole resolved ipcache (drains first). */
  entries(): IpcacheEntry[] {
    this.drain();
    return [...this.winners].map(([prefix, c]) => entryOf(prefix, c));
  }

  private best(prefix: string): IpcacheClaim | undefined {
    const c = this.claims.get(prefix);
    if (!Array.isArray(c)) return c;
    let best = c[0];
    for (const x of c) if (best && claimBeats(x, best)) best = x;
    return best;
  }

  private claim(prefix: string, claim: IpcacheClaim): void {
    const c = this.claims.get(prefix);
    if (c === undefined) this.claims.set(prefix, claim);
    else if (Array.isArray(c)) c.push(claim);
    else this.claims.set(prefix, [c, claim]);
  }

  private unclaim(prefix: string, owner: string): void {
    const c = this.claims.get(prefix);
    if (c === undefined) return;
    if (!Array.isArray(c)) {
      if (c.owner === owner) this.claims.delete(prefix);
      return;
    }
    const rest = c.filter((x) => x.owner !== owner);
    if (rest.length === 0) this.claims.delete(prefix);
    else this.claims.set(prefix, rest.length === 1 ? rest[0]! : rest);
  }
}

export interface IpcacheSources {
  nodeName: string;
  datapath: Datapath;
  hub: PolicyHub;
  nodes: Store<CiliumNodeObject>;
  ceps: Store<CepObject>;
  endpoints: EndpointManager;
  ipam: HostIpam;
  /** this node's InternalIP, once registered */
  nodeIp: () => string | undefined;
  /** tunnel routing mode: other nodes' addresses carry their InternalIP as tunnel endpoint (pods reach them encapsulated) */
  tunnel?: boolean;
  /** kvstore mode: pod entries come from etcd (kvstore-mode.ts) instead of the CiliumEndpoints. */
  kvstore?: { entries(): IpcacheEntry[]; changes(): { prefix: string; entry?: IpcacheEntry }[] };
  metrics: AgentMetrics;
  log: Logger;
}

const CEP = 'cep:';
const NODE = 'node:';
const ENDPOINT = 'ep:';
const CIDR = 'cidr:';
const KVSTORE = 'kv:';

export class IpcacheAssembler {
  private timer?: NodeJS.Immediate;
  readonly claims = new IpcacheClaims();
  /** the next write must read the map back (start, or a write failed) */
  private fullSync = true;
  private endpointsDirty = true;
  private cidrsDirty = true;
  private kvstoreDirty = true;
  private readonly unsubscribe: (() => void)[];
  /** owners of the local sources, to drop the ones gone without scanning every owner */
  private endpointOwners = new Set<string>();
  private cidrOwners = new Set<string>();
  private kvstoreOwners = new Set<string>();
  /** kvstore mode: the whole list was taken once; after it only changes. */
  private kvstoreListed = false;

  constructor(private readonly s: IpcacheSources) {
    this.unsubscribe = [s.nodes.subscribe((c) => this.onNode(c))];
    // kvstore mode: the pods' entries come from etcd, the CiliumEndpoints are not read
    if (!s.kvstore) {
      this.unsubscribe.push(s.ceps.subscribe((c) => this.onCep(c)));
      for (const [key, cep] of s.ceps.keys().map((k) => [k, s.ceps.get(k)] as const)) this.setCep(key, cep);
    }
    for (const key of s.nodes.keys()) this.setNode(key, s.nodes.get(key));
  }

  /** Syncs on the next event-loop turn (changes come in bursts); nothing before the gate opens. */
  schedule(): void {
    if (this.timer || !this.s.hub.gateOpen) return;
    this.timer = setImmediate(() => {
      this.timer = undefined;
      this.sync();
    });
  }

  /** The local endpoints changed (their addresses, identities or states). */
  endpointsChanged(): void {
    this.endpointsDirty = true;
    this.schedule();
  }

  /** kvstore mode: the kvstore's ipcache entries changed. */
  kvstoreChanged(): void {
    this.kvstoreDirty = true;
    this.schedule();
  }

  /** The engine's CIDR identities changed. */
  cidrsChanged(): void {
    this.cidrsDirty = true;
    this.schedule();
  }

  /** The identity the ipcache map gives `ip` (longest prefix), undefined when none covers it. */
  identityOf(ip: string): number | undefined {
    return this.claims.lookup(ip);
  }

  /**
   * What the ipcache map holds (as last synced), for readers beside the datapath (the L7 proxy):
   * unlike entries(), it takes no pending change away from the next sync.
   */
  written(): IpcacheEntry[] {
    return this.claims.written();
  }

  /** Moves whenever a sync changed what written() returns. */
  get revision(): number {
    return this.claims.revision;
  }

  /** The desired ipcache, one entry per prefix. */
  entries(): IpcacheEntry[] {
    this.refreshLocal();
    return this.claims.entries();
  }

  /**
   * Writes what changed: the endpoints map when local endpoints changed, the ipcache entries whose
   * winner changed (or the whole map, read back, on the first sync and after a failure). A failure
   * is logged; the next change retries with a full sync.
   */
  sync(): { ipcache?: SyncResult; endpoints?: SyncResult } {
    const { datapath, endpoints, metrics } = this.s;
    const endpointsChanged = this.endpointsDirty;
    this.refreshLocal();
    let result: { ipcache?: SyncResult; endpoints?: SyncResult } = {};
    try {
      if (endpointsChanged || this.fullSync) result.endpoints = datapath.syncEndpoints(endpoints.datapathEndpoints());
      if (this.fullSync) {
        result.ipcache = datapath.syncIpcache(this.claims.entries());
        this.fullSync = false;
      } else {
        const { upserts, deletes } = this.claims.drain();
        if (upserts.length || deletes.length) result.ipcache = datapath.updateIpcache(upserts, deletes);
      }
    } catch (e) {
      this.fullSync = true;
      this.endpointsDirty = true;
      result = {};
      this.s.log.error({ err: (e as Error).message }, 'syncing the endpoints map or the ipcache failed');
    }
    metrics.ipcacheEntries.set(this.claims.size);
    if (endpointsChanged) {
      const states = new Map<string, number>();
      for (const ep of endpoints.list()) states.set(ep.state, (states.get(ep.state) ?? 0) + 1);
      metrics.endpointState.reset();
      for (const [s, n] of states) metrics.endpointState.set({ endpoint_state: s }, n);
    }
    return result;
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
  }

  private onCep(c: StoreChange<CepObject>): void {
    if (c.type === 'synced') return;
    this.setCep(c.key, c.type === 'deleted' ? undefined : c.object);
    if (this.claims.pending) this.schedule();
  }

  private onNode(c: StoreChange<CiliumNodeObject>): void {
    if (c.type === 'synced') return;
    this.setNode(c.key, c.type === 'deleted' ? undefined : c.object);
    if (this.claims.pending) this.schedule();
  }

  private setCep(key: string, cep: CepObject | undefined): void {
    const order = cep?.metadata?.creationTimestamp ?? '';
    this.claims.set(CEP + key, IpcacheRank.cep, order, cep?.status?.identity?.id ?? 0, cepPrefixes(cep));
  }

  private setNode(key: string, node: CiliumNodeObject | undefined): void {
    const own = key === this.s.nodeName;
    const internal = node?.spec?.addresses?.find((a) => a.type === 'InternalIP')?.ip;
    const tunnelEndpoint = this.s.tunnel && !own && internal && !internal.includes(':') ? internal : undefined;
    const identity = own ? HOST_IDENTITY : REMOTE_NODE_IDENTITY;
    this.claims.set(NODE + key, IpcacheRank.node, '', identity, nodePrefixes(node), tunnelEndpoint);
  }

  /** Local sources: the endpoints and CIDRs when they changed, the router and node address always (cheap). */
  private refreshLocal(): void {
    const { hub, endpoints, ipam } = this.s;
    if (this.cidrsDirty) {
      this.cidrsDirty = false;
      const seen = new Set<string>();
      for (const [prefix, id] of hub.cidrIdentities) {
        seen.add(CIDR + prefix);
        this.claims.set(CIDR + prefix, IpcacheRank.cidr, '', id, [prefix]);
      }
      for (const o of this.cidrOwners) if (!seen.has(o)) this.claims.delete(o);
      this.cidrOwners = seen;
    }
    if (this.kvstoreDirty && this.s.kvstore) {
      // the whole list once, then only what changed (one pass over the cluster's pods per event
      // would cost every new pod O(pods)); the claims keep the map writes incremental
      this.kvstoreDirty = false;
      if (!this.kvstoreListed) {
        this.kvstoreListed = true;
        const seen = new Set<string>();
        for (const e of this.s.kvstore.entries()) {
          seen.add(KVSTORE + e.prefix);
          this.claims.set(KVSTORE + e.prefix, IpcacheRank.cep, '', e.identity, [e.prefix]);
        }
        for (const o of this.kvstoreOwners) if (!seen.has(o)) this.claims.delete(o);
        this.kvstoreOwners = seen;
      } else
        for (const c of this.s.kvstore.changes()) {
          const owner = KVSTORE + c.prefix;
          if (c.entry) {
            this.kvstoreOwners.add(owner);
            this.claims.set(owner, IpcacheRank.cep, '', c.entry.identity, [c.prefix]);
          } else if (this.kvstoreOwners.delete(owner)) this.claims.delete(owner);
        }
    }
    if (this.endpointsDirty) {
      this.endpointsDirty = false;
      const seen = new Set<string>();
      for (const ep of endpoints.list()) {
        if (ep.identity === undefined) continue;
        seen.add(ENDPOINT + ep.id);
        this.claims.set(ENDPOINT + ep.id, IpcacheRank.endpoint, '', ep.identity, [`${ep.ipv4}/32`]);
      }
      for (const o of this.endpointOwners) if (!seen.has(o)) this.claims.delete(o);
      this.endpointOwners = seen;
    }
    this.setIfChanged('router', IpcacheRank.router, ipam.ready ? `${ipam.router}/32` : undefined);
    const nodeIp = this.s.nodeIp();
    this.setIfChanged('host', IpcacheRank.host, nodeIp ? `${nodeIp}/32` : undefined);
  }

  private setIfChanged(owner: string, rank: number, prefix: string | undefined): void {
    const now = this.claims.prefixesOf(owner);
    if ((prefix === undefined && now.length === 0) || (prefix !== undefined && now[0] === prefix)) return;
    this.claims.set(owner, rank, '', HOST_IDENTITY, prefix ? [prefix] : []);
  }
}

/**
 * The value `get` gives the longest prefix (normalized text, "10.1.0.0/16") containing IPv4 `ip`,
 * as the datapath's LPM lookup; undefined when none does (or `ip` is not IPv4).
 */
export function longestPrefix<T>(ip: string, get: (prefix: string) => T | undefined): T | undefined {
  const host = parsePrefix(ip);
  if (host?.family !== 4) return undefined;
  for (let length = 32; length >= 0; length--) {
    const v = get(prefixText(normalizePrefix({ ...host, length })));
    if (v !== undefined) return v;
  }
  return undefined;
}
