// The kernel backend: loads datapath/bpf/lxc.bpf.o once with its maps pinned under a pin root
// (reusing what an earlier agent pinned), attaches the programs to endpoint veths, and keeps the
// maps in sync through the addon. Per-endpoint policy lives in an inner LPM trie reached through
// cilium_policy_v2 (policy-maps.ts: a swap builds a complete new trie beside the old one and swaps
// the outer entry in one update, so no packet ever sees a half-written policy).
import { existsSync, mkdirSync } from 'node:fs';
import { loadAddon, objectPath, type Addon, type AddonHandle } from './addon.js';
import { ctEntry, dpConfig, metricsKey, metricsValue, eventsBudget } from './codecs.js';
import {
  BpfMapType,
  DP_F_CT_ACCOUNTING,
  DP_F_LOCAL_REDIRECT,
  MapNames,
  ProgramNames,
  Sizes,
  TcAct,
} from './constants.js';
import {
  defaultConfig,
  type ConntrackGcResult,
  type Datapath,
  type DatapathConfig,
  type EndpointSpec,
  type Hook,
  type IpcacheEntry,
  type LostEvents,
  type MetricSample,
  type PolicyDeltaGroup,
  type PolicyWrite,
  type ResolvedEntry,
  type SyncResult,
  type Verdict,
} from './datapath.js';
import {
  decodeConntrack,
  decodeEndpoints,
  decodeIpcache,
  type ConntrackDump,
  type EndpointDump,
  type IpcacheDump,
} from './dump.js';
import { DatapathError, DatapathErrorCode, fromAddon } from './errors.js';
import { decodeEvent, type DatapathEvent } from './events.js';
import { requireFeatures } from './features.js';
import { PolicyMaps } from './policy-maps.js';
import { endpointEntries, ipcacheEntries, ipcacheKeys } from './map-entries.js';
import {
  defaultSyncOptions,
  deleteBatches,
  dumpMap,
  dumpMapAsync,
  syncMap,
  unpinIfResized,
  writeBatches,
  type KernelMap,
  type RawEntry,
  type SyncOptions,
} from './map-sync.js';

export interface KernelOptions {
  /** bpffs directory for the pins; one per agent (tests: one per run) */
  pinRoot: string;
  objectPath: string;
  config: DatapathConfig;
  /** max_entries of each endpoint's policy map */
  policyMapSize: number;
  /**
   * max_entries of object maps by name, instead of the compiled sizes (e.g. the conntrack maps
   * from `bpf-ct-global-*-max`). A map pinned with another size is unpinned and recreated, as
   * upstream does: its entries are lost (listed in `recreatedMaps`).
   */
  maxEntries: Readonly<Record<string, number>>;
  sync: SyncOptions;
  /** start the ring-buffer reader on the event loop (off: events only via process()/drainEvents()) */
  readEvents: boolean;
  /**
   * the programs wake the reader only per 64 KiB of events; this timer drains whatever is
   * waiting, bounding how late a lone event arrives
   */
  eventsFlushMs: number;
}

export const defaultKernelOptions: Omit<KernelOptions, 'pinRoot'> = {
  objectPath,
  config: defaultConfig,
  policyMapSize: Sizes.policyMap,
  maxEntries: {},
  sync: defaultSyncOptions,
  readEvents: true,
  eventsFlushMs: 100,
};

/** tc filter identity of our programs on a clsact hook. */
export const TC_PRIORITY = 1;
export const TC_HANDLE = 1;

export class KernelDatapath implements Datapath {
  readonly kind = 'kernel';
  readonly opts: KernelOptions;
  private readonly addon: Addon;
  private obj: AddonHandle | undefined;
  private readonly maps = new Map<string, KernelMap>();
  private readonly progs = new Map<string, number>();
  private ring: AddonHandle | undefined;
  private readonly listeners = new Set<(e: DatapathEvent) => void>();
  /** Writes to the ipcache so far: a read ahead of them is stale. */
  private ipcacheWrites = 0;
  private ipcacheAhead?: { entries: RawEntry[]; writes: number };
  private readonly ncpus: number;
  private flushTimer: ReturnType<typeof setInterval> | undefined;
  /** Pinned maps this load replaced because their size differed from `maxEntries`. */
  readonly recreatedMaps: string[] = [];
  private readonly policyMaps: PolicyMaps;

