// Sockets the DNS proxy answers UDP queries from. A pod's resolver only accepts an answer from the
// address and port it asked (RFC 5452 §9.1; glibc and musl both check), and the query reached the
// proxy on its own port, so the answer goes out from a transparent socket (IP_TRANSPARENT,
// SO_REUSEADDR: addon/sock.c) bound to the original destination, in the node's namespace. The pod's
// conntrack entry then sees the answer as the reply it is. Upstream's DNS proxy answers from the
// original destination too (pkg/fqdn/dnsproxy/udp.go). Kept per destination, least recently used
// first out, closed on eviction.
// A server of the node itself (a hostNetwork DNS such as the devcluster's, node-local DNS) holds
// its port without SO_REUSEADDR, so nothing else can bind it: answers for it are written whole
// (IPv4 and UDP headers, from the server's address:port) on one raw socket instead. Without that,
// they left from the proxy's port and the pod's resolver discarded them.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIP, isIPv4 } from 'node:net';
import type { UdpSender } from '../../../proxy/dns-proxy.js';
import type { L7Peer } from '../../../proxy/l7-flow.js';

/** Makes a bound transparent UDP socket for (address, port) and returns its fd; throws when it cannot. */
export type TransparentUdpFactory = (family: 4 | 6, address: string, port: number) => number;

/** An IPv4 raw socket (IP_HDRINCL) and how to send a whole packet on it (addon/sock.c). */
export interface RawIpv4 {
  open(): number;
  send(fd: number, address: string, packet: Uint8Array): number;
  close(fd: number): void;
}

export interface ReplySocketStats {
  opened: number;
  evicted: number;
  /** destinations no socket could be bound for (e.g. a local server on that port without SO_REUSEADDR) */
  failed: number;
  /** answers of those written on the raw socket instead */
  raw: number;
}

export class ReplySockets {
  private readonly sockets = new Map<string, UdpSocket>();
  private rawFd?: number;
  readonly stats: ReplySocketStats = { opened: 0, evicted: 0, failed: 0, raw: 0 };

  /**
   * `cap`: sockets kept open at once (one per resolver address:port the pods use; few in practice).
   * `raw`: for IPv4 destinations no socket can be bound for; without it they are undefined.
   */
  constructor(
    private readonly make: TransparentUdpFactory,
    private readonly cap = 256,
    private readonly raw?: RawIpv4,
  ) {}

  get size(): number {
    return this.sockets.size;
  }

  /**
   * What answers for `destination` are sent with: the socket bound to it, opened on first use; when
   * it cannot be bound, the raw sender (IPv4) or undefined.
   */
  get(destination: L7Peer): UdpSender | undefined {
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
      return this.rawSender(destination);
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
    if (this.rawFd !== undefined) this.raw?.close(this.rawFd);
    this.rawFd = undefined;
  }

  private rawSender(from: L7Peer): UdpSender | undefined {
    const raw = this.raw;
    if (!raw || !isIPv4(from.address)) return undefined;
    try {
      this.rawFd ??= raw.open();
    } catch {
      return undefined;
    }
    const fd = this.rawFd;
    return {
      send: (msg, port, address) => {
        if (!isIPv4(address)) return;
        this.stats.raw++;
        raw.send(fd, address, udp4Packet(from, { address, port }, msg));
      },
    };
  }
}

const ipv4Bytes = (a: string): number[] => a.split('.').map(Number);

/**
 * An IPv4 packet carrying one UDP datagram from `src` to `dst` (RFC 768, RFC 791). The kernel
 * fills in the IP checksum, total length and id of a raw IP_HDRINCL packet (raw(7)); the UDP
 * checksum is ours.
 */
export function udp4Packet(src: L7Peer, dst: L7Peer, payload: Uint8Array): Buffer {
  const udpLen = 8 + payload.length;
  const p = Buffer.alloc(20 + udpLen);
  p[0] = 0x45; // version 4, 5 words
  p.writeUInt16BE(20 + udpLen, 2);
  p.writeUInt16BE(0x4000, 6); // don't fragment
  p[8] = 64; // TTL
  p[9] = 17; // UDP
  p.set(ipv4Bytes(src.address), 12);
  p.set(ipv4Bytes(dst.address), 16);
  p.writeUInt16BE(src.port, 20);
  p.writeUInt16BE(dst.port, 22);
  p.writeUInt16BE(udpLen, 24);
  p.set(payload, 28);
  // the pseudo-header (addresses, protocol, UDP length), then the datagram, in 16-bit words
  let sum = 17 + udpLen;
  for (let i = 12; i < 20; i += 2) sum += p.readUInt16BE(i);
  for (let i = 20; i < p.length; i += 2) sum += i + 1 < p.length ? p.readUInt16BE(i) : p[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  p.writeUInt16BE(~sum & 0xffff || 0xffff, 26); // 0 would mean "no checksum"
  return p;
}
