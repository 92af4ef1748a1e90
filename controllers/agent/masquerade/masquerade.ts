// Masquerading on this node (upstream: pkg/datapath's masquerade wiring; docs.cilium.io
// network/concepts/masquerading): pods' IPv4 traffic to destinations outside the native-routing
// CIDR that are not nodes leaves with the node's address, replies come back to the pod.
//   BPF       the node device's programs (datapath/bpf/snat.h inside nodeport.bpf.c) read their
//             settings from a pinned map this writes; the NAT table is pinned too, so flows
//             survive an agent restart.
//   iptables  `enable-bpf-masquerade: false`: a MASQUERADE rule in a chain of ours (iptables.ts).
// Exactly one of them is in place; the other is switched off, so changing the key and restarting
// the agent leaves nothing of the old mode behind.
import type { Logger } from 'pino';
import type { NatListEntry, SnatTable } from '../../../datapath/snat-kernel.js';
import type { MasqueradeOptions } from './options.js';
import { installIptablesMasquerade, removeIptablesMasquerade } from './iptables.js';

export interface MasqueradeNode {
  /** The node's address on its device (InternalIP): the masquerading source. */
  nodeIp: string | undefined;
  /** This node's pod CIDR. */
  podCidr: string;
  /** The device that holds nodeIp (where the BPF programs are attached), if found. */
  device: string | undefined;
  /** The BPF NAT settings and table, when the device programs are loaded. */
  snat: SnatTable | undefined;
}

export type MasqueradeMode = 'BPF' | 'IPTables' | 'Disabled';

export class Masquerading {
  private mode: MasqueradeMode = 'Disabled';
  private device: string | undefined;
  private exclude = '';
  private snat: SnatTable | undefined;

  constructor(
    private readonly o: MasqueradeOptions,
    private readonly log: Logger,
  ) {}

  /** Puts the configured mode in place and the other one out; failures are logged, not thrown. */
  async start(n: MasqueradeNode): Promise<MasqueradeMode> {
    const exclude = this.o.nativeRoutingCidr ?? n.podCidr;
    const bpf = this.o.enabled && this.o.bpf;
    try {
      if (n.snat && n.nodeIp)
        n.snat.configure({ enabled: bpf, nodeAddress: n.nodeIp, ...(exclude ? { excludeCidr: exclude } : {}) });
      if (bpf && !n.snat) throw new Error('the node device programs are not loaded (no device holds the node address)');
      if (this.o.enabled && !this.o.bpf) {
        if (!n.device || !n.podCidr) throw new Error('no node device or pod CIDR for the iptables rule');
        await installIptablesMasquerade({ podCidr: n.podCidr, excludeCidr: exclude || n.podCidr, device: n.device });
      } else if (await removeIptablesMasquerade()) this.log.info('iptables masquerading removed');
      this.mode = !this.o.enabled ? 'Disabled' : bpf ? 'BPF' : 'IPTables';
      this.device = n.device;
      this.snat = n.snat;
      this.exclude = exclude;
      this.log.info({ mode: this.mode, device: n.device, exclude }, 'masquerading');
    } catch (e) {
      this.mode = 'Disabled';
      this.log.error({ err: (e as Error).message }, 'masquerading not in place: pods reach only routed destinations');
    }
    return this.mode;
  }

  /** `cilium-dbg status`'s Masquerading line, as upstream prints it (`BPF [eth0] 10.0.0.0/16 [IPv4: Enabled, IPv6: Disabled]`). */
  status(): string {
    if (this.mode === 'Disabled') return 'Disabled';
    return `${this.mode} [${this.device ?? ''}] ${this.exclude} [IPv4: Enabled, IPv6: Disabled]`;
  }

  /** The BPF NAT table (`cilium-dbg bpf nat list`); empty without the device programs. */
  natEntries(): NatListEntry[] {
    return this.snat?.entries() ?? [];
  }

  /** Uninstall: the iptables rules go (the BPF settings go with the device programs). */
  async stop(): Promise<void> {
    if (this.mode === 'IPTables') await removeIptablesMasquerade();
  }
}
