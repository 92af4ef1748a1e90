// The node's base programs, in the two phases of the agent's start: `load` while the informers sync
// (native routing's switch-off of an earlier tunnel mode, the device programs: they need only the
// node's address), `start` once the maps are right (tunnel routing, socket-LB, masquerading).
// `ms` keeps each part's time for the "cilium-agent ready" line.
import { MapNames } from '../../datapath/constants.js';
import { KernelLoadBalancer, type LoadBalancer } from '../../datapath/lb-kernel.js';
import { SnatTable } from '../../datapath/snat-kernel.js';
import type { Logger } from 'pino';
import { pinRoot, type AgentOptions } from './config.js';
import type { HostIpam } from './ipam.js';
import type { Masquerading } from './masquerade/masquerade.js';
import type { NodeRegistration } from './node-registration.js';
import { disableTunnel, type TunnelRouting } from './routing/tunnel-routing.js';
import { NodePortAttachment, deviceOf } from './services/nodeport.js';

export interface NodeBaseDeps {
  o: AgentOptions;
  lb: LoadBalancer;
  node: NodeRegistration;
  ipam: HostIpam;
  masquerading: Masquerading;
  tunnel: TunnelRouting | undefined;
  log: Logger;
}

export class NodeBase {
  /** The per-packet NodePort path at the node's device (kube-proxy-replacement, kernel datapath). */
  nodePort: NodePortAttachment | undefined;
  /** Each part's milliseconds (load during the cache sync, start after the maps). */
  readonly ms: Record<string, number> = {};
  private readonly o: AgentOptions;
  private readonly lb: LoadBalancer;
  private readonly node: NodeRegistration;
  private readonly ipam: HostIpam;
  private readonly masquerading: Masquerading;
  private readonly tunnel: TunnelRouting | undefined;
  private readonly log: Logger;

  constructor(d: NodeBaseDeps) {
    this.o = d.o;
    this.lb = d.lb;
    this.node = d.node;
    this.ipam = d.ipam;
    this.masquerading = d.masquerading;
    this.tunnel = d.tunnel;
    this.log = d.log;
  }

  /** Cleanup at stop: `uninstall` also detaches the device programs and masquerading. */
  async stop(uninstall: boolean): Promise<void> {
    if (uninstall) this.nodePort?.detach();
    if (uninstall) await this.masquerading.stop();
    this.nodePort?.close();
  }

  /**
   * What start() runs during the cache sync: native routing's switch-off of an earlier tunnel mode
   * and the device programs (NodePort, BPF masquerade), which read the pinned LB maps (right at a
   * restart; empty at a first start, before Ready either way).
   */
  async load(): Promise<void> {
    let t = performance.now();
    const lap = (part: string): void => {
      const now = performance.now();
      this.ms[part] = Math.round(now - t);
      t = now;
    };
    if (!this.tunnel) await this.startRouting();
    lap('routing');
    const bpfMasq = this.o.masquerade.enabled && this.o.masquerade.bpf; // the device programs masquerade
    if (this.lb instanceof KernelLoadBalancer && (this.o.kubeProxyReplacement || bpfMasq)) {
      this.nodePort = new NodePortAttachment({
        pinRoot: pinRoot(this.o),
        mapMax: this.o.lbMapMax,
        log: this.log,
      });
      await this.nodePort.attach(this.node.nodeIp);
    }
    lap('devicePrograms');
  }

  /**
   * After the maps are right: tunnel routing (its map is the other nodes' CiliumNodes), socket-LB,
   * then masquerading (the pod CIDR, and the device programs' SNAT table), once `early`
   * (load) is done.
   */
  async start(early: Promise<unknown>): Promise<void> {
    let t = performance.now();
    const lap = (part: string): void => {
      const now = performance.now();
      this.ms[part] = Math.round(now - t);
      t = now;
    };
    if (this.tunnel) await this.startRouting();
    this.attachSocketLb();
    lap('tunnelAndSocketLb');
    const failed = await early;
    if (failed) throw failed;
    lap('awaitDevicePrograms');
    const loaded = this.nodePort?.loaded();
    await this.masquerading.start({
      nodeIp: this.node.nodeIp,
      podCidr: this.ipam.cidr,
      device: this.node.nodeIp ? await deviceOf(this.node.nodeIp).catch(() => undefined) : undefined,
      snat: loaded ? new SnatTable(loaded) : undefined,
    });
    lap('masquerading');
  }

  /**
   * Tunnel mode: the device, the tunnel map and routes, synced once before Ready (restored pins
   * that are right are not rewritten). Native mode with the kernel datapath: anything an earlier
   * tunnel-mode agent left is switched off.
   */
  private async startRouting(): Promise<void> {
    const log = this.log;
    if (this.tunnel) {
      await this.tunnel.schedule();
      log.info({ device: this.tunnel.device, tunnelMap: this.tunnel.firstSync ?? null }, 'tunnel routing');
      return;
    }
    if (this.o.datapath !== 'kernel' || !this.o.manageNodeNetwork) return;
    await disableTunnel({
      pinRoot: pinRoot(this.o),
      maxEntries: { [MapNames.ct4]: this.o.ctMapSize },
      log,
    }).catch((e) => log.error({ err: (e as Error).message }, 'switching tunnel routing off failed'));
  }

  /**
   * Socket-LB at `cgroup-root`, after the maps are right (a restarted agent swaps its programs into
   * the pinned links). Without a cgroup v2 directory there the agent keeps running without it.
   */
  private attachSocketLb(): void {
    if (!(this.lb instanceof KernelLoadBalancer)) return;
    try {
      this.lb.attachCgroup(this.o.cgroupRoot);
      this.log.info({ cgroupRoot: this.o.cgroupRoot }, 'socket-LB attached');
    } catch (e) {
      this.log.error(
        { cgroupRoot: this.o.cgroupRoot, err: (e as Error).message },
        'socket-LB not attached: cgroup-root must be a cgroup v2 directory; Services are not balanced on this node',
      );
    }
  }
}
