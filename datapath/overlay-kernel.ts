// Tunnel mode's datapath: loads datapath/bpf/overlay.bpf.o with its maps pinned beside the endpoint
// maps (it shares the endpoints, ipcache, conntrack, policy, events and tunnel maps by pin name),
// attaches cil_from_overlay / cil_to_overlay at tc ingress/egress of the tunnel device, and keeps
// the tunnel map (remote pod CIDR -> node IP) and the tunnel configuration (the device the
// endpoint programs redirect to) in the kernel. Like the endpoint filters, the device's filters
// stay when the agent exits, so cross-node traffic keeps flowing while it restarts.
import { existsSync } from 'node:fs';
import { loadAddon, overlayObjectPath, type Addon, type AddonHandle } from './addon.js';
import type { SyncResult } from './datapath.js';
import { Family } from './constants.js';
import { DatapathError, DatapathErrorCode, fromAddon } from './errors.js';
import { formatIp, parseIp } from './ip.js';
import { dumpMap, syncMap, type KernelMap, type RawEntry } from './map-sync.js';
import {
  OverlayMapNames,
  OverlayPrograms,
  TunnelProtocolId,
  UnderlayPrograms,
  decodeTunnelEntry,
  tunnelConfig,
  tunnelEntry,
  tunnelKey,
  tunnelValue,
  type TunnelEndpoint,
  type TunnelProtocol,
} from './overlay-codecs.js';

/** tc filter slot on the tunnel device. */
export const OVERLAY_TC_PRIORITY = 1;
export const OVERLAY_TC_HANDLE = 0x4f56; // "OV"
/**
 * tc filter slot of the Geneve programs on the underlay device. They must run before the NodePort
 * programs there (NODEPORT_TC_PRIORITY 2): those end the filter chain with TC_ACT_OK, while these
 * hand every packet that is not theirs on with TC_ACT_UNSPEC.
 */
export const UNDERLAY_TC_PRIORITY = 1;
export const UNDERLAY_TC_HANDLE = 0x4745; // "GE"
const SLOTS = {
  tunnel: [OVERLAY_TC_PRIORITY, OVERLAY_TC_HANDLE],
  underlay: [UNDERLAY_TC_PRIORITY, UNDERLAY_TC_HANDLE],
} as const;

export interface OverlayOptions {
  /** bpffs directory of the pins (the agent's tc/globals, shared with the endpoint maps) */
  pinRoot: string;
  objectPath: string;
  /**
   * max_entries of shared maps by name, as the endpoint datapath was opened with (e.g. the
   * conntrack map sized by `bpf-ct-global-*-max`): a pinned map is reused only at its size.
   */
  maxEntries: Readonly<Record<string, number>>;
}

export const defaultOverlayOptions: Omit<OverlayOptions, 'pinRoot'> = {
  objectPath: overlayObjectPath,
  maxEntries: {},
};

/** What the endpoint programs need to encapsulate. */
export interface TunnelSettings {
  /** ifindex of the tunnel device (0: tunnel mode off, nothing is encapsulated) */
  ifindex: number;
  /** the length of every node's IPv4 pod CIDR (cluster-pool gives all nodes one size) */
  podCidrBits: number;
  protocol: TunnelProtocol;
  /** Geneve: the UDP port (tunnel-port) */
  port?: number;
  /** Geneve: this node's InternalIP, the outer source address */
  localIp?: string;
}

export class OverlayDatapath {
  readonly opts: OverlayOptions;
  private readonly addon: Addon;
  private obj: AddonHandle | undefined;
  private readonly maps = new Map<string, number>();
  private readonly progs = new Map<string, number>();

  constructor(opts: Partial<OverlayOptions> & { pinRoot: string }) {
    this.opts = { ...defaultOverlayOptions, ...opts };
    this.addon = loadAddon();
    if (!existsSync(this.opts.objectPath))
      throw new DatapathError(
        DatapathErrorCode.ObjectMissing,
        `the overlay object is not built (${this.opts.objectPath}); run \`npm run setup\` (make -C datapath)`,
      );
    const sizes = Object.entries(this.opts.maxEntries);
    this.obj = this.call(
      () => this.addon.objectOpen(this.opts.objectPath, this.opts.pinRoot, sizes.length ? sizes : null),
      `load ${this.opts.objectPath} (pins in ${this.opts.pinRoot})`,
    );
    for (const m of this.addon.objectMaps(this.obj)) this.maps.set(m.name, m.fd);
    for (const p of this.addon.objectPrograms(this.obj)) this.progs.set(p.name, p.fd);
  }

  /** A program's fd (tests run packets through it with BPF_PROG_TEST_RUN). */
  programFd(dir: keyof typeof OverlayPrograms, where: 'tunnel' | 'underlay' = 'tunnel'): number {
    const name = (where === 'tunnel' ? OverlayPrograms : UnderlayPrograms)[dir];
    const fd = this.progs.get(name);
    if (fd === undefined) throw new DatapathError(DatapathErrorCode.NotFound, `no program ${name}`);
    return fd;
  }

  /** Attaches ingress and egress at the tunnel device (in `netns`, a netns path, or here). */
  attach(device: string, netns: string | null = null): number {
    return this.attachPair(device, netns, 'tunnel');
  }

