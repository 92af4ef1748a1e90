// Tunnel routing mode on this node: the tunnel device (VXLAN) or the underlay device (Geneve, framed
// by the datapath, no kernel device), the overlay programs on it, the tunnel map (each other node's
// pod CIDR -> its InternalIP, from the CiliumNodes) and routes that send the node's own traffic for
// remote pods into the device (VXLAN) or out of the underlay towards the node (Geneve). Every change of a CiliumNode schedules one
// sync; syncs never overlap, and each writes only the difference (a restarted agent finds its
// pinned tunnel map right and rewrites nothing). Native mode turns all of it off (disableTunnel).
import type { Logger } from 'pino';
import type { SyncResult } from '../../../datapath/datapath.js';
import { OverlayDatapath } from '../../../datapath/overlay-kernel.js';
import type { TunnelEndpoint } from '../../../datapath/overlay-codecs.js';
import type { Store } from '../../framework/index.js';
import type { TunnelProtocol } from '../config.js';
import type { HostIpam } from '../ipam.js';
import type { CiliumNodeObject } from '../resources.js';
import {
  TUNNEL_DEVICES,
  TUNNEL_OVERHEAD,
  TunnelRoutes,
  deviceHolding,
  ensureTunnelDevice,
  nextHop,
  removeTunnelDevices,
} from './tunnel-device.js';

/** How soon a failed sync is tried again when no CiliumNode change comes first. */
const RETRY_MS = 2000;

export interface TunnelRoutingOptions {
  nodeName: string;
  protocol: TunnelProtocol;
  port: number;
  /** bpffs directory of the agent's pins */
  pinRoot: string;
  /** sizes the endpoint datapath opened the shared maps with (a pinned map is reused only at its size) */
  maxEntries: Readonly<Record<string, number>>;
  nodes: Store<CiliumNodeObject>;
  ipam: HostIpam;
  /** the MTU of the node's device (the underlay); the tunnel device gets it minus the overhead */
  underlayMtu: () => Promise<number | undefined>;
  /** this node's InternalIP (Geneve: the outer source, and how the underlay device is found) */
  nodeIp: () => string | undefined;
  log: Logger;
}

/** The other nodes' tunnel endpoints, and the CIDRs left out because their length differs from ours. */
export function tunnelEndpoints(
  nodes: readonly CiliumNodeObject[],
  self: string,
  bits: number,
): { endpoints: TunnelEndpoint[]; skipped: string[] } {
  const endpoints: TunnelEndpoint[] = [];
  const skipped: string[] = [];
  for (const n of nodes) {
    if (n.metadata?.name === self) continue;
    const nodeIp = n.spec?.addresses?.find((a) => a.type === 'InternalIP')?.ip;
    if (!nodeIp || nodeIp.includes(':')) continue;
    for (const podCidr of n.spec?.ipam?.podCIDRs ?? []) {
      if (podCidr.includes(':')) continue;
      if (Number(podCidr.split('/')[1]) !== bits) skipped.push(podCidr);
      else endpoints.push({ podCidr, nodeIp });
    }
  }
  return { endpoints, skipped };
}

export class TunnelRouting {
  private overlay: OverlayDatapath | undefined;
  private ifindex = 0;
  /** Geneve: the underlay device the programs are attached to */
  private underlay: { name: string; mtu: number } | undefined;
  private readonly routes = new TunnelRoutes();
  private lastProblem: string | undefined = 'tunnel device not set up yet';
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  /** the writes of the first sync (a restart with unchanged nodes: all unchanged) */
  firstSync: SyncResult | undefined;

  constructor(private readonly o: TunnelRoutingOptions) {}

  /** Where tunnel traffic leaves: cilium_vxlan, or the underlay device (Geneve). */
  get device(): string {
    return this.o.protocol === 'geneve' ? (this.underlay?.name ?? '(underlay)') : TUNNEL_DEVICES.vxlan;
  }

  /** `cilium-dbg status`'s Routing line, as upstream's `Network: Tunnel [vxlan]`. */
  status(): string {
    const how =
      this.o.protocol === 'geneve'
        ? `framed by BPF on ${this.device}, no kernel device`
        : `kernel device ${TUNNEL_DEVICES.vxlan}`;
    return `Network: Tunnel [${this.o.protocol}] (UDP ${this.o.port}, ${how})`;
  }

  /** Why tunnel mode is not working yet (the agent is not Ready meanwhile), or undefined. */
  problem(): string | undefined {
    return this.lastProblem;
  }

