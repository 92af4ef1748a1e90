// The per-packet NodePort path on this node (datapath/bpf/nodeport.bpf.c): loaded beside the
// socket-LB maps it reads and attached at tc ingress/egress of the node's external device, the one
// holding the node's InternalIP (upstream's default device selection; it has a `devices` key to
// override it, which cilium-ts does not have yet). Only with `kube-proxy-replacement`: without it
// the translator writes no NodePort frontend and nothing here is loaded.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { NodePortDatapath } from '../../../datapath/nodeport-kernel.js';

const run = promisify(execFile);

export interface NodePortAttachOptions {
  /** bpffs directory of the agent's pins (shared with the socket-LB and endpoint maps) */
  pinRoot: string;
  /** `bpf-lb-map-max`, the size the LB maps were created with */
  mapMax: number;
  log: Logger;
}

/** The name of the device that holds `address` here (`ip -j addr show`), or undefined. */
export async function deviceOf(address: string): Promise<string | undefined> {
  const { stdout } = await run('ip', ['-j', 'addr', 'show']);
  const links = JSON.parse(stdout) as { ifname?: string; addr_info?: { local?: string }[] }[];
  return links.find((l) => l.addr_info?.some((a) => a.local === address))?.ifname;
}

export class NodePortAttachment {
  private dp: NodePortDatapath | undefined;
  private device: string | undefined;

  constructor(private readonly o: NodePortAttachOptions) {}

  /**
   * Loads the programs and attaches them at the device holding `nodeIp`. Failures are logged, not
   * thrown: the agent keeps serving everything else, and NodePorts keep answering on this node's
   * own sockets through socket-LB. A restarted agent replaces its filters in place.
   */
  async attach(nodeIp: string | undefined): Promise<string | undefined> {
    const log = this.o.log;
    try {
      const device = nodeIp ? await deviceOf(nodeIp) : undefined;
      if (!device) {
        log.error({ nodeIp }, 'NodePort not attached: no device holds the node address');
        return undefined;
      }
      this.dp ??= new NodePortDatapath({ pinRoot: this.o.pinRoot, mapMax: this.o.mapMax });
      this.dp.attach(device);
      this.device = device;
      log.info({ device }, 'per-packet NodePort attached');
      return device;
    } catch (e) {
      log.error({ err: (e as Error).message }, 'NodePort not attached: NodePorts answer only from this node');
      return undefined;
    }
  }

  /** The loaded object (masquerading shares its maps), once attach() succeeded. */
  loaded(): NodePortDatapath | undefined {
    return this.device ? this.dp : undefined;
  }

  /** Removes the filters from the device (uninstall); true if they were there. */
  detach(): boolean {
    if (!this.dp || !this.device) return false;
    const removed = this.dp.detach(this.device);
    this.device = undefined;
    return removed;
  }

  /** Closes the object; the filters stay attached (flows keep working across a restart). */
  close(): void {
    this.dp?.close();
    this.dp = undefined;
  }
}
