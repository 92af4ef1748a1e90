// The sim backend's conntrack table: the userspace mirror of datapath/bpf/conntrack.h (lookup in both
// directions, per-direction accounting, TCP close tracking, lifetimes) over entries that encode to the
// same bytes the kernel's cilium_ct4/ct6 maps hold.
import { ctEntry, ipv4CtTuple, ipv6CtTuple, type CtEntry } from './codecs.js';
import { CtFlag, CtStatus, Dir, Family, Proto, Sizes, TupleFlag } from './constants.js';
import type { ConntrackGcResult, DatapathConfig } from './datapath.js';
import { decodeConntrack, type ConntrackDump } from './dump.js';
import type { RawEntry } from './map-sync.js';
import type { ParsedPacket } from './parse.js';

const TCP = { fin: 0x01, syn: 0x02, rst: 0x04, ack: 0x10 } as const;
/** lookup result: the packet just closed the flow (C: CT_CLOSING_NOW, traced but not re-checked) */
export const CT_CLOSING_NOW = 10;
/** lookup result: the packet is not conntrack-able (fragments, unknown L4) */
export const CT_UNTRACKED = 11;

export class SimConntrack {
  private readonly ct = new Map<string, CtEntry>();

  constructor(
    private readonly config: DatapathConfig,
    /** monotonic nanoseconds */
    private readonly clockNs: () => bigint,
  ) {}

  /** C: ct_lookup — a CtStatus, CT_CLOSING_NOW or CT_UNTRACKED; accounts the packet on a hit. */
  lookup(p: ParsedPacket, dir: number, len: number, st?: { flags: number; peer: number }): number {
    const own = dir === Dir.egress ? TupleFlag.out : TupleFlag.in;
    const other = dir === Dir.egress ? TupleFlag.in : TupleFlag.out;
    const now = this.nowSec();
    const pureSyn = p.nexthdr === Proto.tcp && (p.tcpFlags & (TCP.syn | TCP.ack)) === TCP.syn;
    if (!p.ctAble) return CT_UNTRACKED;
    let e = this.ct.get(this.tuple(p, false, own));
    if (e && e.lifetime >= now) {
      if (pureSyn && e.flags & (CtFlag.rxClosing | CtFlag.txClosing)) return CtStatus.new;
      if (st) {
        st.flags = e.flags;
        st.peer = e.srcSecId;
      }
      return this.account(p, e, false, len, now);
    }
    e = this.ct.get(this.tuple(p, true, other));
    if (e && e.lifetime >= now) {
      const r = this.account(p, e, true, len, now);
      return r === CT_CLOSING_NOW ? r : CtStatus.reply;
    }
    return CtStatus.new;
  }

  /** C: ct_create — the flow's entry, keyed by the packet's own tuple. */
  create(p: ParsedPacket, dir: number, peer: number, len: number, flags = 0): void {
    const e = ctEntry.decode(new Uint8Array(ctEntry.size));
    e.txPackets = 1;
    e.txBytes = len;
    e.txFlagsSeen = p.tcpFlags;
    e.srcSecId = peer;
    e.flags = flags;
    if (p.nexthdr === Proto.tcp && (!(p.tcpFlags & TCP.syn) || p.tcpFlags & TCP.ack)) e.flags |= CtFlag.seenNonSyn;
    if (p.nexthdr === Proto.tcp && p.tcpFlags & TCP.rst) e.flags |= CtFlag.rxClosing | CtFlag.txClosing;
    e.lifetime = this.nowSec() + this.lifetime(p, e.flags);
    this.ct.set(this.tuple(p, false, dir === Dir.egress ? TupleFlag.out : TupleFlag.in), e);
  }

  gc(): ConntrackGcResult {
    const now = this.nowSec();
    let deleted = 0;
    for (const [k, e] of this.ct) if (e.lifetime < now && this.ct.delete(k)) deleted++;
    return { deleted, alive: this.ct.size, capacity: Sizes.ct4 + Sizes.ct6 };
  }

  dump(): ConntrackDump[] {
    const raw: Record<number, RawEntry[]> = { [Family.ipv4]: [], [Family.ipv6]: [] };
    for (const [k, e] of this.ct) {
      const [family, d, s, dport, sport, nexthdr, flags] = k.split('|');
      const codec = Number(family) === Family.ipv4 ? ipv4CtTuple : ipv6CtTuple;
      const key = codec.encode({
        daddr: Buffer.from(d!, 'hex'),
        saddr: Buffer.from(s!, 'hex'),
        dport: Number(dport),
        sport: Number(sport),
        nexthdr: Number(nexthdr),
        flags: Number(flags),
      });
      raw[Number(family)]!.push({ key, value: ctEntry.encode(e) });
    }
    return decodeConntrack(raw[Family.ipv4]!, raw[Family.ipv6]!);
  }

  private nowSec(): number {
    return Number(this.clockNs() / 1_000_000_000n);
  }

  private lifetime(p: ParsedPacket, flags: number): number {
    const c = this.config;
    if (p.nexthdr !== Proto.tcp) return c.ctLifetimeNonTcp;
    const closing = CtFlag.rxClosing | CtFlag.txClosing;
    if ((flags & closing) === closing) return c.ctCloseTimeout;
    if (!(flags & CtFlag.seenNonSyn)) return c.ctSynTimeout;
    return c.ctLifetimeTcp;
  }

  private tuple(p: ParsedPacket, reverse: boolean, flags: number): string {
    const n = p.family === Family.ipv4 ? 4 : 16;
    const s = (reverse ? p.daddr : p.saddr).subarray(0, n);
    const d = (reverse ? p.saddr : p.daddr).subarray(0, n);
    const sp = reverse ? p.dport : p.sport;
    const dp = reverse ? p.sport : p.dport;
    return `${p.family}|${Buffer.from(d).toString('hex')}|${Buffer.from(s).toString('hex')}|${dp}|${sp}|${p.nexthdr}|${flags}`;
  }

  private account(p: ParsedPacket, e: CtEntry, reply: boolean, len: number, now: number): number {
    const was = e.flags;
    let flags = was;
    if (this.config.ctAccounting) {
      if (reply) {
        e.rxPackets++;
        e.rxBytes += len;
      } else {
        e.txPackets++;
        e.txBytes += len;
      }
    }
    if (reply) e.rxFlagsSeen |= p.tcpFlags;
    else e.txFlagsSeen |= p.tcpFlags;
    if (p.nexthdr === Proto.tcp) {
      if (p.tcpFlags & TCP.rst) flags |= CtFlag.rxClosing | CtFlag.txClosing;
      else if (p.tcpFlags & TCP.fin) flags |= reply ? CtFlag.rxClosing : CtFlag.txClosing;
      if (!(p.tcpFlags & TCP.syn) || p.tcpFlags & TCP.ack) flags |= CtFlag.seenNonSyn;
    }
    e.flags = flags;
    // refreshed only when it moves by more than a second (or shrinks), as the C code does
    const lifetime = now + this.lifetime(p, flags);
    if (lifetime < e.lifetime || lifetime > e.lifetime + 1) e.lifetime = lifetime;
    const closing = CtFlag.rxClosing | CtFlag.txClosing;
    if (!(was & closing) && flags & closing) return CT_CLOSING_NOW;
    return CtStatus.established;
  }
}