  /** Runs a sync now, or once more after the one in flight. Resolves when the state is synced. */
  schedule(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.sync();
      } while (this.again && !this.stopped);
      this.running = undefined;
    })();
    return this.running;
  }

  private async sync(): Promise<void> {
    const { o } = this;
    if (!o.ipam.ready) {
      this.lastProblem = 'tunnel: no pod CIDR from the operator yet';
      return;
    }
    try {
      if (!this.ifindex) await this.setUp();
      const bits = Number(o.ipam.cidr.split('/')[1]);
      const geneve = o.protocol === 'geneve';
      this.overlay!.configure({
        ifindex: this.ifindex,
        podCidrBits: bits,
        protocol: o.protocol,
        ...(geneve ? { port: o.port, localIp: o.nodeIp() } : {}),
      });
      const { endpoints, skipped } = tunnelEndpoints(o.nodes.list(), o.nodeName, bits);
      if (skipped.length)
        o.log.error(
          { skipped, podCidrBits: bits },
          'pod CIDRs of another length than this node’s are not reachable through the tunnel (cluster-pool gives every node one length)',
        );
      const writes = this.overlay!.syncTunnels(endpoints);
      this.firstSync ??= writes;
      if (writes.added || writes.updated || writes.removed) o.log.info({ ...writes }, 'tunnel map synced');
      await this.routes.sync(await this.routeSpecs(endpoints));
      this.lastProblem = undefined;
    } catch (e) {
      // retried soon, and on the next CiliumNode change; the device is made again if it was the failure
      this.ifindex = 0;
      if (!this.stopped && !this.retry)
        this.retry = setTimeout(() => {
          this.retry = undefined;
          void this.schedule();
        }, RETRY_MS).unref();
      this.lastProblem = `tunnel: ${(e as Error).message}`;
      o.log.error({ err: (e as Error).message }, 'setting up tunnel routing failed');
    }
  }

  /** The device and its programs; their ifindex is what the endpoint programs send tunnel traffic to. */
  private async setUp(): Promise<void> {
    const { o } = this;
    this.overlay ??= new OverlayDatapath({ pinRoot: o.pinRoot, maxEntries: o.maxEntries });
    if (o.protocol === 'vxlan') {
      const mtu = ((await o.underlayMtu()) ?? 1500) - TUNNEL_OVERHEAD;
      this.ifindex = await ensureTunnelDevice(o.protocol, o.port, mtu);
      this.overlay.attach(this.device);
      o.log.info({ device: this.device, port: o.port, mtu }, 'tunnel device set up');
      return;
    }
    const nodeIp = o.nodeIp();
    if (!nodeIp) throw new Error('Geneve: this node has no InternalIP yet (the outer source address)');
    const underlay = await deviceHolding(nodeIp);
    if (!underlay) throw new Error(`Geneve: no device holds this node's InternalIP ${nodeIp}`);
    const removed = await removeTunnelDevices();
    this.ifindex = this.overlay.attachUnderlay(underlay.name);
    this.underlay = underlay;
    o.log.info(
      { device: underlay.name, port: o.port, removed },
      'Geneve framed by the datapath on the underlay device',
    );
  }

  /**
   * The routes of the node's own traffic to remote pods. VXLAN: into the tunnel device. Geneve:
   * out of the underlay to the next hop towards the remote node (the stack addresses the frame,
   * cil_to_underlay frames it), with room for the 50 bytes of headers.
   */
  private async routeSpecs(endpoints: readonly TunnelEndpoint[]): Promise<Map<string, string[]>> {
    const src = this.o.ipam.ready ? ['src', this.o.ipam.router] : [];
    const specs = new Map<string, string[]>();
    for (const e of endpoints) {
      if (this.o.protocol === 'vxlan') {
        specs.set(e.podCidr, ['dev', TUNNEL_DEVICES.vxlan, ...src]);
        continue;
      }
      const dev = this.underlay!.name;
      const via = await nextHop(e.nodeIp, dev);
      specs.set(e.podCidr, ['via', via, 'dev', dev, ...src, 'mtu', String(this.underlay!.mtu - TUNNEL_OVERHEAD)]);
    }
    return specs;
  }

  /** `cilium-dbg bpf tunnel list`. */
  dump(): { prefix: string; nodeIp: string }[] {
    return this.overlay?.dumpTunnels() ?? [];
  }

  /** Closes the object; the device, its filters and the maps stay (traffic flows while the agent restarts). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.running;
    this.overlay?.close();
    this.overlay = undefined;
  }
}

/**
 * Native routing mode: whatever an earlier tunnel-mode agent left must not keep encapsulating —
 * the pinned configuration is switched off, the tunnel map emptied and the devices removed.
 */
export async function disableTunnel(o: Pick<TunnelRoutingOptions, 'pinRoot' | 'maxEntries' | 'log'>): Promise<void> {
  const overlay = new OverlayDatapath({ pinRoot: o.pinRoot, maxEntries: o.maxEntries });
  try {
    const was = overlay.settings();
    if (was.ifindex) {
      overlay.configure({ ifindex: 0, podCidrBits: 0, protocol: 'vxlan' });
      overlay.syncTunnels([]);
    }
  } finally {
    overlay.close();
  }
  const removed = await removeTunnelDevices();
  if (removed.length) o.log.info({ removed }, 'native routing: tunnel devices removed');
}
