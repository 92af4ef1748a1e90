// The sim load balancer: the LB maps as byte entries in userspace and the socket-LB's decisions
// made exactly as datapath/bpf/sock_lb.bpf.c makes them (slot choice, affinity, refusal of a
// frontend with no backend, reverse translation checked against reverse NAT). The kernel-vs-sim
// test (test/datapath/sock-lb.test.ts) runs the same Services and calls through both.
import {
  decodeLbMaps,
  ipv4ToU32,
  LbIds,
  protoNumber,
  u32ToIpv4,
  type LbMapRow,
  type LbProto,
  type LbService,
  type LbSyncResult,
} from './lb.js';
import {
  ipv4RevnatEntry,
  ipv4RevnatTuple,
  lb4AffinityKey,
  lb4Backend,
  lb4Key,
  lb4ReverseNat,
  lb4Service,
  lbAffinityMatch,
  lbAffinityVal,
} from './lb-codecs.js';
import { LbMapNames, LbScope, SvcFlag } from './lb-constants.js';
import type { LoadBalancer } from './lb-kernel.js';
import { LbWriter, type LbMapName } from './lb-sync.js';
import type { RawEntry } from './map-sync.js';

export interface SockAddr {
  address: string;
  port: number;
}

/** One connect/sendmsg as the cgroup hook sees it. */
export interface SockCall {
  proto: LbProto;
  dst: SockAddr;
  /** bpf_get_socket_cookie(): one per socket */
  socketCookie: number;
  /** bpf_get_netns_cookie(): one per network namespace (the affinity key of socket-LB) */
  netnsCookie: number;
}

export type SockVerdict = { refused: false; dst: SockAddr; translated: boolean } | { refused: true };

export interface SimLbOptions {
  /** bpf_get_prandom_u32() */
  random: () => number;
  /** bpf_ktime_get_ns() in seconds */
  now: () => number;
}

export const defaultSimLbOptions: SimLbOptions = {
  random: () => Math.floor(Math.random() * 0x100000000),
  now: () => Number(process.hrtime.bigint() / 1_000_000_000n),
};

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const u32le = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const u16le = (n: number): Uint8Array => new Uint8Array(new Uint16Array([n]).buffer);

export class SimLoadBalancer implements LoadBalancer {
  readonly kind = 'sim';
  readonly opts: SimLbOptions;
  private readonly maps = new Map<LbMapName, Map<string, RawEntry>>(
    Object.values(LbMapNames).map((n) => [n, new Map<string, RawEntry>()]),
  );
  private readonly ids = new LbIds();

  constructor(opts: Partial<SimLbOptions> = {}) {
    this.opts = { ...defaultSimLbOptions, ...opts };
  }

  private m(name: LbMapName): Map<string, RawEntry> {
    return this.maps.get(name)!;
  }

  private get(name: LbMapName, key: Uint8Array): Uint8Array | undefined {
    return this.m(name).get(hex(key))?.value;
  }

  private put(name: LbMapName, key: Uint8Array, value: Uint8Array): void {
    this.m(name).set(hex(key), { key, value });
  }

  private readonly writer = new LbWriter(
    {
      dump: (name) => this.m(name),
      write: (name, entries) => {
        for (const e of entries) this.put(name, new Uint8Array(e.key), new Uint8Array(e.value));
      },
      remove: (name, keys) => {
        for (const k of keys) this.m(name).delete(hex(k));
      },
    },
    this.ids,
  );

  syncServices(desired: readonly LbService[]): LbSyncResult {
    return this.writer.sync(desired);
  }

  updateServices(changes: ReadonlyMap<string, LbService | undefined>): LbSyncResult {
    return this.writer.update(changes);
  }

  /** The raw entries of one LB map (tests, dumps). */
  entries(name: LbMapName): RawEntry[] {
    return [...this.m(name).values()];
  }

  dump(): LbMapRow[] {
    return decodeLbMaps([...this.m(LbMapNames.services).values()], [...this.m(LbMapNames.backends).values()]);
  }

  /** connect(2): cil_sock4_connect. */
  connect(c: SockCall): SockVerdict {
    return this.xlateFwd(c);
  }

