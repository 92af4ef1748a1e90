// The agent's DNS proxy: the datapath hands it every DNS query a policy redirects (a `rules.dns`
// port rule: datapath/bpf/endpoint.h to_proxy assigns the proxy's UDP or TCP socket). It runs
// proxy/dns-proxy.ts transparently in the node's namespace: the query's original destination comes
// from the accepted socket's local address (TCP, an IP_TRANSPARENT listener as the HTTP proxy's) or
// from cilium_proxy4 (UDP: datapath/proxy-map.ts); the policy is the policy engine's `rules.dns`
// for the querying endpoint's egress towards that server; allowed queries go to the server from
// the node's namespace, and UDP answers leave from a socket bound to the server's address and port
// (dns-reply-sockets.ts; written whole on a raw socket when a server of the node holds that port)
// so the pod's resolver and conntrack take them. What an answer teaches
// reaches `beforeRelease` (controllers/agent/l7/fqdn-policy.ts: ipcache and policy) first.
import { createSocket } from 'node:dgram';
import { Socket } from 'node:net';
import { loadAddon } from '../../../datapath/addon.js';
import { PROXY_PORTS } from '../../../datapath/constants.js';
import type { ProxyOriginal } from '../../../datapath/proxy-map.js';
import { compileFqdnSelectors } from '../../../policy/fqdn-selector.js';
import type { L7Verdict } from '../../../policy/index.js';
import { DnsProxy, type DnsAllowList, type DnsLearned, type DnsProxyStats } from '../../../proxy/dns-proxy.js';
import type { FqdnCache } from '../../../proxy/fqdn-cache.js';
import type { L7Peer } from '../../../proxy/l7-flow.js';
import { ReplySockets, type ReplySocketStats } from './dns-reply-sockets.js';
import type { HttpRedirectDeps } from './http-redirect.js';

/** What the DNS proxy reads from the rest of the agent: what the HTTP proxy reads, and more. */
export interface DnsRedirectDeps extends HttpRedirectDeps {
  /** Where a redirected UDP datagram was going (ProxyMap.udpOriginal over the pinned cilium_proxy4). */
  udpOriginal: (source: L7Peer, proxyPort: number) => ProxyOriginal | undefined;
  /** Programs what an answer taught before it is released (the FQDN policy wiring). */
  beforeRelease?: (learned: DnsLearned) => Promise<void>;
  /** Where learned names go (the agent's FQDN cache). */
  cache?: FqdnCache;
}

export interface DnsRedirectOptions {
  /** The network namespace the sockets live in (the node's: where the datapath looks them up); null = the agent's. */
  netns: string | null;
  /** UDP and TCP (`tofqdns-proxy-port`; the datapath's policy entries carry it). */
  port: number;
  /** Answer sockets kept open, one per resolver address:port the pods use. */
  replySockets: number;
  /** `tofqdns-dns-reject-response-code`. */
  rejectResponseCode: 'refused' | 'nameError';
  /** Distinct `rules.dns` lists kept compiled (a policy change makes new ones; the oldest go). */
  compiledRuleSets: number;
  /** Join the port's SO_REUSEPORT groups (UDP, TCP): the agent and cilium-l7proxy both listen (decision 34). */
  reuseport: boolean;
}

export const DEFAULT_DNS_REDIRECT: DnsRedirectOptions = {
  netns: null,
  port: PROXY_PORTS.dns,
  replySockets: 256,
  rejectResponseCode: 'refused',
  compiledRuleSets: 1024,
  reuseport: false,
};

const PROTO = { udp: 17, tcp: 6 } as const;

export class DnsRedirect implements DnsAllowList {
  private proxy?: DnsProxy;
  private replies?: ReplySockets;
  private readonly compiled = new Map<string, (name: string) => boolean>();
  private readonly opts: DnsRedirectOptions;

