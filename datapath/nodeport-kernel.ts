// The per-packet NodePort path: loads datapath/bpf/nodeport.bpf.o with its maps pinned beside the
// socket-LB and endpoint maps (it reads the Service maps the LbWriter writes and the endpoints map,
// by pin name), and attaches its two programs at tc ingress/egress of the node's external device.
// The tc filters stay when the agent exits, so NodePort flows keep working while it restarts; a
// restarted agent replaces them in place.
import { loadAddon, nodePortObjectPath, type Addon, type AddonHandle } from './addon.js';
import { DatapathError, DatapathErrorCode, fromAddon } from './errors.js';
import { LbMapNames, LbSizes } from './lb-constants.js';
import { dumpMap } from './map-sync.js';
import { existsSync } from 'node:fs';
import {
  NodePortMapNames,
  NodePortPrograms,
  nodePortCtEntry,
  nodePortRevEntry,
  nodePortTuple,
  type NodePortCtEntry,
  type NodePortRevEntry,
  type NodePortTuple,
} from './nodeport-codecs.js';

/** tc filter slot on the device; distinct from the endpoint programs' (kernel.ts) for clarity. */
/* 2: Geneve mode's programs (overlay-kernel.ts UNDERLAY_TC_PRIORITY 1) go first on the same device */
export const NODEPORT_TC_PRIORITY = 2;
export const NODEPORT_TC_HANDLE = 0x4e50; // "NP"

export interface NodePortOptions {
  /** bpffs directory for the pins (the agent's tc/globals, shared with the LB and endpoint maps) */
  pinRoot: string;
  objectPath: string;
  /**
   * `bpf-lb-map-max`: the size the Service maps were created with (lb-kernel.ts). Open the
   * KernelLoadBalancer first: it recreates a map pinned with another size, this object reuses it.
   */
  mapMax: number;
}

export const defaultNodePortOptions: Omit<NodePortOptions, 'pinRoot'> = {
  objectPath: nodePortObjectPath,
  mapMax: LbSizes.services,
};

export interface NodePortFlow {
  tuple: NodePortTuple;
  entry: NodePortCtEntry;
}

export interface NodePortReply {
  tuple: NodePortTuple;
  entry: NodePortRevEntry;
}

export class NodePortDatapath {
  readonly opts: NodePortOptions;
  private readonly addon: Addon;
  private obj: AddonHandle | undefined;
  private readonly maps = new Map<string, number>();
  private readonly progs = new Map<string, number>();

  constructor(opts: Partial<NodePortOptions> & { pinRoot: string }) {
    this.opts = { ...defaultNodePortOptions, ...opts };
    this.addon = loadAddon();
    if (!existsSync(this.opts.objectPath))
      throw new DatapathError(
        DatapathErrorCode.ObjectMissing,
        `the NodePort object is not built (${this.opts.objectPath}); run \`npm run setup\` (make -C datapath)`,
      );
    const sizes: [string, number][] = [
      LbMapNames.services,
      LbMapNames.backends,
      LbMapNames.revNat,
      LbMapNames.affinity,
      LbMapNames.affinityMatch,
    ].map((n) => [n, this.opts.mapMax]);
    this.obj = this.call(
      () => this.addon.objectOpen(this.opts.objectPath, this.opts.pinRoot, sizes),
      `load ${this.opts.objectPath} (pins in ${this.opts.pinRoot})`,
    );
    for (const m of this.addon.objectMaps(this.obj)) this.maps.set(m.name, m.fd);
    for (const p of this.addon.objectPrograms(this.obj)) this.progs.set(p.name, p.fd);
  }

  /** A program's fd (tests run packets through it with BPF_PROG_TEST_RUN). */
  programFd(dir: keyof typeof NodePortPrograms): number {
    const fd = this.progs.get(NodePortPrograms[dir]);
    if (fd === undefined) throw new DatapathError(DatapathErrorCode.NotFound, `no program ${NodePortPrograms[dir]}`);
    return fd;
  }

  mapFd(name: string): number {
    const fd = this.maps.get(name);
    if (fd === undefined) throw new DatapathError(DatapathErrorCode.NotFound, `the NodePort object has no map ${name}`);
    return fd;
  }

  /** Attaches ingress and egress at `device` (in `netns`, a /var/run/netns name, or here). */
  attach(device: string, netns: string | null = null): void {
    const ifindex = this.call(() => this.addon.ifIndex(device, netns), `find the device ${device}`);
    this.call(() => {
      this.addon.tcAttach(
        ifindex,
        netns,
        'ingress',
        this.programFd('ingress'),
        NODEPORT_TC_PRIORITY,
        NODEPORT_TC_HANDLE,
      );
      this.addon.tcAttach(ifindex, netns, 'egress', this.programFd('egress'), NODEPORT_TC_PRIORITY, NODEPORT_TC_HANDLE);
    }, `attach the NodePort programs to ${device}`);
  }

  /** Removes both filters from `device`; true if one was there. A missing device is not an error. */
  detach(device: string, netns: string | null = null): boolean {
    let ifindex: number;
    try {
      ifindex = this.addon.ifIndex(device, netns);
    } catch {
      return false;
    }
    return this.call(() => {
      const a = this.addon.tcDetach(ifindex, netns, 'ingress', NODEPORT_TC_PRIORITY, NODEPORT_TC_HANDLE);
      const b = this.addon.tcDetach(ifindex, netns, 'egress', NODEPORT_TC_PRIORITY, NODEPORT_TC_HANDLE);
      return a || b;
    }, `detach the NodePort programs from ${device}`);
  }

  /** The translated flows (client tuple -> backend), for tests and `cilium-dbg`. */
  flows(): NodePortFlow[] {
    return this.dump(NodePortMapNames.ct, nodePortCtEntry).map(([tuple, entry]) => ({ tuple, entry }));
  }

  /** The reply translations (reply tuple -> client, frontend). */
  replies(): NodePortReply[] {
    return this.dump(NodePortMapNames.rev, nodePortRevEntry).map(([tuple, entry]) => ({ tuple, entry }));
  }

  private dump<V>(name: string, value: { size: number; decode(b: Uint8Array): V }): [NodePortTuple, V][] {
    const fd = this.mapFd(name);
    const m = { fd, name, keySize: nodePortTuple.size, valueSize: value.size, maxEntries: 0 };
    return dumpMap(this.addon, m).map((e) => [nodePortTuple.decode(e.key), value.decode(e.value)]);
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
