// This node's network plumbing in its own network namespace: the router address on a dummy
// `cilium_host` (the pods' gateway; proxy ARP on the veths answers for it), IP forwarding, and
// routes to the other nodes' pod CIDRs through their InternalIP (auto-direct-node-routes).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function ip(...args: string[]): Promise<string> {
  const { stdout } = await run('ip', args);
  return stdout;
}

export class NodeNetwork {
  /** podCIDR → next hop, as installed. */
  private readonly routes = new Map<string, string>();

  /**
   * Puts the router IP on cilium_host and enables forwarding (idempotent). cilium_host is one end
   * of a veth pair (cilium_host/cilium_net) as upstream has it; kernels without the dummy
   * driver still have veth.
   */
  async setupRouter(routerIp: string): Promise<void> {
    const links = await ip('-o', 'link', 'show');
    if (!/\d+: cilium_host[@:]/.test(links))
      await ip('link', 'add', 'cilium_host', 'type', 'veth', 'peer', 'name', 'cilium_net');
    await ip('link', 'set', 'cilium_net', 'up');
    await ip('addr', 'replace', `${routerIp}/32`, 'dev', 'cilium_host');
    await ip('link', 'set', 'cilium_host', 'up');
    // /proc/sys/net is per network namespace: this is the node's, never the host's.
    writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
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
