// The contract between the agent and its L7 proxy process (cmd/cilium-l7proxy.ts; docs/design.md
// decision 30): one unix stream socket the agent listens on, newline-delimited JSON both ways.
// Agent → proxy: the whole state the proxies read (`state`, sent when it changed) and the
// acknowledgement of each `learn`. Proxy → agent: L7 events for Hubble, and what each allowed DNS
// answer taught (`learn`), which the agent programs (toFQDNs) before it acknowledges.
import type { Socket } from 'node:net';
import type { L7Table } from '../../../policy/index.js';
import type { DnsLearned } from '../../../proxy/dns-proxy.js';
import type { L7Event } from '../../../proxy/l7-flow.js';

/** The socket's name beside the agent's REST socket (/var/run/cilium/l7proxy.sock by default). */
export const L7_CHANNEL_SOCKET = 'l7proxy.sock';

/** The proxy process's last state, beside the socket (AgentLink `stateFile`). */
export const L7_STATE_FILE = 'l7proxy-state.json';

/** What the proxies read from the agent, as plain data. */
export interface L7State {
  /** Local endpoints: address, endpoint id, security identity. */
  endpoints: [ip: string, id: number, identity: number][];
  /** The ipcache: prefix ("10.0.0.0/8", "10.1.2.3/32") → identity. */
  ipcache: [prefix: string, identity: number][];
  /** Per local endpoint whose policy has L7 rules, what `l7Rules` reads (policy/l7-table.ts). */
  l7: [endpointId: number, table: L7Table][];
}

export type AgentMessage = { t: 'state'; state: L7State } | { t: 'learned'; id: number };

export type ProxyMessage =
  { t: 'hello'; pid: number } | { t: 'event'; event: L7Event } | { t: 'learn'; id: number; learned: DnsLearned };

/** A line longer than this ends the connection (a state of ~100k entries fits). */
export const MAX_LINE = 64 * 1024 * 1024;

/**
 * Frames messages on a stream socket: one JSON object per line. A line that does not parse, or one
 * too long, destroys the socket (the other side reconnects and starts from a whole state again).
 */
export class LineChannel<In, Out> {
  private buffered: string[] = [];
  private size = 0;

  constructor(
    readonly socket: Socket,
    onMessage: (m: In) => void,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      let start = 0;
      for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
        const line = this.buffered.join('') + chunk.slice(start, nl);
        this.buffered = [];
        this.size = 0;
        start = nl + 1;
        let m: In;
        try {
          m = JSON.parse(line) as In;
        } catch {
          socket.destroy(new Error('l7 channel: a line that is not JSON'));
          return;
        }
        onMessage(m);
      }
      if (start < chunk.length) {
        this.buffered.push(chunk.slice(start));
        this.size += chunk.length - start;
        if (this.size > MAX_LINE) socket.destroy(new Error(`l7 channel: a line longer than ${MAX_LINE} bytes`));
      }
    });
  }

  /** False when the socket is gone (the message is dropped). */
  send(m: Out): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    this.socket.write(JSON.stringify(m) + '\n');
    return true;
  }
}
