// The L7 proxy process's end of the channel to the agent (l7-channel.ts; docs/design.md decision
// 30). It connects to the agent's socket and reconnects whenever it is gone (the agent restarting),
// keeps the last state the agent sent and answers the proxies' lookups from it — so while the
// agent is down the proxies keep enforcing the rules they had. A DNS answer's `learn` goes to the
// agent, and the answer waits for its acknowledgement; with no agent it is queued (bounded, the
// oldest dropped) and sent when the next agent connects, and the answer is released at once.
// L7 events with no agent to take them are dropped and counted. Each state is also saved to a
// file (`stateFile`), which a proxy restarted while the agent is down starts from.
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import type { Logger } from 'pino';
import { L7Lookup, ReservedIdentity, type L7Verdict } from '../../../policy/index.js';
import type { DnsLearned } from '../../../proxy/dns-proxy.js';
import type { L7Event } from '../../../proxy/l7-flow.js';
import { writeFileDurably } from '../durable-file.js';
import { longestPrefix } from '../ipcache.js';
import type { HttpRedirectDeps, LocalEndpoint } from './http-redirect.js';
import { LineChannel, type AgentMessage, type L7State, type ProxyMessage } from './l7-channel.js';
import { parsePrefix } from '../../../crds/index.js';
import { normalizePrefix, prefixText } from '../../../policy/identities.js';

export interface AgentLinkOptions {
  /** The agent's channel socket (`<dir of socket-path>/l7proxy.sock`). */
  socketPath: string;
  /** Between connection attempts while the agent is away. Lower: the next agent gets events and learns sooner. */
  reconnectMs: number;
  /** Learns kept while the agent is away (each is a name and its IPs); past it the oldest go. */
  learnQueue: number;
  /**
   * Where the last state is saved (0600, replaced whole) and read back at start, so a proxy
   * restarted while the agent is away serves its last rules, not none. null: not saved.
   */
  stateFile: string | null;
}

export const AGENT_LINK_DEFAULTS: Omit<AgentLinkOptions, 'socketPath'> = {
  reconnectMs: 100,
  learnQueue: 4096,
  stateFile: null,
};

export class AgentLink implements Required<Omit<HttpRedirectDeps, 'onL7Event'>> {
  private readonly o: AgentLinkOptions;
  private channel?: LineChannel<AgentMessage, ProxyMessage>;
  private endpoints = new Map<string, LocalEndpoint>();
  private ipcache = new Map<string, number>();
  private tables = new Map<number, L7Lookup>();
  private readonly pending = new Map<number, () => void>();
  private readonly queue: DnsLearned[] = [];
  private nextId = 1;
  private stopped = false;
  private retry?: NodeJS.Timeout;
  private firstState?: () => void;
  /**
   * Resolves when the agent's first state arrived (until then every lookup finds nothing, fail
   * closed, or answers from the saved state: `stats.restored`).
   */
  readonly ready = new Promise<void>((resolve) => (this.firstState = resolve));
  readonly stats = { connects: 0, states: 0, restored: 0, eventsDropped: 0, learnsQueued: 0, learnsDropped: 0 };

  constructor(
    private readonly log: Logger,
    options: Partial<AgentLinkOptions> & Pick<AgentLinkOptions, 'socketPath'>,
  ) {
    this.o = { ...AGENT_LINK_DEFAULTS, ...options };
  }

  /** Whether the agent is connected now. */
  get connected(): boolean {
    return !!this.channel && !this.channel.socket.destroyed;
  }

  /** Starts from the saved state, if any, and connects (and reconnects until close). */
  start(): void {
    this.stopped = false;
    this.restore();
    this.connect();
  }

  /** The saved state, applied; a missing or unreadable file leaves no state (fail closed). */
  private restore(): void {
    const file = this.o.stateFile;
    if (!file) return;
    let state: L7State;
    try {
      state = JSON.parse(readFileSync(file, 'utf8')) as L7State;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn({ err: (e as Error).message, file }, 'the saved L7 state is unreadable: waiting for the agent');
      return;
    }
    try {
      this.apply(state);
    } catch (e) {
      this.log.warn({ err: (e as Error).message, file }, 'the saved L7 state is malformed: waiting for the agent');
      return;
    }
    this.stats.restored++;
    this.log.info({ file, endpoints: state.endpoints.length }, 'serving the saved L7 state until the agent sends one');
  }

