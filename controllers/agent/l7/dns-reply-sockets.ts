// Sockets the DNS proxy answers UDP queries from. A pod's resolver only accepts an answer from the
// address and port it asked (RFC 5452 §9.1; glibc and musl both check), and the query reached the
// proxy on its own port, so the answer goes out from a transparent socket (IP_TRANSPARENT,
// SO_REUSEADDR: addon/sock.c) bound to the original destination, in the node's namespace. The pod's
// conntrack entry then sees the answer as the reply it is. Upstream's DNS proxy answers from the
// original destination too (pkg/fqdn/dnsproxy/udp.go). Kept per destination, least recently used
// first out, closed on eviction.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIP } from 'node:net';
import type { L7Peer } from '../../../proxy/l7-flow.js';

/** Makes a bound transparent UDP socket for (address, port) and returns its fd; throws when it cannot. */
export type TransparentUdpFactory = (family: 4 | 6, address: string, port: number) => number;

export interface ReplySocketStats {
  opened: number;
  evicted: number;
  /** destinations no socket could be bound for (e.g. a local server on that port without SO_REUSEADDR) */
  failed: number;
}

export class ReplySockets {
  private readonly sockets = new Map<string, UdpSocket>();
  readonly stats: ReplySocketStats = { opened: 0, evicted: 0, failed: 0 };

  /** `cap`: sockets kept open at once (one per resolver address:port the pods use; few in practice). */
  constructor(
    private readonly make: TransparentUdpFactory,
    private readonly cap = 256,
  ) {}

  get size(): number {
    return this.sockets.size;
  }

  /** The socket bound to `destination`, opened on first use; undefined when it cannot be bound. */
  get(destination: L7Peer): UdpSocket | undefined {
    const key = `${destination.address}:${destination.port}`;
    const hit = this.sockets.get(key);
    if (hit) {
      // most recently used last
      this.sockets.delete(key);
      this.sockets.set(key, hit);
      return hit;
    }
    const family = isIP(destination.address) === 6 ? 6 : 4;
    let fd: number;
    try {
      fd = this.make(family, destination.address, destination.port);
    } catch {
      this.stats.failed++;
      return undefined;
    }
    const sock = createSocket(family === 6 ? 'udp6' : 'udp4');
    sock.on('error', () => this.drop(key, sock));
    // nothing arrives on it (redirected queries are assigned to the proxy's own socket)
    sock.bind({ fd });
    this.sockets.set(key, sock);
    this.stats.opened++;
    while (this.sockets.size > this.cap) {
      const [oldest, s] = this.sockets.entries().next().value as [string, UdpSocket];
      this.drop(oldest, s);
      this.stats.evicted++;
    }
    return sock;
  }

  private drop(key: string, sock: UdpSocket): void {
    if (this.sockets.get(key) === sock) this.sockets.delete(key);
    try {
      sock.close();
    } catch {
      // already closed
    }
  }

  closeAll(): void {
    for (const [key, s] of [...this.sockets]) this.drop(key, s);
  }
}
