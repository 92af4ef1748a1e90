// This node's network plumbing in its own network namespace: the router address on a dummy
// `cilium_host` (the pods' gateway; proxy ARP on the veths answers for it), IP forwarding, and
// routes to the other nodes' pod CIDRs through their InternalIP (auto-direct-node-routes).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AgentError, AgentErrorCode } from './errors.js';

const run = promisify(execFile);

async function ip(...args: string[]): Promise<string> {
  const { stdout } = await run('ip', args);
  return stdout;
}

/**
 * Writes one sysctl through `procfs` (the host's /proc/sys/net is mounted at <procfs>/sys/net in
 * the agent's pod: the container's own /proc/sys is read-only). /proc/sys/net answers for the
 * writer's network namespace: the node's. A failure throws with the key and the cause.
 */
export function setSysctl(procfs: string, key: string, value: string): void {
  const path = join(procfs, 'sys', ...key.split('.'));
  try {
    writeFileSync(path, value);
  } catch (e) {
    throw new AgentError(
      AgentErrorCode.Sysctl,
      `sysctl ${key}=${value} failed at ${path}: ${(e as Error).message} (is the host's /proc/sys/net mounted at ${procfs}/sys/net?)`,
    );
  }
}

export class NodeNetwork {
  /** podCIDR → next hop, as installed. */
  private readonly routes = new Map<string, string>();

  /**
   * Puts the router IP on cilium_host and enables forwarding (idempotent). cilium_host is one end
   * of a veth pair (cilium_host/cilium_net) as upstream has it; kernels without the dummy
   * driver still have veth.
   */
  async setupRouter(routerIp: string, procfs = '/proc'): Promise<void> {
    const links = await ip('-o', 'link', 'show');
    if (!/\d+: cilium_host[@:]/.test(links))
      await ip('link', 'add', 'cilium_host', 'type', 'veth', 'peer', 'name', 'cilium_net');
    await ip('link', 'set', 'cilium_net', 'up');
    await ip('addr', 'replace', `${routerIp}/32`, 'dev', 'cilium_host');
    await ip('link', 'set', 'cilium_host', 'up');
    setSysctl(procfs, 'net.ipv4.ip_forward', '1');
  }

  /**
   * The MTU of the device that holds `address` (the node's InternalIP), which pods' veths get;
   * undefined when no device holds it (the caller falls back and says so).
   */
  async deviceMtu(address: string): Promise<number | undefined> {
    const links = JSON.parse(await ip('-j', 'addr', 'show')) as {
      mtu?: number;
      addr_info?: { local?: string }[];
    }[];
    return links.find((l) => l.addr_info?.some((a) => a.local === address))?.mtu;
  }

  /** Makes the routes to other nodes' pod CIDRs exactly `desired` (podCIDR → next-hop IP). */
  async syncRoutes(desired: Map<string, string>): Promise<void> {
    for (const [cidr, via] of desired) {
      if (this.routes.get(cidr) === via) continue;
      await ip('route', 'replace', cidr, 'via', via);
      this.routes.set(cidr, via);
    }
    for (const cidr of [...this.routes.keys()]) {
      if (desired.has(cidr)) continue;
      await ip('route', 'del', cidr).catch(() => undefined);
      this.routes.delete(cidr);
    }
  }
}
