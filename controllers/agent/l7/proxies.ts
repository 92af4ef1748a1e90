// The agent's L7 proxies, started and stopped as one: the node routing the redirect needs
// (proxy-routing.ts), the HTTP proxy (http-redirect.ts) on its transparent listener and the DNS
// proxy (dns-redirect.ts) on its transparent UDP and TCP sockets, fed from
// the agent's endpoint table, ipcache and policy engine. Their typed L7 events go to whoever
// subscribes (cmd/cilium-agent.ts hands them to the Hubble observer, which counts the L7 metrics:
// hubble/ sits above controllers/ in the layering).
import { release } from 'node:os';
import type { Logger } from 'pino';
import { PROXY_PORTS } from '../../../datapath/constants.js';
import type { L7Event } from '../../../proxy/l7-flow.js';
import { AgentError, AgentErrorCode } from '../errors.js';
import { DnsRedirect, type DnsRedirectDeps } from './dns-redirect.js';
import { HttpRedirect, type HttpRedirectDeps } from './http-redirect.js';
import { ProxyChannel, type L7Snapshot } from './proxy-channel.js';
import { ProxyRouting, type ProxyRoutingOptions } from './proxy-routing.js';

/** What the proxies read from the rest of the agent. */
export type L7ProxiesDeps = Omit<HttpRedirectDeps, 'onL7Event'> & {
  log: Logger;
  /**
   * The DNS proxy's own: where a redirected UDP query was going (ProxyMap over the pinned
   * cilium_proxy4), and the FQDN cache and `beforeRelease` of the agent's FQDN policy. Without
   * `udpOriginal` no DNS proxy is started (ports with DNS rules are dropped).
   */
  dns?: Pick<DnsRedirectDeps, 'udpOriginal' | 'cache' | 'beforeRelease'>;
  /** What a proxy in its own process reads (`external`), built when the channel checks for changes. */
  state?: () => L7Snapshot;
};

export interface L7ProxiesOptions {
  /**
   * `enable-l7-proxy` with the kernel datapath. Off: no listener, and the node routing is removed
   * (when managed), so a node switched off is left as it was before.
   */
  enabled: boolean;
  /** Set up (or remove) the node routing: the agent manages the node's network (`manage-node-network`). */
  manageRouting: boolean;
  /** The named namespace (`ip netns`) the listeners and the routing live in (the datapath's); null = the agent's own. */
  netns: string | null;
  /** The host's /proc/sys/net is at `<procfs>/sys/net` (cilium-config `procfs`). */
  procfs: string;
  /** The HTTP proxy's port: what the policy map's proxy_port says (datapath/constants PROXY_PORTS). */
  httpPort: number;
  /** The DNS proxy's port, UDP and TCP (upstream's `tofqdns-proxy-port`; PROXY_PORTS too). */
  dnsPort: number;
  /**
   * The proxies run in their own process (`external-l7-proxy`, cmd/cilium-l7proxy.ts), which
   * connects to this socket: the agent sets up the routing and serves the channel, no listener.
   * null: the listeners run in the agent.
   */
  externalSocket: string | null;
  /**
   * The listeners join their ports' SO_REUSEPORT groups, so that two processes serve the same
   * ports and either may restart (decision 34): cilium-l7proxy sets it as the kernel allows
   * (`reuseportAssign`). null: on with `externalSocket` where the kernel allows it (the agent then
   * listens too, beside the proxy process), off otherwise.
   */
  reuseport: boolean | null;
  /** `ip` and sysctl runners (tests). */
  routing?: Pick<ProxyRoutingOptions, 'ip' | 'sysctl'>;
}

export const L7_PROXIES_DEFAULTS: L7ProxiesOptions = {
  enabled: true,
  manageRouting: true,
  netns: null,
  procfs: '/proc',
  httpPort: PROXY_PORTS.http,
  dnsPort: PROXY_PORTS.dns,
  externalSocket: null,
  reuseport: null,
};

/**
 * Whether the kernel's bpf_sk_assign accepts a SO_REUSEPORT socket (Linux 6.5, "bpf, net: Support
 * SO_REUSEPORT sockets with bpf_sk_assign"; before it the helper returns -ESOCKTNOSUPPORT and the
 * redirect would drop every packet, DROP_PROXY_SET_FAILED). Either process decides the same way.
 */
export function reuseportAssign(kernelRelease = release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 6 || (major === 6 && minor >= 5);
}

export class L7Proxies {
  private readonly o: L7ProxiesOptions;
  private readonly listeners = new Set<(e: L7Event) => void>();
  private readonly routing: ProxyRouting;
  /** The HTTP proxy, once started. */
  http?: HttpRedirect;
  /** The DNS proxy, once started. */
  dns?: DnsRedirect;
  private failure?: string;
  /** The channel to the proxy process, with `externalSocket`. */
  channel?: ProxyChannel;

  constructor(
    private readonly deps: L7ProxiesDeps,
    options: Partial<L7ProxiesOptions> = {},
  ) {
    this.o = { ...L7_PROXIES_DEFAULTS, ...options };
    this.routing = new ProxyRouting({
      procfs: this.o.procfs,
      ...(this.o.netns ? { netns: this.o.netns } : {}),
      ...this.o.routing,
    });
  }