  private save(state: L7State): void {
    const file = this.o.stateFile;
    if (!file) return;
    try {
      writeFileDurably(file, JSON.stringify(state));
    } catch (e) {
      this.log.warn({ err: (e as Error).message, file }, 'saving the L7 state failed');
    }
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = createConnection(this.o.socketPath);
    const channel = new LineChannel<AgentMessage, ProxyMessage>(socket, (m) => this.receive(m));
    socket.on('connect', () => {
      this.stats.connects++;
      this.channel = channel;
      channel.send({ t: 'hello', pid: process.pid });
      // what the proxy learned while the agent was away: the agent programs it now
      for (const learned of this.queue.splice(0)) channel.send({ t: 'learn', id: 0, learned });
      this.log.info({ socket: this.o.socketPath }, 'connected to the agent');
    });
    socket.on('error', () => undefined); // ENOENT / ECONNREFUSED while the agent is away: retried on close
    socket.on('close', () => {
      if (this.channel === channel) {
        this.channel = undefined;
        this.log.warn('the agent went away: serving with the last state it sent');
      }
      // answers waiting for this agent are released (their learns are lost with it, as when it crashes)
      for (const release of this.pending.values()) release();
      this.pending.clear();
      if (!this.stopped) this.retry = setTimeout(() => this.connect(), this.o.reconnectMs);
    });
  }

  private receive(m: AgentMessage): void {
    if (m.t === 'learned') {
      this.pending.get(m.id)?.();
      this.pending.delete(m.id);
      return;
    }
    this.apply(m.state);
    this.firstState?.();
    this.firstState = undefined;
    this.save(m.state);
  }

  /** Replaces the state the lookups read. */
  apply(state: L7State): void {
    this.endpoints = new Map(state.endpoints.map(([ip, id, identity]) => [ip, { id, identity }]));
    this.ipcache = new Map();
    for (const [prefix, identity] of state.ipcache) {
      const p = parsePrefix(prefix);
      if (p) this.ipcache.set(prefixText(normalizePrefix(p)), identity);
    }
    this.tables = new Map(state.l7.map(([id, table]) => [id, new L7Lookup(table)]));
    this.stats.states++;
  }

  endpointByIp = (ip: string): LocalEndpoint | undefined => this.endpoints.get(ip);

  identityOf = (ip: string): number => longestPrefix(ip, (p) => this.ipcache.get(p)) ?? ReservedIdentity.world;

  l7Rules = (
    endpointId: number,
    direction: 'ingress' | 'egress',
    peer: number,
    proto: number,
    port: number,
  ): L7Verdict | undefined => this.tables.get(endpointId)?.l7Rules(direction, peer, proto, port);

  /** The proxies' L7 events go to the agent (dropped while it is away). */
  onL7Event = (event: L7Event): void => {
    if (!this.channel?.send({ t: 'event', event })) this.stats.eventsDropped++;
  };

  /** toFQDNs' beforeRelease: the agent programs what the answer taught, or it is queued for the next one. */
  beforeRelease = (learned: DnsLearned): Promise<void> => {
    const channel = this.channel;
    if (channel && !channel.socket.destroyed) {
      const id = this.nextId++;
      return new Promise<void>((resolve) => {
        this.pending.set(id, resolve);
        if (!channel.send({ t: 'learn', id, learned })) {
          this.pending.delete(id);
          this.enqueue(learned);
          resolve();
        }
      });
    }
    this.enqueue(learned);
    return Promise.resolve();
  };

  private enqueue(learned: DnsLearned): void {
    this.stats.learnsQueued++;
    this.queue.push(learned);
    if (this.queue.length > this.o.learnQueue) {
      this.queue.shift();
      this.stats.learnsDropped++;
    }
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.channel?.socket.destroy();
    for (const release of this.pending.values()) release();
    this.pending.clear();
  }
}
