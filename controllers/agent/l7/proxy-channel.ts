// The agent's end of the L7 proxy channel (l7-channel.ts; docs/design.md decision 30): it listens
// on a 0660 unix socket beside its REST socket, gives the proxy process that connects the whole
// state its proxies read — at once, then again whenever it changed (compared every
// `checkIntervalMs`: the local parts as text, the ipcache by its revision, so a cluster's 50,000
// prefixes are serialized when they change, not on every check) — programs what the proxy's DNS
// answers teach before acknowledging them, and hands the proxy's L7 events to whoever the agent
// wires (Hubble). One proxy at a time: a new connection replaces the old one (a restarted proxy
// connects before the old socket times out).
import { chmodSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { L7Table } from '../../../policy/index.js';
import type { DnsLearned } from '../../../proxy/dns-proxy.js';
import type { L7Event } from '../../../proxy/l7-flow.js';
import { AgentError, AgentErrorCode } from '../errors.js';
import { LineChannel, type AgentMessage, type L7State, type ProxyMessage } from './l7-channel.js';

/**
 * What the channel reads on every check: the node-local parts whole (O(local endpoints)), the
 * ipcache as a revision and a way to list it, listed only when the revision moved.
 */
export interface L7Snapshot {
  endpoints: L7State['endpoints'];
  l7: L7State['l7'];
  /** Absent: no ipcache goes (no endpoint has L7 rules). */
  ipcache?: { revision: number; entries: () => L7State['ipcache'] };
}

export interface ProxyChannelDeps {
  log: Logger;
  /** The state to send (read on every check: keep it cheap). */
  state: () => L7Snapshot;
  /** Programs what an answer taught (FqdnPolicy.learn). Its failure is logged; the answer is released anyway. */
  learn: (learned: DnsLearned) => Promise<void>;
  /** The proxy's L7 events (Hubble). */
  onEvent: (e: L7Event) => void;
}

export interface ProxyChannelOptions {
  /** Where to listen (`<dir of socket-path>/l7proxy.sock`). */
  socketPath: string;
  /** 0660, as the agent's other sockets: root and the cilium group only. */
  socketMode: number;
  /** How often the state is compared with what the proxy has. Lower: policy reaches the proxy sooner, more CPU. */
  checkIntervalMs: number;
}

export const PROXY_CHANNEL_DEFAULTS: Omit<ProxyChannelOptions, 'socketPath'> = {
  socketMode: 0o660,
  checkIntervalMs: 200,
};

export class ProxyChannel {
  private readonly o: ProxyChannelOptions;
  private server?: Server;
  private peer?: LineChannel<ProxyMessage, AgentMessage>;
  /** What the connected proxy was sent last: the local parts' text and the ipcache's revision (-1: none). */
  private lastLocal = '';
  private lastRevision = -1;
  /** The ipcache's JSON at `lastRevision` (kept across reconnects: a new proxy gets it as is). */
  private ipcacheJson = '[]';
  private timer?: NodeJS.Timeout;
  /** What went over the socket, for status and tests. */
  readonly stats = { connections: 0, statesSent: 0, learned: 0, events: 0 };

  constructor(
    private readonly deps: ProxyChannelDeps,
    options: Partial<ProxyChannelOptions> & Pick<ProxyChannelOptions, 'socketPath'>,
  ) {
    this.o = { ...PROXY_CHANNEL_DEFAULTS, ...options };
  }

  /** Whether a proxy process is connected now. */
  get connected(): boolean {
    return !!this.peer && !this.peer.socket.destroyed;
  }

  /** Listens (a stale socket file from a previous agent is replaced). Throws AGENT_ERR_L7_PROXY. */
  async listen(): Promise<void> {
    const path = this.o.socketPath;
    try {
      unlinkSync(path);
    } catch {
      // none there
    }
    const server = createServer((s) => this.accept(s));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => resolve());
      });
      chmodSync(path, this.o.socketMode);
    } catch (e) {
      server.close();
      throw new AgentError(
        AgentErrorCode.L7Proxy,
        `the L7 proxy channel could not listen on ${path}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    this.server = server;
    this.timer = setInterval(() => this.sendState(), this.o.checkIntervalMs);
    this.timer.unref();
  }

  private accept(socket: Socket): void {
    this.peer?.socket.destroy();
    this.stats.connections++;
    const peer = new LineChannel<ProxyMessage, AgentMessage>(socket, (m) => this.receive(peer, m));
    this.peer = peer;
    this.lastLocal = '';
    socket.on('error', (e) => this.deps.log.warn({ err: e.message }, 'L7 proxy channel error'));
    socket.on('close', () => {
      if (this.peer === peer) this.peer = undefined;
    });
    this.sendState();
  }

  private receive(peer: LineChannel<ProxyMessage, AgentMessage>, m: ProxyMessage): void {
    switch (m.t) {
      case 'hello':
        this.deps.log.info({ pid: m.pid }, 'L7 proxy connected');
        return;
      case 'event':
        this.stats.events++;
        this.deps.onEvent(m.event);
        return;
      case 'learn':
        this.stats.learned++;
        this.deps
          .learn(m.learned)
          .catch((e: unknown) => this.deps.log.warn({ err: (e as Error).message }, 'learning from a DNS answer failed'))
          .finally(() => peer.send({ t: 'learned', id: m.id }));
        return;
    }
  }

  /** Sends the state when it differs from what the connected proxy has. */
  private sendState(): void {
    const peer = this.peer;
    if (!peer || peer.socket.destroyed) return;
    let line: string;
    try {
      const s = this.deps.state();
      const local = `"endpoints":${JSON.stringify(s.endpoints)},"l7":${JSON.stringify(s.l7)}`;
      const revision = s.ipcache?.revision ?? -1;
      if (local === this.lastLocal && revision === this.lastRevision) return;
      if (revision !== this.lastRevision) this.ipcacheJson = s.ipcache ? JSON.stringify(s.ipcache.entries()) : '[]';
      this.lastLocal = local;
      this.lastRevision = revision;
      // the same line as JSON.stringify({ t: 'state', state }) (AgentMessage), the ipcache spliced in
      line = `{"t":"state","state":{${local},"ipcache":${this.ipcacheJson}}}`;
    } catch (e) {
      this.deps.log.warn({ err: (e as Error).message }, 'building the L7 proxy state failed');
      return;
    }
    this.stats.statesSent++;
    peer.socket.write(line + '\n');
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.peer?.socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * The state a proxy process reads, from the agent's parts: its local endpoints with an identity,
 * the ipcache entries, and the L7 table of each endpoint whose policy has L7 rules.
 *
 * The ipcache is what the datapath's map holds (as last synced: reading it takes no pending change
 * from the next sync; it used to, and a change made in the same turn as a check never reached the
 * kernel map). It goes only while some endpoint has an L7 table: the datapath redirects nothing to the
 * proxy otherwise, and the whole ipcache (50,000 prefixes in a large cluster) is O(cluster) work on
 * every node for nothing. With L7 rules it still goes whole when it changed (reading the pinned
 * ipcache map in the proxy, as upstream's Envoy does, is not done yet).
 */
export function l7State(
  endpoints: { list(): readonly { id: number; ipv4: string; identity?: number }[] },
  ipcache: { written(): readonly { prefix: string; identity: number }[]; readonly revision: number },
  engine: { l7Table(endpointId: number): L7Table | undefined },
): L7Snapshot {
  const eps = endpoints.list();
  const l7 = eps.flatMap((ep) => {
    const t = engine.l7Table(ep.id);
    return t ? [[ep.id, t] as [number, L7Table]] : [];
  });
  return {
    endpoints: eps.flatMap((ep): L7State['endpoints'] =>
      ep.identity === undefined ? [] : [[ep.ipv4, ep.id, ep.identity]],
    ),
    l7,
    ...(l7.length
      ? { ipcache: { revision: ipcache.revision, entries: () => ipcache.written().map((e) => [e.prefix, e.identity]) } }
      : {}),
  };
}
