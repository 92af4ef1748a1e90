// The agent in kvstore mode (`identity-allocation-mode: kvstore`, `kvstore: etcd`): identities
// are allocated in etcd (no CiliumIdentity is written) and reach the policy engine from the master
// keys' watch; the ipcache's pod entries come from every node's `cilium/state/ip/v1/default/<ip>`
// instead of the CiliumEndpoints; the other nodes come from `cilium/state/nodes/v1/<cluster>/`
// (kvstore-nodes.ts); this node publishes its pods' entries and its node entry (republished when
// its pod CIDR arrives) under its session lease; the operator's heartbeat decides the kvstore's health. While etcd is away
// nothing is taken out of the datapath: the last known entries stay, writes wait and are retried.
import type { Logger } from 'pino';
import type { IpcacheEntry } from '../../datapath/datapath.js';
import { LabelSet, type PolicyEvent } from '../../policy/index.js';
import { KvIdentityAllocator } from '../kvstore/allocator.js';
import { Kvstore, type KvstoreStatus } from '../kvstore/client.js';
import { HeartbeatMonitor, type HeartbeatHealth } from '../kvstore/heartbeat.js';
import {
  IPCACHE_PREFIX,
  decodeIpIdentityPair,
  encodeIpIdentityPair,
  ipNet,
  ipcacheKey,
  NODES_PREFIX,
  nodeKey,
  type IpIdentityPair,
  type KvNode,
} from '../kvstore/keys.js';
import type { KvstoreOptions } from '../kvstore/options.js';
import { OwnedKeys } from '../kvstore/owned-keys.js';
import { PrefixWatcher, type KvWatchEvent } from '../kvstore/watch.js';
import type { Endpoint } from './endpoint-state.js';

/** Reserved identities (upstream pkg/identity/numericidentity.go): a peer's host entry is a remote node here. */
const HOST_IDENTITY = 1;
const REMOTE_NODE_IDENTITY = 6;

const prefixOf = (ip: string): string => (ip.includes('/') ? ip : `${ip}/32`);

export interface AgentKvstoreDeps {
  options: KvstoreOptions;
  nodeName: string;
  clusterName: string;
  clusterId: number;
  /** Identity changes for the policy engine. */
  onPolicyEvents: (events: PolicyEvent[]) => void;
  /** The kvstore's ipcache entries changed. */
  onIpcache: () => void;
  /** One event of the watch on this cluster's node entries (kvstore-nodes.ts). */
  onNodeEvent?: (e: KvWatchEvent) => void;
  log: Logger;
}

/** What `cilium-dbg status` shows for the kvstore. */
export interface AgentKvstoreStatus extends KvstoreStatus {
  heartbeat: HeartbeatHealth;
  /** Set when the kvstore is unhealthy (the agent is then not ready). */
  problem?: string;
}

export class AgentKvstore {
  readonly kv: Kvstore;
  private allocator: KvIdentityAllocator | undefined;
  private readonly owned: OwnedKeys;
  private readonly heartbeat: HeartbeatMonitor;
  private readonly ipWatch: PrefixWatcher;
  private readonly nodeWatch: PrefixWatcher;
  /** This node's pod CIDR and router address as last published. */
  private nodeCidr = '';
  private nodeRouter = '';
  /** ip → the entry as read from etcd (every node's, ours included). */
  private readonly ipcache = new Map<string, IpIdentityPair>();
  /** ips whose entry changed or went since the last `changes()` (the ipcache takes only those). */
  private readonly changed = new Set<string>();
  private nodeIp = '';
  private started: Promise<void> | undefined;
  private startedResolve!: () => void;
  private readonly startedP = new Promise<void>((r) => (this.startedResolve = r));
  private ipcacheSynced = false;

  constructor(private readonly d: AgentKvstoreDeps) {
    this.kv = new Kvstore(d.options);
    this.owned = new OwnedKeys(this.kv);
    this.heartbeat = new HeartbeatMonitor(this.kv);
    this.ipWatch = new PrefixWatcher(this.kv, IPCACHE_PREFIX, (e) => {
      if (e.type === 'synced') {
        this.ipcacheSynced = true;
        d.onIpcache();
        return;
      }
      const ip = e.key.slice(IPCACHE_PREFIX.length);
      this.changed.add(ip);
      if (e.type === 'delete') {
        this.ipcache.delete(ip);
        this.owned.sawDeleted(e.key);
      } else {
        try {
          this.ipcache.set(ip, decodeIpIdentityPair(e.key, e.value));
        } catch (err) {
          d.log.warn({ key: e.key, err: (err as Error).message }, 'ignoring an ipcache entry in the kvstore');
        }
        this.owned.sawValue(e.key, e.value);
      }
      if (this.ipcacheSynced) d.onIpcache();
    });
    const ownNodeKey = nodeKey(d.clusterName, d.nodeName);
    this.nodeWatch = new PrefixWatcher(this.kv, `${NODES_PREFIX}${d.clusterName}/`, (e) => {
      // our own entry deleted by someone else goes back, as upstream's node store does
      if (e.type === 'delete' && e.key === ownNodeKey) this.owned.sawDeleted(e.key);
      else if (e.type === 'upsert' && e.key === ownNodeKey) this.owned.sawValue(e.key, e.value);
      d.onNodeEvent?.(e);
    });
  }

  /**
   * Connects, lists identities and the ipcache (the agent waits for both before it programs
   * anything), and publishes this node. Retries while etcd is away.
   */
  start(nodeIp: string, podCidr: string, routerIp = ''): Promise<void> {
    this.started ??= this.run(nodeIp, podCidr, routerIp);
    return this.started;
  }