  constructor(opts: Partial<KernelOptions> & { pinRoot: string }) {
    this.opts = { ...defaultKernelOptions, ...opts };
    this.addon = loadAddon();
    this.ncpus = this.addon.numPossibleCpus();
    if (!existsSync(this.opts.objectPath))
      throw new DatapathError(
        DatapathErrorCode.ObjectMissing,
        `the BPF object is not built (${this.opts.objectPath}); run \`npm run setup\` (make -C datapath)`,
      );
    mkdirSync(this.opts.pinRoot, { recursive: true });
    const sizes = Object.entries(this.opts.maxEntries);
    for (const [name, size] of sizes)
      if (unpinIfResized(this.addon, this.opts.pinRoot, name, size)) this.recreatedMaps.push(name);
    try {
      this.obj = this.addon.objectOpen(this.opts.objectPath, this.opts.pinRoot, sizes.length ? sizes : null);
    } catch (e) {
      // a kernel without the features is the likeliest cause, and deserves a plain answer
      requireFeatures();
      throw fromAddon(e, { op: `load ${this.opts.objectPath} (pins in ${this.opts.pinRoot})` });
    }
    for (const m of this.addon.objectMaps(this.obj)) {
      const info = this.addon.mapInfo(m.fd);
      const perCpu = info.type === BpfMapType.percpuHash || info.type === BpfMapType.percpuArray;
      const valueSize = perCpu ? Math.ceil(info.valueSize / 8) * 8 * this.ncpus : info.valueSize;
      this.maps.set(m.name, { fd: m.fd, name: m.name, keySize: info.keySize, valueSize, maxEntries: info.maxEntries });
    }
    for (const p of this.addon.objectPrograms(this.obj)) this.progs.set(p.name, p.fd);
    this.policyMaps = new PolicyMaps(this.addon, this.map(MapNames.policy), this.opts);
    this.writeConfig(this.opts.config);
    if (this.opts.readEvents) {
      this.ring = this.addon.ringbufOpen(this.map(MapNames.events).fd, (batch) => this.dispatch(batch));
      this.flushTimer = setInterval(() => this.drainEvents(), this.opts.eventsFlushMs);
      this.flushTimer.unref();
    }
  }

  map(name: string): KernelMap {
    const m = this.maps.get(name);
    if (!m) throw new DatapathError(DatapathErrorCode.NotFound, `the BPF object has no map ${name}`);
    return m;
  }

  programFd(name: string): number {
    const fd = this.progs.get(name);
    if (fd === undefined) throw new DatapathError(DatapathErrorCode.NotFound, `the BPF object has no program ${name}`);
    return fd;
  }

  writeConfig(c: DatapathConfig): void {
    const value = dpConfig.encode({
      eventsRate: c.eventsRate,
      eventsBurst: c.eventsBurst,
      ctLifetimeTcp: c.ctLifetimeTcp,
      ctLifetimeNontcp: c.ctLifetimeNonTcp,
      ctSynTimeout: c.ctSynTimeout,
      ctCloseTimeout: c.ctCloseTimeout,
      flags: (c.ctAccounting ? DP_F_CT_ACCOUNTING : 0) | (c.localRedirect ? DP_F_LOCAL_REDIRECT : 0),
    });
    const m = this.map(MapNames.config);
    this.call(() => this.addon.mapUpdate(m.fd, new Uint8Array(4), value, 0), `write ${m.name}`, m);
  }