  constructor(
    private readonly deps: DnsRedirectDeps,
    options: Partial<DnsRedirectOptions> = {},
  ) {
    this.opts = { ...DEFAULT_DNS_REDIRECT, ...options };
  }

  /** Opens the transparent UDP and TCP sockets on the proxy port and serves them. */
  async start(): Promise<void> {
    const addon = loadAddon();
    const { netns, port, reuseport } = this.opts;
    const udp = addon.transparentListen(netns, 4, 'udp', '0.0.0.0', port, reuseport);
    let tcp: number;
    try {
      tcp = addon.transparentListen(netns, 4, 'tcp', '0.0.0.0', port, reuseport);
    } catch (e) {
      addon.close(udp);
      throw e;
    }
    const fds = { udp, tcp };
    this.replies = new ReplySockets(
      (family, address, p) => addon.transparentListen(netns, family, 'udp', address, p),
      this.opts.replySockets,
      {
        open: () => addon.rawSocketIn(netns),
        send: (fd, a, pkt) => addon.rawSendTo(fd, a, pkt),
        close: (fd) => addon.close(fd),
      },
    );
    this.proxy = new DnsProxy({
      fds,
      rules: this,
      endpointOf: (source) => this.deps.endpointByIp(source.address),
      originalDestination: (source, transport, local) => (transport === 'tcp' ? local : this.udpDestination(source)),
      replySocket: (destination) => this.replies?.get(destination),
      // towards servers from the node's namespace too (the agent may run outside it)
      upstreamUdpSocket: netns
        ? (family) => {
            const s = createSocket(family === 6 ? 'udp6' : 'udp4');
            s.bind({ fd: addon.transparentListen(netns, family, 'udp', family === 6 ? '::' : '0.0.0.0', 0) });
            return s;
          }
        : undefined,
      upstreamTcpSocket: netns ? (family) => new Socket({ fd: addon.tcpSocketIn(netns, family) }) : undefined,
      cache: this.deps.cache,
      beforeRelease: this.deps.beforeRelease,
      onEvent: (e) => this.deps.onL7Event?.(e),
      rejectResponseCode: this.opts.rejectResponseCode,
    });
    await this.proxy.start();
  }

  get stats(): { proxy?: DnsProxyStats; replySockets?: ReplySocketStats } {
    return { proxy: this.proxy?.stats, replySockets: this.replies?.stats };
  }

  async close(): Promise<void> {
    await this.proxy?.close();
    this.replies?.closeAll();
  }

  /** A lookup that fails (the map not pinned yet) leaves the query unplaced: SERVFAIL, not a crash. */
  private udpDestination(source: L7Peer): L7Peer | undefined {
    try {
      const o = this.deps.udpOriginal(source, this.opts.port);
      return o && { address: o.address, port: o.port };
    } catch {
      return undefined;
    }
  }

  /**
   * DnsAllowList: the querying endpoint's egress rules towards the server on that port. No rule
   * with DNS rules covering it (the policy changed since the redirect): refused, fail closed.
   */
  allows(endpoint: number, port: number, name: string, destination: L7Peer, transport: 'udp' | 'tcp'): boolean {
    const dst = this.deps.endpointByIp(destination.address)?.identity ?? this.deps.identityOf(destination.address);
    const v = this.deps.l7Rules(endpoint, 'egress', dst, PROTO[transport], port);
    if (v?.parser !== 'dns') return false;
    // a rule allowing the server on that port without DNS rules, or an empty list: every name
    if (v.allowAll || v.dns.length === 0) return true;
    return this.matcher(v.dns)(name);
  }

  private matcher(rules: L7Verdict['dns']): (name: string) => boolean {
    const key = JSON.stringify(rules);
    let m = this.compiled.get(key);
    if (!m) {
      m = compileFqdnSelectors(rules).matches;
      this.compiled.set(key, m);
      if (this.compiled.size > this.opts.compiledRuleSets) this.compiled.delete(this.compiled.keys().next().value!);
    }
    return m;
  }
}