  /** Removes both filters from `device`; true if one was there. A missing device is not an error. */
  detach(device: string, netns: string | null = null): boolean {
    return this.detachPair(device, netns, 'tunnel');
  }

  /**
   * Geneve mode: attaches the framing programs at tc ingress and egress of the underlay device
   * (the node's device holding its InternalIP), in front of whatever else is attached there.
   */
  attachUnderlay(device: string, netns: string | null = null): number {
    return this.attachPair(device, netns, 'underlay');
  }

  /** Removes the Geneve programs from `device`; true if one was there. A missing device is not an error. */
  detachUnderlay(device: string, netns: string | null = null): boolean {
    return this.detachPair(device, netns, 'underlay');
  }

  private attachPair(device: string, netns: string | null, where: 'tunnel' | 'underlay'): number {
    const [prio, handle] = SLOTS[where];
    const ifindex = this.call(() => this.addon.ifIndex(device, netns), `find the device ${device}`);
    this.call(() => {
      for (const dir of ['ingress', 'egress'] as const)
        this.addon.tcAttach(ifindex, netns, dir, this.programFd(dir, where), prio, handle);
    }, `attach the ${where} programs to ${device}`);
    return ifindex;
  }

  private detachPair(device: string, netns: string | null, where: 'tunnel' | 'underlay'): boolean {
    const [prio, handle] = SLOTS[where];
    let ifindex: number;
    try {
      ifindex = this.addon.ifIndex(device, netns);
    } catch {
      return false;
    }
    return this.call(() => {
      const a = this.addon.tcDetach(ifindex, netns, 'ingress', prio, handle);
      const b = this.addon.tcDetach(ifindex, netns, 'egress', prio, handle);
      return a || b;
    }, `detach the ${where} programs from ${device}`);
  }

  /**
   * Turns encapsulation on (a device's ifindex) or off (0) for every endpoint program. Written
   * only when it differs, so a restart with the same device rewrites nothing.
   */
  configure(s: TunnelSettings): boolean {
    const fd = this.mapFd(OverlayMapNames.config);
    const geneve = s.ifindex !== 0 && s.protocol === 'geneve';
    if (geneve && (!s.port || !s.localIp || parseIp(s.localIp).family !== Family.ipv4))
      throw new DatapathError(
        DatapathErrorCode.Invalid,
        `Geneve framing needs the tunnel port and this node's IPv4 address (port ${s.port}, address ${s.localIp})`,
      );
    const value = tunnelConfig.encode({
      ifindex: s.ifindex,
      prefixlen4: s.podCidrBits,
      protocol: s.ifindex ? TunnelProtocolId[s.protocol] : 0,
      port: geneve ? s.port! : 0,
      localIp4: geneve ? parseIp(s.localIp!).bytes.subarray(0, 4) : new Uint8Array(4),
    });
    const key = new Uint8Array(4);
    const cur = new Uint8Array(tunnelConfig.size);
    this.call(() => this.addon.mapLookup(fd, key, cur), `read ${OverlayMapNames.config}`);
    if (Buffer.from(cur).equals(Buffer.from(value))) return false;
    this.call(() => this.addon.mapUpdate(fd, key, value, 0), `write ${OverlayMapNames.config}`);
    return true;
  }

  /** The tunnel configuration as the kernel holds it. */
  settings(): { ifindex: number; podCidrBits: number; protocol: number; port: number; localIp: string } {
    const cur = new Uint8Array(tunnelConfig.size);
    this.call(
      () => this.addon.mapLookup(this.mapFd(OverlayMapNames.config), new Uint8Array(4), cur),
      `read ${OverlayMapNames.config}`,
    );
    const c = tunnelConfig.decode(cur);
    return {
      ifindex: c.ifindex,
      podCidrBits: c.prefixlen4,
      protocol: c.protocol,
      port: c.port,
      localIp: formatIp(Family.ipv4, c.localIp4),
    };
  }

  /**
   * Makes the tunnel map exactly `desired` (one entry per remote node's pod CIDR): writes only the
   * difference, so entries restored from the pins that are still right are not touched.
   */
  syncTunnels(desired: readonly TunnelEndpoint[]): SyncResult {
    const entries: RawEntry[] = desired.map(tunnelEntry);
    return this.call(() => syncMap(this.addon, this.tunnelMap(), entries), `sync ${OverlayMapNames.tunnel}`);
  }

  /** `cilium-dbg bpf tunnel list`: pod CIDR prefix address -> node IP. */
  dumpTunnels(): { prefix: string; nodeIp: string }[] {
    return dumpMap(this.addon, this.tunnelMap()).map((e) => decodeTunnelEntry(e.key, e.value));
  }

  close(): void {
    if (this.obj) this.addon.objectClose(this.obj);
    this.obj = undefined;
  }

  private tunnelMap(): KernelMap {
    return {
      fd: this.mapFd(OverlayMapNames.tunnel),
      name: OverlayMapNames.tunnel,
      keySize: tunnelKey.size,
      valueSize: tunnelValue.size,
      maxEntries: 0,
    };
  }

  private mapFd(name: string): number {
    const fd = this.maps.get(name);
    if (fd === undefined) throw new DatapathError(DatapathErrorCode.NotFound, `the overlay object has no map ${name}`);
    return fd;
  }

  private call<T>(fn: () => T, op: string): T {
    try {
      return fn();
    } catch (e) {
      throw fromAddon(e, { op });
    }
  }
}
