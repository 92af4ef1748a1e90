// The kernel load balancer: loads datapath/bpf/sock_lb.bpf.o with its maps pinned beside the
// endpoint maps (reusing what an earlier agent pinned), attaches the socket-LB programs to a
// cgroup v2 directory through pinned BPF links, and writes the LB maps by difference.
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { loadAddon, sockLbObjectPath, type Addon, type AddonHandle } from './addon.js';
import { DatapathError, DatapathErrorCode, fromAddon } from './errors.js';
import { decodeLbMaps, idsFromMaps, LbIds, type LbMapRow, type LbService, type LbSyncResult } from './lb.js';
import { LbMapNames, LbSizes, SockLbPrograms, type CgroupHook } from './lb-constants.js';
import { LbWriter, type LbMapIo, type LbMapName } from './lb-sync.js';
import {
  defaultSyncOptions,
  deleteBatches,
  dumpMap,
  unpinIfResized,
  writeBatches,
  type KernelMap,
  type RawEntry,
  type SyncOptions,
} from './map-sync.js';

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** The load balancer the agent programs: kernel (this file) or sim (lb-sim.ts). */
export interface LoadBalancer {
  readonly kind: 'kernel' | 'sim';
  /** Makes the LB maps hold exactly `desired`, writing only the difference. */
  syncServices(desired: readonly LbService[]): LbSyncResult;
  /**
   * Writes only the named frontends (frontendId() -> the Service now, undefined = gone), after a
   * first syncServices(): what one Service change costs, whatever the number of Services.
   */
  updateServices(changes: ReadonlyMap<string, LbService | undefined>): LbSyncResult;
  /** The maps as rows (`cilium-dbg bpf lb list`). */
  dump(): LbMapRow[];
  close(): void;
}

export interface KernelLbOptions {
  /** bpffs directory for the pins (the agent's tc/globals) */
  pinRoot: string;
  objectPath: string;
  /**
   * `bpf-lb-map-max`: entries of the services, backends, reverse-NAT and affinity maps. A pinned
   * map of another size is unpinned and recreated (its entries are rewritten by the next sync).
   */
  mapMax: number;
  sync: SyncOptions;
}

export const defaultKernelLbOptions: Omit<KernelLbOptions, 'pinRoot'> = {
  objectPath: sockLbObjectPath,
  mapMax: LbSizes.services,
  sync: defaultSyncOptions,
};

const HOOKS = Object.keys(SockLbPrograms) as CgroupHook[];
const linkPin = (pinRoot: string, hook: CgroupHook) => join(pinRoot, `cilium_sock_${hook}_link`);

export class KernelLoadBalancer implements LoadBalancer {
  readonly kind = 'kernel';
  readonly opts: KernelLbOptions;
  private readonly addon: Addon;
  private obj: AddonHandle | undefined;
  private readonly maps = new Map<string, KernelMap>();
  private readonly progs = new Map<string, number>();
  private readonly ids: LbIds;
  private readonly writer: LbWriter;
  private readonly written = new Map<LbMapName, Map<string, RawEntry>>();
  /** Pinned maps this load replaced because their size differed from `mapMax`. */
  readonly recreatedMaps: string[] = [];

  constructor(opts: Partial<KernelLbOptions> & { pinRoot: string }) {
    this.opts = { ...defaultKernelLbOptions, ...opts };
    this.addon = loadAddon();
    if (!existsSync(this.opts.objectPath))
      throw new DatapathError(
        DatapathErrorCode.ObjectMissing,
        `the socket-LB object is not built (${this.opts.objectPath}); run \`npm run setup\` (make -C datapath)`,
      );
    const sized = [
      LbMapNames.services,
      LbMapNames.backends,
      LbMapNames.revNat,
      LbMapNames.affinity,
      LbMapNames.affinityMatch,
    ];
    const sizes: [string, number][] = sized.map((n) => [n, this.opts.mapMax]);
    for (const [name, size] of sizes)
      if (unpinIfResized(this.addon, this.opts.pinRoot, name, size)) this.recreatedMaps.push(name);
    this.obj = this.call(
      () => this.addon.objectOpen(this.opts.objectPath, this.opts.pinRoot, sizes),
      `load ${this.opts.objectPath} (pins in ${this.opts.pinRoot})`,
    );
    for (const m of this.addon.objectMaps(this.obj)) {
      const info = this.addon.mapInfo(m.fd);
      this.maps.set(m.name, {
        fd: m.fd,
        name: m.name,
        keySize: info.keySize,
        valueSize: info.valueSize,
        maxEntries: info.maxEntries,
      });
    }
    for (const p of this.addon.objectPrograms(this.obj)) this.progs.set(p.name, p.fd);
    this.ids = new LbIds(Math.min(this.opts.mapMax, 65535), this.opts.mapMax);
    this.ids.seed(
      idsFromMaps(
        dumpMap(this.addon, this.map(LbMapNames.services)),
        dumpMap(this.addon, this.map(LbMapNames.backends)),
      ),
    );
    this.writer = new LbWriter(this.lbIo(), this.ids);
  }

