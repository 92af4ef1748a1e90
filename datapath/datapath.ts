// The Datapath interface: what the agent's reconcilers (and `cilium-dbg policy trace`) program
// and query. Two backends implement it with the same semantics: `kernel` (the BPF programs via
// the addon, kernel.ts) and `sim` (userspace, sim.ts). The differential test holds them equal.
import type { ConntrackDump, EndpointDump, IpcacheDump } from './dump.js';
import type { ProxyParser } from './constants.js';
import type { DatapathEvent } from './events.js';

export type { DatapathEvent, DropEvent, PolicyVerdictEvent, TraceEvent } from './events.js';
export type { ConntrackDump, EndpointDump, IpcacheDump } from './dump.js';

/**
 * One policy map entry as the policy engine emits it (policy/entries.ts MapEntry): the same shape,
 * declared here because datapath/ imports nothing of ours. Entries are expected to be normalized
 * already (no allow under a shorter deny of the same identity): the engine does that, the
 * datapath only encodes.
 */
export interface ResolvedEntry {
  readonly identity: number;
  readonly direction: 'ingress' | 'egress';
  /** 0 = any protocol (then portPrefix.prefixLen is 0) */
  readonly protocol: number;
  readonly portPrefix: { readonly port: number; readonly prefixLen: number };
  readonly verdict: 'allow' | 'deny';
  /** An allow handed to the node's proxy of this parser (constants.ts PROXY_PORTS). */
  readonly l7?: ProxyParser;
}

/** The engine's per-endpoint delta (policy/entries.ts EntryDelta). */
export interface ResolvedDelta {
  readonly added: readonly ResolvedEntry[];
  readonly removed: readonly ResolvedEntry[];
}

/**
 * How one endpoint's policy is written: the one vocabulary of `Datapath.writePolicy`.
 * - `swap`: the whole policy, switched atomically (a new map is built and swapped in; a no-op when
 *   the installed map already holds exactly these entries). No packet meets half of a rule set.
 * - `delta`: the engine's delta, written in place without a map swap (cheap: no RCU grace period).
 *   Each entry changes atomically and the order keeps every key at its old or new verdict, but a
 *   packet may see some keys old and some new; use `swap` when that matters. Creates the map from
 *   `added` when the endpoint has none.
 */
export type PolicyWrite =
  { readonly mode: 'swap'; readonly entries: readonly ResolvedEntry[] } | ({ readonly mode: 'delta' } & ResolvedDelta);

/**
 * One `delta` write (PolicyWrite) for many endpoints: the engine gives the endpoints of one resolved
 * policy the same delta object, and writing it as a group costs one pass per inner map instead of
 * one per endpoint (a change to 1,000 endpoints of a few policies is a few writes).
 */
export interface PolicyDeltaGroup extends ResolvedDelta {
  readonly endpoints: readonly number[];
}

/** Events the datapath could not deliver, summed over CPUs. */
export interface LostEvents {
  /** suppressed by the per-CPU event budget (`eventsRate`/`eventsBurst`) */
  rateLimited: number;
  /** dropped because the ring buffer was full (the sim has no ring: always 0) */
  ringFull: number;
}

export interface EndpointSpec {
  /** node-local endpoint id (CiliumEndpoint status.id), 1..65535 */
  id: number;
  /** the pod's addresses (IPv4 and/or IPv6) */
  ips: string[];
  /** ifindex of the host-side veth; packets must arrive on it */
  ifindex: number;
  /** the endpoint's security identity */
  identity: number;
  mac?: string;
  nodeMac?: string;
}

export interface IpcacheEntry {
  /** "10.0.0.0/8", "10.1.2.3" (= /32), "fd00::/64" */
  prefix: string;
  identity: number;
  tunnelEndpoint?: string;
  nodeId?: number;
}

/** What a sync wrote; `unchanged` entries were already right and were not rewritten. */
export interface SyncResult {
  added: number;
  updated: number;
  removed: number;
  unchanged: number;
  /** policy only: true when a new map was built and swapped in */
  replaced?: boolean;
}

/** What one conntrack GC run found: entries deleted, entries left, and the tables' capacity. */
export interface ConntrackGcResult {
  deleted: number;
  alive: number;
  capacity: number;
}

export type Hook = 'from-container' | 'to-container';

export interface Verdict {
  allowed: boolean;
  /** 0 when allowed, else the DROP_* reason (negative, as in C) */
  reason: number;
  /** events the packet produced */
  events: DatapathEvent[];
  /**
   * Delivered straight into a local destination pod (local delivery: the destination's ingress
   * policy was applied too); `frame` is the packet as delivered (MACs rewritten, TTL decremented).
   */
  redirected?: { frame: Uint8Array };
  /**
   * Handed to the node's proxy on this port (the kernel assigns the proxy's socket; the sim has
   * no sockets and reports the port).
   */
  toProxy?: number;
}

