// The agent's HTTP proxy: the datapath hands it connections whose policy entry has the HTTP proxy
// port (datapath/bpf/endpoint.h to_proxy). It listens transparently (IP_TRANSPARENT, so a
// connection's local address is its original destination), finds which local endpoint's policy
// redirected it — the source's egress, or the destination's ingress — and enforces that policy's
// `rules.http` on every request (proxy/http-proxy.ts: 403 "Access denied" for a denied one),
// forwarding allowed ones to the original destination.
import { Socket } from 'node:net';
import { loadAddon } from '../../../datapath/addon.js';
import { PROXY_PORTS } from '../../../datapath/constants.js';
import type { L7Verdict } from '../../../policy/index.js';
import { HttpProxy, type HttpConnection } from '../../../proxy/http-proxy.js';
import { HttpRuleSet } from '../../../proxy/http-rules.js';
import type { L7Event, L7Peer } from '../../../proxy/l7-flow.js';

/** A local endpoint as the proxy needs it. */
export interface LocalEndpoint {
  readonly id: number;
  readonly identity: number;
}

/** What the proxy reads from the rest of the agent (the endpoint table, the ipcache, the policy engine). */
export interface HttpRedirectDeps {
  /** The local endpoint with this IP. */
  endpointByIp: (ip: string) => LocalEndpoint | undefined;
  /** The security identity of any IP (the ipcache; the world when unknown). */
  identityOf: (ip: string) => number;
  /** PolicyEngine.l7Rules. */
  l7Rules: (
    endpointId: number,
    direction: 'ingress' | 'egress',
    peer: number,
    proto: number,
    port: number,
  ) => L7Verdict | undefined;
  /** L7 events for Hubble (the l7obs wiring feeds them to the observer). */
  onL7Event?: (e: L7Event) => void;
}

export interface HttpRedirectOptions {
  /** The network namespace the listener lives in (the node's: where the datapath looks sockets up); null = the agent's. */
  netns: string | null;
  port: number;
  /** Join the port's SO_REUSEPORT group: the agent and cilium-l7proxy both listen (decision 34). */
  reuseport: boolean;
}

export const DEFAULT_HTTP_REDIRECT: HttpRedirectOptions = { netns: null, port: PROXY_PORTS.http, reuseport: false };

const TCP = 6;

/** Rules compiled once per distinct rule list (a rule set is shared by every connection it governs). */
function ruleSet(cache: WeakMap<object, HttpRuleSet>, v: L7Verdict): HttpRuleSet {
  if (v.allowAll) return new HttpRuleSet([]);
  let rs = cache.get(v.http);
  if (!rs) cache.set(v.http, (rs = new HttpRuleSet(v.http)));
  return rs;
}

export class HttpRedirect {
  private proxy?: HttpProxy;
  private readonly compiled = new WeakMap<object, HttpRuleSet>();
  private readonly opts: HttpRedirectOptions;

  constructor(
    private readonly deps: HttpRedirectDeps,
    options: Partial<HttpRedirectOptions> = {},
  ) {
    this.opts = { ...DEFAULT_HTTP_REDIRECT, ...options };
  }

  /** Opens the transparent listener and serves it. */
  async start(): Promise<void> {
    const fd = loadAddon().transparentListen(this.opts.netns, 4, 'tcp', '0.0.0.0', this.opts.port, this.opts.reuseport);
    const netns = this.opts.netns;
    this.proxy = new HttpProxy({
      fd,
      // upstream connections from the node's namespace too (the agent may run outside it)
      upstreamSocket: netns ? () => new Socket({ fd: loadAddon().tcpSocketIn(netns, 4) }) : undefined,
      connectionOf: (source, local) => this.connectionOf(source, local),
      onEvent: (e) => this.deps.onL7Event?.(e),
    });
    await this.proxy.start();
  }

  get stats(): HttpProxy['stats'] | undefined {
    return this.proxy?.stats;
  }

  async close(): Promise<void> {
    await this.proxy?.close();
  }

  /**
   * Whose policy redirected this connection: the source endpoint's egress if it has L7 rules for
   * the destination, else the destination endpoint's ingress. Neither: closed (not ours to pass).
   */
  connectionOf(source: L7Peer, destination: L7Peer): HttpConnection | undefined {
    const src = this.deps.endpointByIp(source.address);
    const dst = this.deps.endpointByIp(destination.address);
    const srcId = src?.identity ?? this.deps.identityOf(source.address);
    const dstId = dst?.identity ?? this.deps.identityOf(destination.address);
    const egress = src ? this.deps.l7Rules(src.id, 'egress', dstId, TCP, destination.port) : undefined;
    const verdict =
      egress?.parser === 'http'
        ? egress
        : dst
          ? this.deps.l7Rules(dst.id, 'ingress', srcId, TCP, destination.port)
          : undefined;
    if (verdict?.parser !== 'http') return undefined;
    const ep = verdict === egress ? src : dst;
    return {
      endpoint: ep && { id: ep.id, identity: ep.identity },
      source,
      destination,
      rules: ruleSet(this.compiled, verdict),
    };
  }
}