  /** Subscribes to every proxy's L7 events; returns the unsubscribe. */
  onEvent(listener: (e: L7Event) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Routing first, then the listener: a redirected SYN that finds no socket is dropped and sent
   * again by the client, one that finds the socket but no local route would be forwarded past it.
   * A failure is logged and kept as `problem()` (the agent is not Ready while it lasts); the agent
   * itself keeps running, its redirected ports dropped.
   */
  async start(): Promise<void> {
    const { log } = this.deps;
    if (!this.o.enabled) {
      if (this.o.manageRouting)
        await this.routing
          .remove()
          .catch((e) => log.warn({ err: (e as Error).message }, 'removing the L7 proxy routing failed'));
      log.info('L7 proxy disabled (enable-l7-proxy: false): ports with L7 rules are dropped');
      return;
    }
    try {
      if (this.o.manageRouting) await this.routing.setup();
      if (this.o.externalSocket !== null) {
        await this.startChannel(this.o.externalSocket);
        if (this.reuseport) await this.startPaired();
        return;
      }
      await this.startListeners();
      this.failure = undefined;
    } catch (e) {
      this.failure = (e as Error).message;
      log.error(
        { err: this.failure, code: (e as AgentError).code },
        'L7 proxy not started: ports with L7 rules are dropped',
      );
    }
  }

  /** Unset: only the agent paired with cilium-l7proxy joins a group, where the kernel allows it. */
  private get reuseport(): boolean {
    return this.o.reuseport ?? (this.o.externalSocket !== null && reuseportAssign());
  }

  /**
   * The agent's half of the pair: its own listeners in the ports' reuseport groups beside
   * cilium-l7proxy's. Not fatal: the proxy process serves the ports alone (as with an older kernel
   * or a proxy that did not join the group: EADDRINUSE), only its restarts are then not covered.
   */
  private async startPaired(): Promise<void> {
    try {
      await this.startListeners();
    } catch (e) {
      await this.closeListeners();
      this.deps.log.warn(
        { err: (e as Error).message },
        'L7 proxies: cilium-l7proxy serves the ports alone (the agent could not join them)',
      );
    }
  }

  /** The HTTP and DNS listeners of this process. */
  private async startListeners(): Promise<void> {
    const http = new HttpRedirect(
      { ...this.deps, onL7Event: (e) => this.emit(e) },
      { netns: this.netnsPath, port: this.o.httpPort, reuseport: this.reuseport },
    );
    try {
      await http.start();
    } catch (e) {
      throw new AgentError(
        AgentErrorCode.L7Proxy,
        `the HTTP proxy could not listen on port ${this.o.httpPort}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    this.http = http;
    this.deps.log.info(
      { port: this.o.httpPort, routing: this.o.manageRouting, reuseport: this.reuseport },
      'L7 HTTP proxy listening',
    );
    await this.startDns();
  }

  /** The proxies are another process's: serve it what they read, take back what they report. */
  private async startChannel(socketPath: string): Promise<void> {
    const { log, state, dns } = this.deps;
    const channel = new ProxyChannel(
      {
        log,
        state: state ?? (() => ({ endpoints: [], l7: [] })),
        learn: dns?.beforeRelease ?? (() => Promise.resolve()),
        onEvent: (e) => this.emit(e),
      },
      { socketPath },
    );
    await channel.listen();
    this.channel = channel;
    this.failure = undefined;
    log.info({ socket: socketPath }, 'L7 proxies run in their own process: channel listening');
  }

  private async startDns(): Promise<void> {
    const extra = this.deps.dns;
    if (!extra) return;
    const dns = new DnsRedirect(
      { ...this.deps, ...extra, onL7Event: (e) => this.emit(e) },
      { netns: this.netnsPath, port: this.o.dnsPort, reuseport: this.reuseport },
    );
    try {
      await dns.start();
    } catch (e) {
      await dns.close().catch(() => undefined);
      throw new AgentError(
        AgentErrorCode.L7Proxy,
        `the DNS proxy could not listen on port ${this.o.dnsPort}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    this.dns = dns;
    this.deps.log.info({ port: this.o.dnsPort }, 'DNS proxy listening (UDP and TCP)');
  }

  /** The node's namespace as the addon opens it (null: the agent's own). */
  private get netnsPath(): string | null {
    return this.o.netns && `/var/run/netns/${this.o.netns}`;
  }

  /** Why the proxies are not serving, when they should be. */
  problem(): string | undefined {
    return this.failure && `L7 proxy: ${this.failure}`;
  }

  /** Closes the listeners; the routing stays (the datapath keeps redirecting to the next agent). */
  async stop(): Promise<void> {
    const { channel } = this;
    this.channel = undefined;
    await Promise.all([this.closeListeners(), channel?.close()]);
  }

  private async closeListeners(): Promise<void> {
    const { http, dns } = this;
    this.http = undefined;
    this.dns = undefined;
    await Promise.all([http?.close(), dns?.close()]);
  }

  private emit(e: L7Event): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.deps.log.warn({ err: (err as Error).message }, 'an L7 event listener threw');
      }
    }
  }
}