export interface MetricSample {
  /** 0 forwarded, else |DROP_*| */
  reason: number;
  direction: 'ingress' | 'egress';
  packets: number;
  bytes: number;
}

export interface Datapath {
  readonly kind: 'kernel' | 'sim';
  /** Attaches the programs to an endpoint's host-side veth (sim: remembered, nothing runs). */
  attach(ifindex: number, netns?: string | null): void;
  detach(ifindex: number, netns?: string | null): void;
  /** Makes the endpoints map exactly `desired`. */
  syncEndpoints(desired: readonly EndpointSpec[]): SyncResult;
  /** Makes the ipcache exactly `desired`. */
  syncIpcache(desired: readonly IpcacheEntry[]): SyncResult;
  /**
   * Reads the ipcache map off the event loop for the next syncIpcache, which then compares with
   * it instead of reading the map itself (on a kernel without batch lookups for LPM tries, 50,000
   * entries are 100,000 syscalls, about a second). A
   * write to the ipcache in between makes the read stale: syncIpcache reads the map again then.
   */
  readIpcacheAhead?(): Promise<void>;
  /**
   * Writes only these ipcache entries and removes these prefixes, reading nothing back: the
   * per-event path (a full syncIpcache dumps the whole map, O(cluster) per change).
   */
  updateIpcache(upserts: readonly IpcacheEntry[], deletes: readonly string[]): SyncResult;
  /**
   * Writes the policy of each endpoint in `updates` (see PolicyWrite for swap vs delta). The kernel
   * backend installs every swap of one call in one batched update of the outer map (one RCU grace
   * period instead of one per endpoint); each endpoint's switch is atomic.
   */
  writePolicy(updates: ReadonlyMap<number, PolicyWrite>): Map<number, SyncResult>;
  /**
   * Writes each group's delta into the policy of each of its endpoints, as a `delta` PolicyWrite
   * would (an endpoint with no policy yet gets `added` as its whole map). Returns how many
   * endpoints' maps changed.
   */
  writePolicyDeltas(groups: readonly PolicyDeltaGroup[]): number;
  /** Removes an endpoint's policy: its traffic then drops with NO_CONFIG. */
  deletePolicy(endpointId: number): boolean;
  /** Runs one Ethernet frame through a hook, as if it arrived on `ifindex` (kernel: must be 1, lo). */
  process(frame: Uint8Array, hook: Hook): Verdict;
  metrics(): MetricSample[];
  /** Events suppressed since start (Hubble reports them as lost events). */
  lostEvents(): LostEvents;
  dumpEndpoints(): EndpointDump[];
  dumpIpcache(): IpcacheDump[];
  /** The entries installed for an endpoint (with their cookies); undefined if it has no map. */
  dumpPolicy(endpointId: number): (ResolvedEntry & { cookie: number })[] | undefined;
  dumpConntrack(): ConntrackDump[];
  /**
   * Deletes the conntrack entries whose lifetime has passed (the agent's conntrack GC). A flow
   * whose entry was refreshed between the scan and the delete just goes through policy again.
   */
  gcConntrack(): ConntrackGcResult;
  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(listener: (e: DatapathEvent) => void): () => void;
  close(): void;
}

export interface DatapathConfig {
  /** events per second per CPU; 0 = unlimited */
  eventsRate: number;
  eventsBurst: number;
  ctLifetimeTcp: number;
  ctLifetimeNonTcp: number;
  ctSynTimeout: number;
  ctCloseTimeout: number;
  /** per-packet packet/byte counters in conntrack entries (costly: every packet writes the entry) */
  ctAccounting: boolean;
  /**
   * Deliver packets between two endpoints of this node by redirect into the destination pod
   * (bpf_redirect_peer), with the destination's ingress conntrack and policy applied in the
   * source's from-container program, instead of routing them through the node's IP stack. This
   * is upstream's BPF host routing for local endpoints and what keeps the new-connection rate at
   * the level of a node without programs. Endpoints without MACs always take the routed path.
   * Turn off only to compare or to debug with tools that expect packets on the node's stack.
   */
  localRedirect: boolean;
}

/** The one place the defaults live. */
export const defaultConfig: DatapathConfig = {
  eventsRate: 5000,
  eventsBurst: 1000,
  ctLifetimeTcp: 21600,
  ctLifetimeNonTcp: 60,
  ctSynTimeout: 60,
  ctCloseTimeout: 10,
  ctAccounting: false,
  localRedirect: true,
};
