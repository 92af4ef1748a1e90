// Crafting Ethernet frames for BPF_PROG_TEST_RUN, the sim, policy trace and the differential
// test. Checksums are filled in (the programs do not check them, but a frame should be real).
import { Family, Proto } from './constants.js';
import { parseIp } from './ip.js';

export interface PacketSpec {
  src: string;
  dst: string;
  /** 'tcp' | 'udp' | 'icmp' (ICMPv6 for IPv6 addresses) or an IP protocol number */
  proto: 'tcp' | 'udp' | 'icmp' | number;
  sport?: number;
  dport?: number;
  /** TCP flags byte; default SYN */
  tcpFlags?: number;
  icmpType?: number;
  icmpId?: number;
  payloadLen?: number;
  /** IPv6 extension headers to insert before L4 (next-header numbers: 0, 43, 60) */
  ipv6Ext?: number[];
}

export const TcpFlags = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10 } as const;

export function buildFrame(spec: PacketSpec): Uint8Array {
  const s = parseIp(spec.src);
  const d = parseIp(spec.dst);
  if (s.family !== d.family) throw new TypeError('source and destination families differ');
  const v6 = s.family === Family.ipv6;
  const proto =
    spec.proto === 'tcp'
      ? Proto.tcp
      : spec.proto === 'udp'
        ? Proto.udp
        : spec.proto === 'icmp'
          ? v6
            ? Proto.icmpv6
            : Proto.icmp
          : spec.proto;
  const l4 = buildL4(proto, spec);
  const payload = new Uint8Array(spec.payloadLen ?? 0);
  const ext = v6 ? (spec.ipv6Ext ?? []) : [];
  const extLen = ext.length * 8;
  const l3Len = v6 ? 40 : 20;
  const frame = new Uint8Array(14 + l3Len + extLen + l4.length + payload.length);
  const dv = new DataView(frame.buffer);
  frame.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]);
  dv.setUint16(12, v6 ? 0x86dd : 0x0800);
  const l4Off = 14 + l3Len + extLen;
  frame.set(l4, l4Off);
  frame.set(payload, l4Off + l4.length);
  const l4Total = l4.length + payload.length;
  if (v6) {
    dv.setUint32(14, 0x60000000);
    dv.setUint16(18, extLen + l4Total);
    frame[20] = ext[0] ?? proto;
    frame[21] = 64;
    frame.set(s.bytes, 22);
    frame.set(d.bytes, 38);
    ext.forEach((_, i) => {
      const off = 54 + i * 8;
      frame[off] = ext[i + 1] ?? proto;
      frame[off + 1] = 0; // (0 + 1) * 8 bytes
      frame[off + 2] = 1; // PadN option filling the rest
      frame[off + 3] = 4;
    });
  } else {
    frame[14] = 0x45;
    dv.setUint16(16, 20 + l4Total);
    dv.setUint16(18, 0x1234);
    frame[22] = 64;
    frame[23] = proto;
    frame.set(s.bytes.subarray(0, 4), 26);
    frame.set(d.bytes.subarray(0, 4), 30);
    dv.setUint16(24, checksum(frame.subarray(14, 34)));
  }
  fillL4Checksum(frame, v6, proto, l4Off, l4Total, s.bytes, d.bytes);
  return frame;
}

function buildL4(proto: number, spec: PacketSpec): Uint8Array {
  switch (proto) {
    case Proto.tcp: {
      const b = new Uint8Array(20);
      const dv = new DataView(b.buffer);
      dv.setUint16(0, spec.sport ?? 40000);
      dv.setUint16(2, spec.dport ?? 80);
      dv.setUint32(4, 1000);
      b[12] = 5 << 4;
      b[13] = spec.tcpFlags ?? TcpFlags.syn;
      dv.setUint16(14, 65535);
      return b;
    }
    case Proto.udp: {
      const b = new Uint8Array(8);
      const dv = new DataView(b.buffer);
      dv.setUint16(0, spec.sport ?? 40000);
      dv.setUint16(2, spec.dport ?? 53);
      dv.setUint16(4, 8 + (spec.payloadLen ?? 0));
      return b;
    }
    case Proto.icmp:
    case Proto.icmpv6: {
      const b = new Uint8Array(8);
      b[0] = spec.icmpType ?? (proto === Proto.icmp ? 8 : 128);
      new DataView(b.buffer).setUint16(4, spec.icmpId ?? 7);
      return b;
    }
    default:
      return new Uint8Array(8);
  }
}

/** The Internet checksum (RFC 1071) of `b`; 0 over a header whose checksum field is right. */
export function checksum(b: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < b.length; i += 2) sum += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  if (b.length % 2) sum += (b[b.length - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function fillL4Checksum(
  f: Uint8Array,
  v6: boolean,
  proto: number,
  off: number,
  len: number,
  s: Uint8Array,
  d: Uint8Array,
): void {
  const at =
    proto === Proto.tcp ? 16 : proto === Proto.udp ? 6 : proto === Proto.icmp || proto === Proto.icmpv6 ? 2 : -1;
  if (at < 0) return;
  let pseudo = 0;
  if (proto !== Proto.icmp) {
    const n = v6 ? 16 : 4;
    for (let i = 0; i < n; i += 2)
      pseudo += (((s[i] ?? 0) << 8) | (s[i + 1] ?? 0)) + (((d[i] ?? 0) << 8) | (d[i + 1] ?? 0));
    pseudo += proto + len;
  }
  const c = checksum(f.subarray(off, off + len), pseudo);
  new DataView(f.buffer).setUint16(off + at, c === 0 && proto === Proto.udp ? 0xffff : c);
}