  /** sendmsg(2) on an unconnected UDP socket: cil_sock4_sendmsg. */
  sendmsg(c: SockCall): SockVerdict {
    return this.xlateFwd(c);
  }

  /** recvmsg(2): the source a datagram from `from` reads as (cil_sock4_recvmsg). */
  recvmsg(socketCookie: number, from: SockAddr): SockAddr {
    return this.xlateRev(socketCookie, from);
  }

  /** getpeername(2): cil_sock4_getpeername. */
  getpeername(socketCookie: number, peer: SockAddr): SockAddr {
    return this.xlateRev(socketCookie, peer);
  }

  private xlateFwd(c: SockCall): SockVerdict {
    const pass: SockVerdict = { refused: false, dst: c.dst, translated: false };
    const key = {
      address: ipv4ToU32(c.dst.address),
      dport: c.dst.port,
      backendSlot: 0,
      proto: protoNumber(c.proto),
      scope: LbScope.ext,
    };
    const raw = this.get(LbMapNames.services, lb4Key.encode(key));
    if (!raw) return pass;
    const svc = lb4Service.decode(raw);
    if (svc.count === 0) return { refused: true };
    const affinity = (svc.flags & SvcFlag.affinity) !== 0;
    let backendId = affinity ? this.affinityBackend(svc, c.netnsCookie) : 0;
    if (!backendId) {
      const slot = this.get(
        LbMapNames.services,
        lb4Key.encode({ ...key, backendSlot: (this.opts.random() % svc.count) + 1 }),
      );
      if (!slot) return { refused: true };
      backendId = lb4Service.decode(slot).backendId;
    }
    const beRaw = this.get(LbMapNames.backends, u32le(backendId));
    if (!beRaw) return { refused: true };
    const be = lb4Backend.decode(beRaw);
    if (affinity)
      this.put(
        LbMapNames.affinity,
        lb4AffinityKey.encode({ clientId: c.netnsCookie, revNatId: svc.revNatIndex, netnsCookie: 1 }),
        lbAffinityVal.encode({ lastUsed: this.opts.now(), backendId }),
      );
    this.put(
      LbMapNames.reverseSk,
      ipv4RevnatTuple.encode({ cookie: c.socketCookie, address: be.address, port: be.port }),
      ipv4RevnatEntry.encode({ address: key.address, port: key.dport, revNatIndex: svc.revNatIndex }),
    );
    return { refused: false, dst: { address: u32ToIpv4(be.address), port: be.port }, translated: true };
  }

  private affinityBackend(svc: { revNatIndex: number; backendId: number }, netns: number): number {
    const key = lb4AffinityKey.encode({ clientId: netns, revNatId: svc.revNatIndex, netnsCookie: 1 });
    const raw = this.get(LbMapNames.affinity, key);
    if (!raw) return 0;
    const val = lbAffinityVal.decode(raw);
    // the frontend's backend_id field is its affinity timeout
    if (this.opts.now() - val.lastUsed > svc.backendId) return 0;
    if (
      !this.get(
        LbMapNames.affinityMatch,
        lbAffinityMatch.encode({ backendId: val.backendId, revNatId: svc.revNatIndex }),
      )
    )
      return 0;
    this.put(LbMapNames.affinity, key, lbAffinityVal.encode({ ...val, lastUsed: this.opts.now() }));
    return val.backendId;
  }

  private xlateRev(cookie: number, peer: SockAddr): SockAddr {
    const rkey = ipv4RevnatTuple.encode({ cookie, address: ipv4ToU32(peer.address), port: peer.port });
    const raw = this.get(LbMapNames.reverseSk, rkey);
    if (!raw) return peer;
    const r = ipv4RevnatEntry.decode(raw);
    const natRaw = this.get(LbMapNames.revNat, u16le(r.revNatIndex));
    const nat = natRaw && lb4ReverseNat.decode(natRaw);
    if (!nat || nat.address !== r.address || nat.port !== r.port) {
      this.m(LbMapNames.reverseSk).delete(hex(rkey));
      return peer;
    }
    return { address: u32ToIpv4(r.address), port: r.port };
  }

  close(): void {
    for (const m of this.maps.values()) m.clear();
  }
}
