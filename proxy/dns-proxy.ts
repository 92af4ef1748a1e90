// The DNS proxy: every DNS query a policy redirects here (UDP and TCP on one port) is checked
// against `rules.dns` for its endpoint and port; allowed ones go to the server the pod sent them
// to, and the answer's addresses are learned (FQDN cache) and handed to `beforeRelease` — where the
// agent programs ipcache and policy — before the answer reaches the pod, so the pod's first SYN to
// a new address is already allowed. Refused queries get upstream's reject answer (REFUSED unless
// `tofqdns-dns-reject-response-code` says nameError). Upstream: pkg/fqdn/dnsproxy/proxy.go;
// docs.cilium.io security/policy/language "DNS Policy and IP Discovery".
import dnsPacket from 'dns-packet';
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { createServer, connect, isIP, type Server, type Socket } from 'node:net';
import { toFqdn } from '../policy/fqdn-selector.js';
import { ProxyError, ProxyErrorCode } from './errors.js';
import type { FqdnCache } from './fqdn-cache.js';
import type { DnsL7Event, L7Endpoint, L7Peer } from './l7-flow.js';

/** What an allowed answer taught, handed to `beforeRelease`. */
export interface DnsLearned {
  endpoint: L7Endpoint;
  /** the query name, fully qualified */
  name: string;
  ips: string[];
  ttl: number;
  /** the CNAME chain from the query name, in order */
  cnames: string[];
}

/** What the proxy asks of its policy: a DnsRules (dns-rules.ts), or the agent's view of the policy engine. */
export interface DnsAllowList {
  /** May `endpoint` ask `name` of `destination` (port `port`) over `transport`? */
  allows(endpoint: number, port: number, name: string, destination: L7Peer, transport: 'udp' | 'tcp'): boolean;
}

/** What an answer is sent with: a dgram socket, or anything else that can put a datagram on the wire. */
export interface UdpSender {
  send(msg: Uint8Array, port: number, address: string): void;
}

export interface DnsProxyOptions {
  /** The policy the proxy enforces (the agent keeps it current). */
  rules: DnsAllowList;
  /** The endpoint a query came from, by its source address (the agent's endpoint table). */
  endpointOf: (source: L7Peer) => L7Endpoint | undefined;
  /**
   * Where the pod sent the query (the datapath's original destination; a test passes its server).
   * `local` is the address the query arrived on: for TCP through a transparent listener that is
   * the original destination itself.
   */
  originalDestination: (source: L7Peer, transport: 'udp' | 'tcp', local: L7Peer) => L7Peer | undefined;
  /** Where learned addresses go; optional so a proxy can enforce without learning. */
  cache?: FqdnCache;
  /**
   * Called with what an allowed answer taught, before the answer is released: the agent programs
   * ipcache and the policy maps here. The answer waits at most `responseMaxDelayMs` for it.
   */
  beforeRelease?: (learned: DnsLearned) => Promise<void>;
  /** Typed L7 events (request and response) for Hubble. */
  onEvent?: (e: DnsL7Event) => void;
  /**
   * Sockets made elsewhere (the agent's transparent ones, in the node's namespace): a bound UDP
   * socket and a bound, listening TCP one, on the same port. Given, `host` and `port` are unused.
   */
  fds?: { udp: number; tcp: number };
  /** Sockets towards servers (default: new ones in this process's namespace). */
  upstreamUdpSocket?: (family: 4 | 6) => UdpSocket;
  upstreamTcpSocket?: (family: 4 | 6) => Socket;
  /**
   * The UDP socket an answer to a query for `destination` goes out from. Transparent proxying
   * needs one bound to the original destination (a resolver drops answers from elsewhere);
   * undefined: the listening socket.
   */
  replySocket?: (destination: L7Peer) => UdpSender | undefined;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port for both UDP and TCP; 0 picks a free one (as upstream's `tofqdns-proxy-port` 0). */
  port?: number;
  /**
   * `tofqdns-dns-reject-response-code`: `refused` (upstream's default) or `nameError` (NXDOMAIN).
   * Some resolvers (musl) stop walking the search list on REFUSED; nameError lets them go on.
   */
  rejectResponseCode?: 'refused' | 'nameError';
  /**
   * Upstream's FQDNProxyResponseMaxDelay (100 ms): the longest an allowed answer waits for
   * `beforeRelease`; past it the answer goes out anyway (the first SYN may then be dropped).
   */
  responseMaxDelayMs?: number;
  /** Queries being served at once; past it new ones get SERVFAIL (bounded memory under a flood). */
  maxInFlight?: number;
  /** Largest query accepted (bytes); larger ones are dropped. */
  maxQueryBytes?: number;
  /** Largest answer accepted from the server (bytes; UDP answers are at most 65,507). */
  maxResponseBytes?: number;
  /** How long to wait for the server (upstream's ProxyForwardTimeout: 10 s). */
  upstreamTimeoutMs?: number;
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  rejectResponseCode: 'refused' as 'refused' | 'nameError',
  responseMaxDelayMs: 100,
  maxInFlight: 1024,
  maxQueryBytes: 4096,
  maxResponseBytes: 65_535,
  upstreamTimeoutMs: 10_000,
};

/** RFC 1035 §4.1.1 response codes the proxy makes up. */
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
const RCODE_BY_NAME: Record<string, number> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
};

