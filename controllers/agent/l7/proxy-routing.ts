// The node routing the L7 redirect needs, in the namespace where the agent's datapath lives (the
// node's: the agent runs with hostNetwork). The datapath's to_proxy (datapath/bpf/endpoint.h)
// assigns the proxy's socket with bpf_sk_assign and marks the packet 0x200 (MARK_MAGIC_TO_PROXY),
// but the packet is still addressed to its original destination: the stack must deliver it
// locally, or it is forwarded past the socket. Upstream's rule and table do that:
//   ip rule add fwmark 0x200/0xf00 pref 9 lookup 2004
//   ip route replace local 0.0.0.0/0 dev lo table 2004
// plus two sysctls (see SYSCTLS). Idempotent: what is already right is left alone, so an agent
// restart rewrites nothing; the HTTP and the DNS proxy share it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AgentError, AgentErrorCode } from '../errors.js';
import { setSysctl } from '../node-network.js';

const run = promisify(execFile);

/** Upstream's numbers (pkg/datapath/linux/route: RulePriorityToProxyIngress 9, RouteTableToProxy 2004). */
export const PROXY_ROUTING = {
  /** MARK_MAGIC_TO_PROXY under MARK_MAGIC_HOST_MASK (datapath/bpf/lxc.h). */
  fwmark: 0x200,
  fwmask: 0xf00,
  pref: 9,
  table: 2004,
} as const;

/**
 * Sysctls the redirect needs, each with why:
 * - `net.ipv4.tcp_early_demux=0`: a routed packet of a proxied connection (ingress redirect, the
 *   to-container hop sends it back in through the host veth) would otherwise meet the proxy's
 *   established socket in early demux on its first pass, and the forward path drops a packet that
 *   carries a local socket: the connection stalls after its handshake
 *   (test/datapath/proxy-redirect.test.ts).
 * - `net.ipv4.conf.all.rp_filter=0` (upstream's loader sets it too): the redirected packet is
 *   delivered locally from an interface the reverse route of its source does not use (a remote
 *   client's packet arrives on the destination pod's veth); strict reverse-path filtering drops it.
 *   Only `all` is set, as upstream: a device created with rp_filter=1 still filters (max of both).
 */
export const PROXY_SYSCTLS: readonly (readonly [string, string])[] = [
  ['net.ipv4.tcp_early_demux', '0'],
  ['net.ipv4.conf.all.rp_filter', '0'],
];

export interface ProxyRoutingOptions {
  /** `ip -n NETNS` and sysctls in that named namespace (tests); default: the agent's own (the node's). */
  netns?: string;
  /** The host's /proc/sys/net is at `<procfs>/sys/net` (cilium-config `procfs`). */
  procfs: string;
  /** Runs `ip` with these arguments and returns its stdout (injected by unit tests). */
  ip?: (args: string[]) => Promise<string>;
  /** Sets one sysctl (injected by unit tests). */
  sysctl?: (key: string, value: string) => Promise<void>;
}

interface RuleJson {
  priority?: number;
  fwmark?: string;
  fwmask?: string;
  table?: string;
}

const hex = (n: number) => `0x${n.toString(16)}`;
const RULE_ARGS = [
  'fwmark',
  `${hex(PROXY_ROUTING.fwmark)}/${hex(PROXY_ROUTING.fwmask)}`,
  'lookup',
  String(PROXY_ROUTING.table),
  'pref',
  String(PROXY_ROUTING.pref),
];
const ROUTE_ARGS = ['local', '0.0.0.0/0', 'dev', 'lo', 'table', String(PROXY_ROUTING.table)];

export class ProxyRouting {
  /** `ip` processes started (a restart with everything in place runs two: the rule list and the route). */
  ipRuns = 0;

  constructor(private readonly o: ProxyRoutingOptions) {}

  private async ip(...args: string[]): Promise<string> {
    this.ipRuns++;
    const full = [...(this.o.netns ? ['-n', this.o.netns] : []), ...args];
    try {
      return this.o.ip ? await this.o.ip(full) : (await run('ip', full)).stdout;
    } catch (e) {
      const err = e as Error & { stderr?: string };
      throw new AgentError(
        AgentErrorCode.L7Proxy,
        `L7 proxy routing: ip ${full.join(' ')} failed: ${(err.stderr ?? '').trim() || err.message}`,
        { cause: e },
      );
    }
  }

  private async sysctl(key: string, value: string): Promise<void> {
    if (this.o.sysctl) return this.o.sysctl(key, value);
    if (!this.o.netns) return setSysctl(this.o.procfs, key, value);
    try {
      await run('ip', ['netns', 'exec', this.o.netns, 'sysctl', '-qw', `${key}=${value}`]);
    } catch (e) {
      throw new AgentError(AgentErrorCode.Sysctl, `sysctl ${key}=${value} in ${this.o.netns} failed`, { cause: e });
    }
  }

  /** Whether the fwmark rule is there (`ip -j rule show`; a rule at pref 9 for another table is not ours). */
  async hasRule(): Promise<boolean> {
    const rules = JSON.parse((await this.ip('-j', 'rule', 'show')) || '[]') as RuleJson[];
    return rules.some(
      (r) =>
        r.priority === PROXY_ROUTING.pref &&
        Number(r.fwmark) === PROXY_ROUTING.fwmark &&
        Number(r.fwmask) === PROXY_ROUTING.fwmask &&
        r.table === String(PROXY_ROUTING.table),
    );
  }

  /** Installs the rule, the local route and the sysctls (idempotent). Throws AGENT_ERR_L7_PROXY / _SYSCTL. */
  async setup(): Promise<void> {
    if (!(await this.hasRule())) await this.ip('rule', 'add', ...RULE_ARGS);
    await this.ip('route', 'replace', ...ROUTE_ARGS);
    for (const [key, value] of PROXY_SYSCTLS) await this.sysctl(key, value);
  }

  /**
   * Removes the rule and the route (`enable-l7-proxy: false`: nothing is redirected any more).
   * The sysctls stay: other parts of the node may rely on them, and their defaults are harmless.
   */
  async remove(): Promise<void> {
    if (await this.hasRule()) await this.ip('rule', 'del', ...RULE_ARGS);
    const routes = JSON.parse(
      (await this.ip('-j', 'route', 'show', 'table', String(PROXY_ROUTING.table))) || '[]',
    ) as unknown[];
    if (routes.length) await this.ip('route', 'del', ...ROUTE_ARGS);
  }
}