  /** Attaches from-container (tc ingress) and to-container (tc egress) to a host-side veth. */
  attach(ifindex: number, netns: string | null = null): void {
    this.call(
      () => {
        this.addon.tcAttach(
          ifindex,
          netns,
          'ingress',
          this.programFd(ProgramNames.fromContainer),
          TC_PRIORITY,
          TC_HANDLE,
        );
        this.addon.tcAttach(ifindex, netns, 'egress', this.programFd(ProgramNames.toContainer), TC_PRIORITY, TC_HANDLE);
      },
      `attach to ifindex ${ifindex}${netns ? ` in ${netns}` : ''}`,
    );
  }

  /** The ifindex of the device named `name` in this process's network namespace, or undefined if none. */
  linkIndex(name: string): number | undefined {
    try {
      return this.addon.ifIndex(name, null);
    } catch {
      return undefined;
    }
  }

  detach(ifindex: number, netns: string | null = null): void {
    this.call(() => {
      this.addon.tcDetach(ifindex, netns, 'ingress', TC_PRIORITY, TC_HANDLE);
      this.addon.tcDetach(ifindex, netns, 'egress', TC_PRIORITY, TC_HANDLE);
    }, `detach from ifindex ${ifindex}`);
  }

  syncEndpoints(desired: readonly EndpointSpec[]): SyncResult {
    return syncMap(this.addon, this.map(MapNames.endpoints), endpointEntries(desired), this.opts.sync);
  }

  syncIpcache(desired: readonly IpcacheEntry[]): SyncResult {
    const ahead = this.ipcacheAhead;
    this.ipcacheAhead = undefined;
    const m = this.map(MapNames.ipcache);
    const current = ahead && ahead.writes === this.ipcacheWrites ? ahead.entries : dumpMap(this.addon, m);
    this.ipcacheWrites++;
    return syncMap(this.addon, m, ipcacheEntries(desired), this.opts.sync, current);
  }

  async readIpcacheAhead(): Promise<void> {
    const writes = this.ipcacheWrites;
    const entries = await dumpMapAsync(this.addon, this.map(MapNames.ipcache));
    this.ipcacheAhead = { entries, writes };
  }

  updateIpcache(upserts: readonly IpcacheEntry[], deletes: readonly string[]): SyncResult {
    this.ipcacheWrites++;
    const m = this.map(MapNames.ipcache);
    const removed = deleteBatches(this.addon, m, ipcacheKeys(deletes), this.opts.sync);
    writeBatches(this.addon, m, ipcacheEntries(upserts), this.opts.sync);
    return { added: upserts.length, updated: 0, removed, unchanged: 0 };
  }

  writePolicy(updates: ReadonlyMap<number, PolicyWrite>): Map<number, SyncResult> {
    return this.policyMaps.write(updates);
  }

  writePolicyDeltas(groups: readonly PolicyDeltaGroup[]): number {
    return this.policyMaps.writeDeltas(groups);
  }

  deletePolicy(endpointId: number): boolean {
    return this.policyMaps.delete(endpointId);
  }

  dumpEndpoints(): EndpointDump[] {
    return decodeEndpoints(dumpMap(this.addon, this.map(MapNames.endpoints)));
  }

  dumpIpcache(): IpcacheDump[] {
    return decodeIpcache(dumpMap(this.addon, this.map(MapNames.ipcache)));
  }

  dumpPolicy(endpointId: number): (ResolvedEntry & { cookie: number })[] | undefined {
    return this.policyMaps.dump(endpointId);
  }

  dumpConntrack(): ConntrackDump[] {
    return decodeConntrack(dumpMap(this.addon, this.map(MapNames.ct4)), dumpMap(this.addon, this.map(MapNames.ct6)));
  }

