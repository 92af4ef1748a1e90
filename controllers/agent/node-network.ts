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

/** One failed route: what it asked for, why it failed, and when it may be tried again. */
interface RouteFailure {
  via: string;
  error: string;
  retryAt: number;
}

export interface NodeNetworkOptions {
  /** Run every `ip` command in this named network namespace (`ip -n`; tests) instead of our own. */
  netns?: string;
  /**
   * How long a route the kernel refused (say, a next hop that is not on-link) waits before it is
   * asked for again, unless its next hop changes. Without it every CiliumNode event re-spawns the
   * same failing command: at 100 nodes that is the agent's hottest path. Default 60 s.
   */
  failedRouteRetryMs?: number;
  now?: () => number;
}

/** What one route sync did: routes written or deleted, and the ones the kernel refused now. */
export interface RouteSyncResult {
  written: number;
  deleted: number;
  failed: { cidr: string; via: string; error: string }[];
}

export class NodeNetwork {
  /** podCIDR → next hop, as installed. */
  private readonly routes = new Map<string, string>();
  /** podCIDR → the route that failed, not retried before its time (see failedRouteRetryMs). */
  private readonly failures = new Map<string, RouteFailure>();
  /** `ip` processes started (a route sync is one, whatever its size). */
  ipRuns = 0;

  constructor(private readonly o: NodeNetworkOptions = {}) {}

  private ip(...args: string[]): Promise<string> {
    this.ipRuns++;
    return ip(...(this.o.netns ? ['-n', this.o.netns] : []), ...args);
  }

  /**
   * Puts the router IP on cilium_host and enables forwarding (idempotent). cilium_host is one end
   * of a veth pair (cilium_host/cilium_net) as upstream has it; kernels without the dummy
   * driver still have veth.
   */
  async setupRouter(routerIp: string, procfs = '/proc'): Promise<void> {
    const links = await this.ip('-o', 'link', 'show');
    if (!/\d+: cilium_host[@:]/.test(links))
      await this.ip('link', 'add', 'cilium_host', 'type', 'veth', 'peer', 'name', 'cilium_net');
    await this.ip('link', 'set', 'cilium_net', 'up');
    await this.ip('addr', 'replace', `${routerIp}/32`, 'dev', 'cilium_host');
    await this.ip('link', 'set', 'cilium_host', 'up');
    setSysctl(procfs, 'net.ipv4.ip_forward', '1');
  }

  /**
   * The MTU of the device that holds `address` (the node's InternalIP), which pods' veths get;
   * undefined when no device holds it (the caller falls back and says so).
   */
  async deviceMtu(address: string): Promise<number | undefined> {
    const links = JSON.parse(await this.ip('-j', 'addr', 'show')) as {
      mtu?: number;
      addr_info?: { local?: string }[];
    }[];
    return links.find((l) => l.addr_info?.some((a) => a.local === address))?.mtu;
  }

  /**
   * Makes the routes to other nodes' pod CIDRs `desired` (podCIDR → next-hop IP): every change in
   * one `ip -batch` (one process per sync, not per route; `-force` goes on past a refused line).
   * A refused route is reported and left alone until `failedRouteRetryMs` passed or its next hop
   * changed.
   */
  async syncRoutes(desired: ReadonlyMap<string, string>): Promise<RouteSyncResult> {
    const now = (this.o.now ?? Date.now)();
    const retryMs = this.o.failedRouteRetryMs ?? 60_000;
    const lines: { cidr: string; via?: string; cmd: string }[] = [];
    for (const [cidr, via] of desired) {
      if (this.routes.get(cidr) === via) continue;
      const failed = this.failures.get(cidr);
      if (failed && failed.via === via && failed.retryAt > now) continue;
      lines.push({ cidr, via, cmd: `route replace ${cidr} via ${via}` });
    }
    for (const cidr of this.routes.keys()) if (!desired.has(cidr)) lines.push({ cidr, cmd: `route del ${cidr}` });
    for (const cidr of [...this.failures.keys()]) if (!desired.has(cidr)) this.failures.delete(cidr);
    const result: RouteSyncResult = { written: 0, deleted: 0, failed: [] };
    if (!lines.length) return result;
    const refused = await this.batch(lines.map((l) => l.cmd));
    lines.forEach((l, i) => {
      const error = refused.get(i + 1);
      if (l.via === undefined) {
        // A route already gone is as good as deleted.
        this.routes.delete(l.cidr);
        result.deleted++;
      } else if (error === undefined) {
        this.routes.set(l.cidr, l.via);
        this.failures.delete(l.cidr);
        result.written++;
      } else {
        this.routes.delete(l.cidr);
        this.failures.set(l.cidr, { via: l.via, error, retryAt: now + retryMs });
        result.failed.push({ cidr: l.cidr, via: l.via, error });
      }
    });
    return result;
  }

  /**
   * Runs `commands` through one `ip -force -batch -`; the refused ones by line number (1-based)
   * with the kernel's message. iproute2 prints the message, then `Command failed -:LINE`.
   */
  private batch(commands: string[]): Promise<Map<number, string>> {
    this.ipRuns++;
    const args = [...(this.o.netns ? ['-n', this.o.netns] : []), '-force', '-batch', '-'];
    return new Promise((resolve, reject) => {
      const child = execFile('ip', args, (err, _stdout, stderr) => {
        const refused = new Map<number, string>();
        let message: string[] = [];
        for (const line of stderr.split('\n')) {
          const m = /^Command failed -:(\d+)$/.exec(line.trim());
          if (m) {
            refused.set(Number(m[1]), message.join('; ') || 'refused');
            message = [];
          } else if (line.trim()) message.push(line.trim());
        }
        if (err && !refused.size)
          reject(new AgentError(AgentErrorCode.Routes, `ip -batch failed: ${stderr.trim() || err.message}`));
        else resolve(refused);
      });
      // ip may exit before reading (a namespace it cannot open): EPIPE here, the exit callback reports it.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(commands.join('\n') + '\n');
    });
  }
}