  map(name: string): KernelMap {
    const m = this.maps.get(name);
    if (!m) throw new DatapathError(DatapathErrorCode.NotFound, `the socket-LB object has no map ${name}`);
    return m;
  }

  /**
   * Attaches connect4/sendmsg4/recvmsg4/getpeername4 at `cgroupPath` (a cgroup v2 directory; every
   * process below it is balanced). Links are pinned, so the programs stay attached when the agent
   * exits; a restarted agent swaps its new programs into the pinned links atomically.
   */
  attachCgroup(cgroupPath: string): void {
    const cg = this.call(() => this.addon.cgroupOpen(cgroupPath), `open the cgroup ${cgroupPath}`);
    try {
      for (const hook of HOOKS) {
        const prog = this.progs.get(SockLbPrograms[hook]);
        if (prog === undefined)
          throw new DatapathError(DatapathErrorCode.NotFound, `no program ${SockLbPrograms[hook]}`);
        const pin = linkPin(this.opts.pinRoot, hook);
        if (existsSync(pin)) {
          const link = this.call(() => this.addon.objGet(pin), `open the pinned link ${pin}`);
          try {
            this.call(() => this.addon.linkUpdate(link, prog), `update the ${hook} link at ${cgroupPath}`);
          } finally {
            this.addon.close(link);
          }
          continue;
        }
        const link = this.call(() => this.addon.cgroupLinkCreate(prog, cg, hook), `attach ${hook} to ${cgroupPath}`);
        try {
          this.call(() => this.addon.objPin(link, pin), `pin the ${hook} link at ${pin}`);
        } finally {
          this.addon.close(link);
        }
      }
    } finally {
      this.addon.close(cg);
    }
  }

  /** Detaches the programs (agent uninstall, tests); returns how many links were removed. */
  detachCgroup(): number {
    let n = 0;
    for (const hook of HOOKS) {
      const pin = linkPin(this.opts.pinRoot, hook);
      if (!existsSync(pin)) continue;
      const link = this.call(() => this.addon.objGet(pin), `open the pinned link ${pin}`);
      try {
        this.call(() => this.addon.linkDetach(link), `detach ${hook}`);
      } finally {
        this.addon.close(link);
      }
      unlinkSync(pin);
      n++;
    }
    return n;
  }

  syncServices(desired: readonly LbService[]): LbSyncResult {
    return this.writer.sync(desired);
  }

  updateServices(changes: ReadonlyMap<string, LbService | undefined>): LbSyncResult {
    return this.writer.update(changes);
  }

  private lbIo(): LbMapIo {
    return {
      dump: (name: LbMapName) => this.known(name),
      write: (name, entries) =>
        this.guard(name, () => {
          writeBatches(this.addon, this.map(name), entries, this.opts.sync);
          const known = this.known(name);
          for (const e of entries)
            known.set(hex(e.key), { key: new Uint8Array(e.key), value: new Uint8Array(e.value) });
        }),
      remove: (name, keys) =>
        this.guard(name, () => {
          deleteBatches(this.addon, this.map(name), keys, this.opts.sync);
          const known = this.known(name);
          for (const k of keys) known.delete(hex(k));
        }),
    };
  }

  /**
   * What a map holds, read from the kernel once and then kept by our own writes (only the agent
   * writes these maps), so a change among 10,000 Services costs its own entries, not a dump of all.
   */
  private known(name: LbMapName): Map<string, RawEntry> {
    let m = this.written.get(name);
    if (!m) {
      m = new Map(
        dumpMap(this.addon, this.map(name)).map((e) => [
          hex(e.key),
          { key: new Uint8Array(e.key), value: new Uint8Array(e.value) },
        ]),
      );
      this.written.set(name, m);
    }
    return m;
  }

  /** A failed write leaves the map partly written: forget what we knew and read it again next time. */
  private guard(name: LbMapName, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.written.delete(name);
      throw e;
    }
  }

  dump(): LbMapRow[] {
    return decodeLbMaps(
      dumpMap(this.addon, this.map(LbMapNames.services)),
      dumpMap(this.addon, this.map(LbMapNames.backends)),
    );
  }

  close(): void {
    if (this.obj) this.addon.objectClose(this.obj);
    this.obj = undefined;
  }

  private call<T>(fn: () => T, op: string): T {
    try {
      return fn();
    } catch (e) {
      throw fromAddon(e, { op });
    }
  }
}