  gcConntrack(): ConntrackGcResult {
    // the programs stamp lifetimes in bpf_ktime_get_ns() seconds: CLOCK_MONOTONIC, as hrtime
    const now = Number(process.hrtime.bigint() / 1_000_000_000n);
    const result: ConntrackGcResult = { deleted: 0, alive: 0, capacity: 0 };
    for (const m of [this.map(MapNames.ct4), this.map(MapNames.ct6)]) {
      const entries = dumpMap(this.addon, m);
      const expired = entries.filter((e) => ctEntry.decode(e.value).lifetime < now).map((e) => e.key);
      result.deleted += expired.length ? deleteBatches(this.addon, m, expired, this.opts.sync) : 0;
      result.alive += entries.length - expired.length;
      result.capacity += m.maxEntries;
    }
    return result;
  }

  /** Policy entries currently installed for an endpoint (raw), for restore checks and dumps. */
  policyEntryCount(endpointId: number): number {
    return this.policyMaps.entryCount(endpointId);
  }

  /** Runs a frame through a program with BPF_PROG_TEST_RUN (the packet arrives on lo, ifindex 1). */
  process(frame: Uint8Array, hook: Hook): Verdict {
    const prog = this.programFd(hook === 'from-container' ? ProgramNames.fromContainer : ProgramNames.toContainer);
    this.drainEvents(); // events before this packet are not its events
    const r = this.call(() => this.addon.progTestRun(prog, frame, 1, frame.length), `test run ${hook}`);
    const events = this.drainEvents();
    const redirected = r.retval === TcAct.redirect;
    const allowed = r.retval === TcAct.ok || redirected;
    const drop = events.find((e) => e.type === 'drop');
    const reason = allowed ? 0 : drop && drop.type === 'drop' ? -drop.reason : 0;
    return {
      allowed,
      reason,
      events,
      ...(redirected ? { redirected: { frame: r.dataOut ?? new Uint8Array(0) } } : {}),
    };
  }

  /** Reads whatever is in the ring now, dispatching it to listeners; returns it too. */
  drainEvents(): DatapathEvent[] {
    if (!this.ring) {
      this.ring = this.addon.ringbufOpen(this.map(MapNames.events).fd, (batch) => this.dispatch(batch));
    }
    return this.dispatch(this.addon.ringbufConsume(this.ring));
  }

  private dispatch(batch: Uint8Array[]): DatapathEvent[] {
    const out = batch.map(decodeEvent);
    for (const e of out) for (const l of this.listeners) l(e);
    return out;
  }

  onEvent(listener: (e: DatapathEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  metrics(): MetricSample[] {
    const m = this.map(MapNames.metrics);
    const stride = Math.ceil(metricsValue.size / 8) * 8;
    return dumpMap(this.addon, m).map((e) => {
      const k = metricsKey.decode(e.key);
      let packets = 0;
      let bytes = 0;
      for (let c = 0; c < this.ncpus; c++) {
        const v = metricsValue.decode(e.value, c * stride);
        packets += v.count;
        bytes += v.bytes;
      }
      return { reason: k.reason, direction: k.dir === 2 ? 'egress' : 'ingress', packets, bytes };
    });
  }

  /** Events suppressed by the per-CPU budget or a full ring, summed over CPUs. */
  lostEvents(): LostEvents {
    const m = this.map(MapNames.eventsBudget);
    const out = new Uint8Array(m.valueSize);
    this.addon.mapLookup(m.fd, new Uint8Array(4), out);
    let rateLimited = 0;
    let ringFull = 0;
    for (let c = 0; c < this.ncpus; c++) {
      const b = eventsBudget.decode(out, c * eventsBudget.size);
      rateLimited += b.lostRatelimit;
      ringFull += b.lostRingFull;
    }
    return { rateLimited, ringFull };
  }

  close(): void {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = undefined;
    this.listeners.clear();
    this.policyMaps?.close();
    if (this.ring) this.addon.ringbufClose(this.ring);
    this.ring = undefined;
    if (this.obj) this.addon.objectClose(this.obj);
    this.obj = undefined;
  }

  private call<T>(fn: () => T, op: string, map?: KernelMap): T {
    try {
      return fn();
    } catch (e) {
      throw fromAddon(e, { op, ...(map ? { map } : {}) });
    }
  }
}