  private async run(nodeIp: string, podCidr: string, routerIp: string): Promise<void> {
    this.nodeIp = nodeIp;
    this.nodeCidr = podCidr;
    this.nodeRouter = routerIp;
    const allocator = new KvIdentityAllocator(this.kv, { nodeIp, clusterId: this.d.clusterId });
    this.allocator = allocator;
    allocator.subscribe((e) => {
      if (e.type === 'identity-upserted')
        this.d.onPolicyEvents([{ type: 'identity-upserted', id: e.id, labels: LabelSet.fromRecord(e.labels) }]);
      else if (e.type === 'identity-deleted') this.d.onPolicyEvents([{ type: 'identity-removed', id: e.id }]);
    });
    this.heartbeat.start();
    await Promise.all([allocator.start(), this.ipWatch.start(), this.nodeWatch.start()]);
    this.publishNode();
    this.startedResolve();
    this.d.log.info({ endpoints: this.d.options.endpoints, ipcache: this.ipcache.size }, 'kvstore synced');
  }

  /**
   * This node's pod CIDR or router address changed (the operator assigned the CIDR after the
   * kvstore started): the node entry other nodes route by is written again.
   */
  updateNode(podCidr: string, routerIp: string): void {
    if (podCidr === this.nodeCidr && routerIp === this.nodeRouter) return;
    this.nodeCidr = podCidr;
    this.nodeRouter = routerIp;
    if (this.nodeIp) this.publishNode();
  }

  /** Upstream's Node entry: InternalIP, the router as CiliumInternalIP, the IPv4 pod CIDR. */
  private publishNode(): void {
    const node: KvNode = {
      Name: this.d.nodeName,
      Cluster: this.d.clusterName,
      IPAddresses: [
        { Type: 'InternalIP', IP: this.nodeIp },
        ...(this.nodeRouter ? [{ Type: 'CiliumInternalIP', IP: this.nodeRouter }] : []),
      ],
      IPv4AllocCIDR: this.nodeCidr ? ipNet(this.nodeCidr) : null,
      IPv6AllocCIDR: null,
      IPv4HealthIP: '',
      IPv6HealthIP: '',
      ClusterID: this.d.clusterId,
    };
    this.owned.set(nodeKey(this.d.clusterName, this.d.nodeName), JSON.stringify(node));
  }

  /** The identity of `labels` from etcd (waits for the kvstore to be started). */
  async allocate(labels: Record<string, string>): Promise<number> {
    await this.startedP;
    return this.allocator!.allocate(labels);
  }

  /** Publishes this node's endpoints (those with an identity) and withdraws the others. */
  publishEndpoints(endpoints: Endpoint[]): void {
    if (!this.nodeIp) return;
    const want = new Map<string, string>();
    for (const ep of endpoints) {
      if (ep.identity === undefined) continue;
      const pair: IpIdentityPair = {
        IP: ep.ipv4,
        Mask: null,
        HostIP: this.nodeIp,
        ID: ep.identity,
        Key: 0,
        Metadata: `cilium-ts/${this.d.nodeName}`,
        K8sNamespace: ep.namespace,
        K8sPodName: ep.podName,
        ...(ep.namedPorts?.length
          ? {
              NamedPorts: ep.namedPorts.map((p) => ({
                Name: p.name,
                Port: p.port,
                Protocol: p.protocol.toUpperCase(),
              })),
            }
          : {}),
      };
      want.set(ipcacheKey(ep.ipv4), encodeIpIdentityPair(pair));
    }
    for (const [key, value] of want) this.owned.set(key, value);
    for (const [ip, pair] of this.ipcache)
      if (pair.HostIP === this.nodeIp && !want.has(ipcacheKey(ip))) this.owned.delete(ipcacheKey(ip));
    for (const key of this.ownedIpKeys) if (!want.has(key)) this.owned.delete(key);
    this.ownedIpKeys = new Set(want.keys());
  }

  private ownedIpKeys = new Set<string>();

  /** The ipcache entries from the kvstore, other nodes' host entries as remote-node. */
  entries(): IpcacheEntry[] {
    this.changed.clear();
    const out: IpcacheEntry[] = [];
    for (const [ip, p] of this.ipcache) out.push(this.entryOf(ip, p));
    return out;
  }

  /**
   * What changed since the last `entries()` or `changes()`: each changed entry, or the prefix
   * alone when it went. At 10,000 remote pods a pass over all of them per event is what the
   * ipcache would otherwise pay for every new pod.
   */
  changes(): { prefix: string; entry?: IpcacheEntry }[] {
    const out: { prefix: string; entry?: IpcacheEntry }[] = [];
    for (const ip of this.changed) {
      const p = this.ipcache.get(ip);
      out.push(p ? { prefix: prefixOf(ip), entry: this.entryOf(ip, p) } : { prefix: prefixOf(ip) });
    }
    this.changed.clear();
    return out;
  }

  private entryOf(ip: string, p: IpIdentityPair): IpcacheEntry {
    const identity = p.ID === HOST_IDENTITY && p.HostIP !== this.nodeIp ? REMOTE_NODE_IDENTITY : p.ID;
    return { prefix: prefixOf(ip), identity };
  }

  /** Why the kvstore makes the agent not ready (heartbeat stale beyond the limit), if it does. */
  problem(): string | undefined {
    return this.heartbeat.health().problem;
  }

  async status(): Promise<AgentKvstoreStatus> {
    const s = await this.kv.status();
    const heartbeat = this.heartbeat.health();
    const problem = heartbeat.problem ?? s.error;
    return { ...s, heartbeat, ...(problem ? { problem } : {}) };
  }

  async stop(): Promise<void> {
    this.owned.stop();
    await Promise.all([this.heartbeat.stop(), this.ipWatch.stop(), this.nodeWatch.stop(), this.allocator?.stop()]);
    await this.kv.close();
  }
}