/** Counters the agent exports as metrics and tests read. */
export interface DnsProxyStats {
  queries: number;
  allowed: number;
  denied: number;
  errors: number;
  overloaded: number;
  malformed: number;
}

/** Sends an answer back to the pod; `destination` is where the query was going, when known. */
type Reply = (answer: Buffer, destination: L7Peer | undefined) => void;

export class DnsProxy {
  private readonly opts: typeof DEFAULTS & DnsProxyOptions;
  private udp?: UdpSocket;
  private tcp?: Server;
  private readonly tcpConns = new Set<Socket>();
  private inFlight = 0;
  readonly stats: DnsProxyStats = { queries: 0, allowed: 0, denied: 0, errors: 0, overloaded: 0, malformed: 0 };

  constructor(options: DnsProxyOptions) {
    this.opts = { ...DEFAULTS, ...options };
  }

  /** Binds UDP and TCP on one port; resolves with it. */
  async start(): Promise<{ port: number }> {
    if (this.opts.fds) return this.startOnFds(this.opts.fds);
    const type = isIP(this.opts.host) === 6 ? 'udp6' : 'udp4';
    for (let attempt = 0; ; attempt++) {
      const udp = createSocket(type);
      try {
        await new Promise<void>((ok, fail) => {
          udp.once('error', fail);
          udp.bind(this.opts.port, this.opts.host, () => ok());
        });
        const port = udp.address().port;
        const tcp = createServer((s) => this.serveTcp(s));
        await new Promise<void>((ok, fail) => {
          tcp.once('error', fail);
          tcp.listen(port, this.opts.host, () => ok());
        });
        udp.on('message', (msg, rinfo) => this.serveUdp(msg, rinfo));
        udp.on('error', () => {});
        this.udp = udp;
        this.tcp = tcp;
        return { port };
      } catch (e) {
        udp.close();
        // a free UDP port whose TCP twin is taken: pick again (only when the port was ours to pick)
        if (this.opts.port === 0 && attempt < 5 && (e as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw new ProxyError(ProxyErrorCode.Listen, `DNS proxy cannot listen on ${this.opts.host}:${this.opts.port}`, {
          cause: e,
        });
      }
    }
  }

  private async startOnFds(fds: { udp: number; tcp: number }): Promise<{ port: number }> {
    const udp = createSocket('udp4');
    const tcp = createServer((s) => this.serveTcp(s));
    try {
      await new Promise<void>((ok, fail) => {
        udp.once('error', fail);
        udp.bind({ fd: fds.udp }, () => ok());
      });
      await new Promise<void>((ok, fail) => {
        tcp.once('error', fail);
        tcp.listen({ fd: fds.tcp }, () => ok());
      });
    } catch (e) {
      udp.close();
      tcp.close();
      throw new ProxyError(ProxyErrorCode.Listen, `DNS proxy cannot serve on fds ${fds.udp}/${fds.tcp}`, { cause: e });
    }
    udp.on('message', (msg, rinfo) => this.serveUdp(msg, rinfo));
    udp.on('error', () => {});
    this.udp = udp;
    this.tcp = tcp;
    return { port: udp.address().port };
  }

  async close(): Promise<void> {
    for (const s of this.tcpConns) s.destroy();
    // answers still being prepared find no socket (sending on a closed one throws, and a
    // rejection out of a query's handler would end the agent)
    const udp = this.udp;
    this.udp = undefined;
    await Promise.all([
      new Promise<void>((ok) => (udp ? udp.close(() => ok()) : ok())),
      new Promise<void>((ok) => (this.tcp ? this.tcp.close(() => ok()) : ok())),
    ]);
  }

  private serveUdp(msg: Buffer, rinfo: RemoteInfo): void {
    const source = { address: rinfo.address, port: rinfo.port };
    const here = this.udp?.address();
    const local = { address: here?.address ?? '', port: here?.port ?? 0 };
    void this.handle(msg, source, local, 'udp', (answer, destination) => {
      if (!this.udp) return;
      const from = (destination && this.opts.replySocket?.(destination)) || this.udp;
      from.send(answer, rinfo.port, rinfo.address);
    });
  }

  /** DNS over TCP (RFC 7766): 2-byte length-prefixed messages; answers may go out of order. */
  private serveTcp(sock: Socket): void {
    this.tcpConns.add(sock);
    sock.on('close', () => this.tcpConns.delete(sock));
    sock.on('error', () => sock.destroy());
    const source = { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 };
    const local = { address: sock.localAddress ?? '', port: sock.localPort ?? 0 };
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len > this.opts.maxQueryBytes) {
          this.stats.malformed++;
          sock.destroy();
          return;
        }
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void this.handle(msg, source, local, 'tcp', (answer) => {
          if (sock.destroyed) return;
          const head = Buffer.alloc(2);
          head.writeUInt16BE(answer.length);
          sock.write(Buffer.concat([head, answer]));
        });
      }
    });
  }

  private emit(e: DnsL7Event): void {
    this.opts.onEvent?.(e);
  }

  private async handle(
    msg: Buffer,
    source: L7Peer,
    local: L7Peer,
    transport: 'udp' | 'tcp',
    reply: Reply,
  ): Promise<void> {
    const started = process.hrtime.bigint();
    if (msg.length > this.opts.maxQueryBytes) {
      this.stats.malformed++;
      return;
    }
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      this.stats.malformed++;
      return;
    }
    if (query.type !== 'query') {
      this.stats.malformed++;
      return;
    }
    this.stats.queries++;
    const question = query.questions?.[0];
    const name = question ? toFqdn(question.name) || '.' : '';
    const qtypes = (query.questions ?? []).map((q) => q.type);
    const endpoint = this.opts.endpointOf(source);
    const destination = this.opts.originalDestination(source, transport, local);
    const base = { protocol: 'dns' as const, transport, endpoint, source, destination, query: name, qtypes };
    const answerWith = (rcode: number, verdict: DnsL7Event['verdict']) => {
      reply(synthesize(query, rcode), destination);
      this.emit({ ...base, kind: 'response', verdict, rcode, latencyNs: Number(process.hrtime.bigint() - started) });
    };
    if (!question) {
      this.stats.malformed++;
      answerWith(RCODE.FORMERR, 'ERROR');
      return;
    }
    if (this.inFlight >= this.opts.maxInFlight) {
      this.stats.overloaded++;
      answerWith(RCODE.SERVFAIL, 'ERROR');
      return;
    }
    if (!endpoint || !destination) {
      this.stats.errors++;
      answerWith(RCODE.SERVFAIL, 'ERROR');
      return;
    }
    if (!this.opts.rules.allows(endpoint.id, destination.port, name, destination, transport)) {
      this.stats.denied++;
      this.emit({ ...base, kind: 'request', verdict: 'DROPPED' });
      answerWith(this.opts.rejectResponseCode === 'nameError' ? RCODE.NXDOMAIN : RCODE.REFUSED, 'DROPPED');
      return;
    }
    this.stats.allowed++;
    this.emit({ ...base, kind: 'request', verdict: 'FORWARDED' });
    this.inFlight++;
    try {
      const raw = await (transport === 'udp' ? this.forwardUdp(msg, destination) : this.forwardTcp(msg, destination));
      let answer: dnsPacket.Packet;
      try {
        answer = dnsPacket.decode(raw);
      } catch {
        throw new Error('the server answered with a malformed message');
      }
      const learned = learn(answer, name);
      const rcode = RCODE_BY_NAME[String((answer as { rcode?: string }).rcode ?? 'NOERROR')] ?? 0;
      if (learned.ips.length > 0) {
        for (const n of [name, ...learned.cnames]) this.opts.cache?.update(endpoint.id, n, learned.ips, learned.ttl);
        await this.release({ endpoint, name, ...learned });
      }
      reply(raw, destination);
      this.emit({
        ...base,
        kind: 'response',
        verdict: 'FORWARDED',
        rcode,
        ips: learned.ips,
        ttl: learned.ttl,
        cnames: learned.cnames,
        rrtypes: [...new Set((answer.answers ?? []).map((a) => a.type))],
        latencyNs: Number(process.hrtime.bigint() - started),
      });
    } catch {
      this.stats.errors++;
      answerWith(RCODE.SERVFAIL, 'ERROR');
    } finally {
      this.inFlight--;
    }
  }

  /** Waits for `beforeRelease`, at most `responseMaxDelayMs`; its failure does not hold the answer. */
  private async release(learned: DnsLearned): Promise<void> {
    const hook = this.opts.beforeRelease;
    if (!hook) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      hook(learned).catch(() => {}),
      new Promise<void>((ok) => (timer = setTimeout(ok, this.opts.responseMaxDelayMs))),
    ]);
    clearTimeout(timer);
  }

  private forwardUdp(msg: Buffer, to: L7Peer): Promise<Buffer> {
    return new Promise((ok, fail) => {
      const family = isIP(to.address) === 6 ? 6 : 4;
      const sock = this.opts.upstreamUdpSocket?.(family) ?? createSocket(family === 6 ? 'udp6' : 'udp4');
      const timer = setTimeout(() => done(new Error('the server did not answer in time')), this.opts.upstreamTimeoutMs);
      const done = (err?: Error, answer?: Buffer) => {
        clearTimeout(timer);
        sock.close();
        if (err) fail(err);
        else ok(answer!);
      };
      const id = msg.readUInt16BE(0);
      sock.on('error', (e) => done(e));
      sock.on('message', (answer, rinfo) => {
        // only the server we asked, answering this query (RFC 5452 §9.1)
        if (rinfo.address !== to.address || rinfo.port !== to.port) return;
        if (answer.length < 2 || answer.readUInt16BE(0) !== id) return;
        if (answer.length > this.opts.maxResponseBytes) return done(new Error('the answer is too large'));
        done(undefined, answer);
      });
      sock.connect(to.port, to.address, () => sock.send(msg));
    });
  }

  private forwardTcp(msg: Buffer, to: L7Peer): Promise<Buffer> {
    return new Promise((ok, fail) => {
      const made = this.opts.upstreamTcpSocket?.(isIP(to.address) === 6 ? 6 : 4);
      const sock = made ? made.connect(to.port, to.address) : connect(to.port, to.address);
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => done(new Error('the server did not answer in time')), this.opts.upstreamTimeoutMs);
      const done = (err?: Error, answer?: Buffer) => {
        clearTimeout(timer);
        sock.destroy();
        if (err) fail(err);
        else ok(answer!);
      };
      sock.on('error', (e) => done(e));
      sock.on('close', () => done(new Error('the server closed the connection')));
      sock.on('connect', () => {
        const head = Buffer.alloc(2);
        head.writeUInt16BE(msg.length);
        sock.write(Buffer.concat([head, msg]));
      });
      sock.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < 2) return;
        const len = buf.readUInt16BE(0);
        if (len > this.opts.maxResponseBytes) return done(new Error('the answer is too large'));
        if (buf.length >= 2 + len) done(undefined, buf.subarray(2, 2 + len));
      });
    });
  }
}

