// Packet parsing in userspace, mirroring datapath/bpf/parse.h decision for decision: the sim
// backend and policy trace must reach the verdicts and drop reasons the kernel reaches, including
// for truncated and malformed packets. A "load" fails exactly when bpf_skb_load_bytes would:
// when offset + length exceeds the packet length.
import { Drop, Family, Proto, type FamilyId } from './constants.js';

export interface ParsedPacket {
  family: FamilyId;
  nexthdr: number;
  tcpFlags: number;
  /** false: not tracked (ICMP other than echo), policy on every packet */
  ctAble: boolean;
  saddr: Uint8Array; // 16 bytes
  daddr: Uint8Array;
  sport: number;
  dport: number;
  /** port looked up in policy (ICMP: the type) */
  policyPort: number;
}

export type ParseResult =
  { kind: 'ok'; pkt: ParsedPacket } | { kind: 'pass' } | { kind: 'drop'; reason: number; ipv6: boolean };

const ETH_HLEN = 14;
const IPV6_MAX_EXTHDRS = 4;
const EXT = { hop: 0, routing: 43, fragment: 44, ah: 51, dstopts: 60 } as const;

export function parsePacket(f: Uint8Array): ParseResult {
  const len = f.length;
  const has = (off: number, n: number): boolean => off + n <= len;
  const u16 = (off: number): number => ((f[off] ?? 0) << 8) | (f[off + 1] ?? 0);
  // ipv6: whether the C code had set the family when it dropped (it flags the drop event)
  let v6Known = false;
  const drop = (reason: number): ParseResult => ({ kind: 'drop', reason, ipv6: v6Known });

  if (!has(12, 2)) return drop(Drop.invalid);
  const pkt: ParsedPacket = {
    family: Family.ipv4,
    nexthdr: 0,
    tcpFlags: 0,
    ctAble: true,
    saddr: new Uint8Array(16),
    daddr: new Uint8Array(16),
    sport: 0,
    dport: 0,
    policyPort: 0,
  };
  const l4 = (off: number): ParseResult => {
    pkt.ctAble = true;
    switch (pkt.nexthdr) {
      case Proto.tcp:
        if (!has(off, 20) || (f[off + 12] ?? 0) >> 4 < 5) return drop(Drop.ctInvalidHdr);
        pkt.sport = u16(off);
        pkt.dport = u16(off + 2);
        pkt.policyPort = pkt.dport;
        pkt.tcpFlags = f[off + 13] ?? 0;
        return { kind: 'ok', pkt };
      case Proto.udp:
        if (!has(off, 8)) return drop(Drop.ctInvalidHdr);
        pkt.sport = u16(off);
        pkt.dport = u16(off + 2);
        pkt.policyPort = pkt.dport;
        return { kind: 'ok', pkt };
      case Proto.icmp:
      case Proto.icmpv6: {
        if (!has(off, 8)) return drop(Drop.ctInvalidHdr);
        const type = f[off] ?? 0;
        const id = u16(off + 4);
        const v6 = pkt.nexthdr === Proto.icmpv6;
        pkt.policyPort = type;
        if (v6 && type >= 133 && type <= 137) return { kind: 'pass' };
        if ((!v6 && type === 8) || (v6 && type === 128)) pkt.sport = id;
        else if ((!v6 && type === 0) || (v6 && type === 129)) pkt.dport = id;
        else pkt.ctAble = false;
        return { kind: 'ok', pkt };
      }
      default:
        return { kind: 'ok', pkt };
    }
  };

  switch (u16(12)) {
    case 0x0800: {
      if (!has(ETH_HLEN, 20)) return drop(Drop.invalid);
      const vihl = f[ETH_HLEN] ?? 0;
      const ihl = vihl & 0xf;
      const hlen = ihl * 4;
      const tot = u16(ETH_HLEN + 2);
      if (vihl >> 4 !== 4 || ihl < 5 || tot < hlen || tot > len - ETH_HLEN) return drop(Drop.invalid);
      if (u16(ETH_HLEN + 6) & 0x1fff) return drop(Drop.fragNoSupport);
      pkt.family = Family.ipv4;
      pkt.nexthdr = f[ETH_HLEN + 9] ?? 0;
      pkt.saddr.set(f.subarray(ETH_HLEN + 12, ETH_HLEN + 16));
      pkt.daddr.set(f.subarray(ETH_HLEN + 16, ETH_HLEN + 20));
      return l4(ETH_HLEN + hlen);
    }
    case 0x86dd: {
      if (!has(ETH_HLEN, 40) || (f[ETH_HLEN] ?? 0) >> 4 !== 6) return drop(Drop.invalid);
      pkt.family = Family.ipv6;
      v6Known = true;
      pkt.saddr.set(f.subarray(ETH_HLEN + 8, ETH_HLEN + 24));
      pkt.daddr.set(f.subarray(ETH_HLEN + 24, ETH_HLEN + 40));
      let nh = f[ETH_HLEN + 6] ?? 0;
      let off = ETH_HLEN + 40;
      for (let i = 0; i < IPV6_MAX_EXTHDRS; i++) {
        switch (nh) {
          case EXT.hop:
          case EXT.routing:
          case EXT.dstopts:
            if (!has(off, 2)) return drop(Drop.invalidExthdr);
            nh = f[off] ?? 0;
            off += ((f[off + 1] ?? 0) + 1) * 8;
            continue;
          case EXT.ah:
            if (!has(off, 2)) return drop(Drop.invalidExthdr);
            nh = f[off] ?? 0;
            off += ((f[off + 1] ?? 0) + 2) * 4;
            continue;
          case EXT.fragment:
            if (!has(off, 8)) return drop(Drop.invalidExthdr);
            if (u16(off + 2) & 0xfff8) return drop(Drop.fragNoSupport);
            nh = f[off] ?? 0;
            off += 8;
            continue;
          default:
            pkt.nexthdr = nh;
            return l4(off);
        }
      }
      if (([EXT.hop, EXT.routing, EXT.dstopts, EXT.ah, EXT.fragment] as number[]).includes(nh))
        return drop(Drop.invalidExthdr);
      pkt.nexthdr = nh;
      return l4(off);
    }
    case 0x0806:
      return { kind: 'pass' };
    default:
      return drop(Drop.unknownL3);
  }
}