/** The IPs an answer gives the query name: A/AAAA records along its CNAME chain, the least TTL. */
export function learn(answer: dnsPacket.Packet, queryName: string): { ips: string[]; ttl: number; cnames: string[] } {
  // OPT pseudo-records (EDNS) carry no name data or TTL; only real records count
  const records = (answer.answers ?? []).filter(
    (r): r is Exclude<dnsPacket.Answer, dnsPacket.OptAnswer> => r.type !== 'OPT',
  );
  const chain = [toFqdn(queryName)];
  const cnames: string[] = [];
  let ttl = Infinity;
  // follow CNAMEs (bounded by the record count: a loop cannot run forever)
  for (let i = 0; i < records.length; i++) {
    const cur = chain[chain.length - 1]!;
    const next = records.find((r) => r.type === 'CNAME' && toFqdn(r.name) === cur);
    if (!next) break;
    const target = toFqdn(String(next.data));
    if (chain.includes(target)) break;
    chain.push(target);
    cnames.push(target);
    ttl = Math.min(ttl, next.ttl ?? 0);
  }
  const names = new Set(chain);
  const ips: string[] = [];
  for (const r of records) {
    if ((r.type === 'A' || r.type === 'AAAA') && names.has(toFqdn(r.name))) {
      ips.push(String(r.data));
      ttl = Math.min(ttl, r.ttl ?? 0);
    }
  }
  return { ips: [...new Set(ips)], ttl: ips.length ? ttl : 0, cnames };
}

/** A made-up answer: the query's ID and questions, no records, `rcode`; recursion desired echoed. */
function synthesize(query: dnsPacket.Packet, rcode: number): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: query.id ?? 0,
    flags: ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | rcode,
    questions: query.questions ?? [],
    answers: [],
  } as dnsPacket.Packet);
}
