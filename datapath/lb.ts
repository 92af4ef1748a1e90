// The load balancer as the datapath sees it: frontends with their backends in slot order, and
// how that becomes the entries of cilium_lb4_services_v2 / _backends_v3 / _reverse_nat /
// cilium_lb_affinity_match. Pure: both backends (lb-kernel.ts, lb-sim.ts) build their maps from
// `lbEntries`, and the ids it hands out are taken from what the maps already hold, so an agent
// that restarts with the same Services computes byte-identical entries and writes nothing.
import { lb4Backend, lb4Key, lb4ReverseNat, lb4Service, lbAffinityMatch } from './lb-codecs.js';
import { BackendState, LbScope, SvcFlag, SvcFlag2, type BackendStateName } from './lb-constants.js';
import type { RawEntry } from './map-sync.js';
import { Proto } from './constants.js';

export type LbProto = 'TCP' | 'UDP';
export type LbServiceType = 'ClusterIP' | 'NodePort' | 'ExternalIPs' | 'LoadBalancer' | 'HostPort';

export interface LbFrontend {
  /** IPv4 address (a ClusterIP, a node address, "0.0.0.0" for NodePort on any local address) */
  address: string;
  port: number;
  proto: LbProto;
  /** 'int': the in-cluster half of a Service with two scopes (traffic policies); default 'ext' */
  scope?: 'ext' | 'int';
}

export interface LbBackend {
  address: string;
  port: number;
  proto: LbProto;
  state: BackendStateName;
}

/** One frontend of a Service and the backends that take its new connections, in slot order. */
export interface LbService {
  frontend: LbFrontend;
  type: LbServiceType;
  /** the Service ("namespace/name"), for listings */
  name?: string;
  /** backends in slot order: exactly those a new connection may be given */
  backends: readonly LbBackend[];
  /** sessionAffinity ClientIP: seconds (0 = no affinity) */
  affinityTimeoutSec?: number;
  /** SVC_FLAG_ROUTABLE is set unless false (0.0.0.0 NodePort frontends are non-routable) */
  routable?: boolean;
  extLocal?: boolean;
  intLocal?: boolean;
}

/** What one sync wrote, per map. */
export interface LbSyncResult {
  services: { upserts: number; deletes: number; unchanged: number };
  backends: { upserts: number; deletes: number; unchanged: number };
  revNat: { upserts: number; deletes: number; unchanged: number };
}

export const protoNumber = (p: LbProto): number => (p === 'TCP' ? Proto.tcp : Proto.udp);
export const protoName = (n: number): LbProto | `${number}` =>
  n === Proto.tcp ? 'TCP' : n === Proto.udp ? 'UDP' : `${n}`;

export function ipv4ToU32(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255))
    throw new TypeError(`invalid IPv4 address "${s}"`);
  return parts.reduce((a, p) => a * 256 + Number(p), 0);
}

export function u32ToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

export const frontendId = (f: LbFrontend): string =>
  `${f.address}:${f.port}/${f.proto}${f.scope === 'int' ? '/i' : ''}`;
export const backendAddr = (b: { address: string; port: number; proto: LbProto }): string =>
  `${b.address}:${b.port}/${b.proto}`;

/**
 * Stable ids: a frontend's rev_nat_index (its upstream "service ID", u16) and a backend's id (u32,
 * one per address:port/proto, shared by every Service that uses it). Seeded from the maps on
 * start so ids survive restarts. New ids count up from the highest ever given (a freed id is
 * not handed to another backend in the same breath, while a slot may still name it), and wrap to
 * the lowest free one at the limit.
 */
export class LbIds {
  private readonly frontends = new Map<string, number>();
  private readonly backends = new Map<string, number>();
  private highF = 0;
  private highB = 0;
  /** ids were handed out again from the bottom: ones above the highest may be taken */
  private readonly wrapped = { F: false, B: false };

  constructor(
    private readonly maxServices = 65535,
    private readonly maxBackends = 0xffffffff,
  ) {}

  /** Adopts the ids the maps hold now (after a restart). */
  seed(current: { frontends: Map<string, number>; backends: Map<string, number> }): void {
    for (const [k, v] of current.frontends) {
      this.frontends.set(k, v);
      this.highF = Math.max(this.highF, v);
    }
    for (const [k, v] of current.backends) {
      this.backends.set(k, v);
      this.highB = Math.max(this.highB, v);
    }
  }

  /** Keeps ids of what is still wanted, frees the rest, and assigns ids to what is new. */
  assign(services: readonly LbService[]): { frontend: Map<string, number>; backend: Map<string, number> } {
    const wantF = new Set(services.map((s) => frontendId(s.frontend)));
    const wantB = new Set(services.flatMap((s) => s.backends.map(backendAddr)));
    for (const k of [...this.frontends.keys()]) if (!wantF.has(k)) this.frontends.delete(k);
    for (const k of [...this.backends.keys()]) if (!wantB.has(k)) this.backends.delete(k);
    const take = (used: Map<string, number>, high: number, max: number, what: string, wrap: () => void) => {
      const taken = new Set(used.values());
      let next = high + 1;
      return (): number => {
        if (next > max) {
          next = 1;
          wrap();
        }
        const start = next;
        while (taken.has(next)) {
          next = next >= max ? 1 : next + 1;
          if (next === start) throw new RangeError(`no free ${what} id (all ${max} in use)`);
        }
        taken.add(next);
        return next++;
      };
    };
    const nextF = take(this.frontends, this.highF, this.maxServices, 'service', () => (this.wrapped.F = true));
    for (const k of wantF)
      if (!this.frontends.has(k)) {
        const id = nextF();
        this.frontends.set(k, id);
        this.highF = id;
      }
    const nextB = take(this.backends, this.highB, this.maxBackends, 'backend', () => (this.wrapped.B = true));
    for (const k of wantB)
      if (!this.backends.has(k)) {
        const id = nextB();
        this.backends.set(k, id);
        this.highB = id;
      }
    return { frontend: new Map(this.frontends), backend: new Map(this.backends) };
  }

  /** One frontend's id, allocated if new (the incremental path of LbWriter). */
  frontend(fid: string): number {
    return this.one(this.frontends, fid, 'F');
  }

  backend(addr: string): number {
    return this.one(this.backends, addr, 'B');
  }

  dropFrontend(fid: string): void {
    this.frontends.delete(fid);
  }

  dropBackend(addr: string): void {
    this.backends.delete(addr);
  }

  private one(used: Map<string, number>, k: string, kind: 'F' | 'B'): number {
    const have = used.get(k);
    if (have !== undefined) return have;
    const max = kind === 'F' ? this.maxServices : this.maxBackends;
    let next = (kind === 'F' ? this.highF : this.highB) + 1;
    // until ids wrap at the limit, those above the highest given are free: no need to collect the taken ones
    if (next <= max && !this.wrapped[kind]) {
      used.set(k, next);
      if (kind === 'F') this.highF = next;
      else this.highB = next;
      return next;
    }
    this.wrapped[kind] = true;
    const taken = new Set(used.values());
    for (let n = 0; taken.has(next) || next > max; n++) {
      if (n > max) throw new RangeError(`no free ${kind === 'F' ? 'service' : 'backend'} id (all ${max} in use)`);
      next = next >= max ? 1 : next + 1;
    }
    used.set(k, next);
    if (kind === 'F') this.highF = next;
    else this.highB = next;
    return next;
  }
}

/** A map entry with its key as hex, the identity the diff compares by. */
export interface KeyedEntry extends RawEntry {
  readonly hex: string;
}

export interface LbEntries {
  services: KeyedEntry[];
  backends: KeyedEntry[];
  revNat: KeyedEntry[];
  affinityMatch: KeyedEntry[];
}

const u32le = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const u16le = (n: number): Uint8Array => {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, n, true);
  return b;
};
export const hexOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const keyed = (key: Uint8Array, value: Uint8Array): KeyedEntry => ({ key, value, hex: hexOf(key) });

export function serviceFlags(s: LbService): { flags: number; flags2: number } {
  let flags = 0;
  if (s.type === 'NodePort') flags |= SvcFlag.nodePort;
  if (s.type === 'ExternalIPs') flags |= SvcFlag.externalIp;
  if (s.type === 'LoadBalancer') flags |= SvcFlag.loadBalancer;
  if (s.type === 'HostPort') flags |= SvcFlag.hostPort;
  if (s.affinityTimeoutSec) flags |= SvcFlag.affinity;
  if (s.routable !== false) flags |= SvcFlag.routable;
  if (s.extLocal) flags |= SvcFlag.extLocalScope;
  let flags2 = 0;
  if (s.intLocal) flags2 |= SvcFlag2.intLocalScope;
  return { flags, flags2 };
}

/** One frontend's entries, as computed for its ids (reused while the object and its ids stay). */
interface Part {
  revNat: number;
  backendIds: number[];
  entries: LbEntries;
}

/**
 * Encoded entries per LbService object: the agent keeps the objects of Services that did not
 * change, so a sync among 10,000 Services encodes only the changed ones.
 */
export type LbEntryMemo = WeakMap<LbService, Part>;

export function encodeService(s: LbService, revNat: number, backendIds: number[]): LbEntries {
  const f = s.frontend;
  const out: LbEntries = { services: [], backends: [], revNat: [], affinityMatch: [] };
  const { flags, flags2 } = serviceFlags(s);
  const base = {
    address: ipv4ToU32(f.address),
    dport: f.port,
    proto: protoNumber(f.proto),
    scope: f.scope === 'int' ? LbScope.int : LbScope.ext,
  };
  out.services.push(
    keyed(
      lb4Key.encode({ ...base, backendSlot: 0 }),
      lb4Service.encode({
        backendId: s.affinityTimeoutSec ?? 0,
        count: s.backends.length,
        revNatIndex: revNat,
        flags,
        flags2,
      }),
    ),
  );
  s.backends.forEach((b, i) => {
    const id = backendIds[i]!;
    out.services.push(
      keyed(lb4Key.encode({ ...base, backendSlot: i + 1 }), lb4Service.encode({ backendId: id, revNatIndex: revNat })),
    );
    if (s.affinityTimeoutSec)
      out.affinityMatch.push(keyed(lbAffinityMatch.encode({ backendId: id, revNatId: revNat }), new Uint8Array(1)));
    out.backends.push(
      keyed(
        u32le(id),
        lb4Backend.encode({
          address: ipv4ToU32(b.address),
          port: b.port,
          proto: protoNumber(b.proto),
          flags: BackendState[b.state],
        }),
      ),
    );
  });
  out.revNat.push(keyed(u16le(revNat), lb4ReverseNat.encode({ address: base.address, port: f.port })));
  return out;
}

/** The entries of every LB map for `services`, with ids from `ids` (which it updates). */
export function lbEntries(services: readonly LbService[], ids: LbIds, memo: LbEntryMemo = new WeakMap()): LbEntries {
  const { frontend: fIds, backend: bIds } = ids.assign(services);
  const out: LbEntries = { services: [], backends: [], revNat: [], affinityMatch: [] };
  const backendsDone = new Set<string>();
  for (const s of services) {
    const revNat = fIds.get(frontendId(s.frontend))!;
    const backendIds = s.backends.map((b) => bIds.get(backendAddr(b))!);
    let part = memo.get(s);
    if (!part || part.revNat !== revNat || part.backendIds.some((id, i) => id !== backendIds[i])) {
      part = { revNat, backendIds, entries: encodeService(s, revNat, backendIds) };
      memo.set(s, part);
    }
    const e = part.entries;
    for (const x of e.services) out.services.push(x);
    for (const x of e.affinityMatch) out.affinityMatch.push(x);
    for (const x of e.revNat) out.revNat.push(x);
    for (const x of e.backends)
      if (!backendsDone.has(x.hex)) {
        backendsDone.add(x.hex);
        out.backends.push(x);
      }
  }
  return out;
}

/** The ids the maps hold now, to seed LbIds after a restart. */
export function idsFromMaps(
  services: readonly RawEntry[],
  backends: readonly RawEntry[],
): {
  frontends: Map<string, number>;
  backends: Map<string, number>;
} {
  const frontends = new Map<string, number>();
  for (const e of services) {
    const k = lb4Key.decode(e.key);
    if (k.backendSlot !== 0) continue;
    const proto = protoName(k.proto);
    if (proto !== 'TCP' && proto !== 'UDP') continue;
    const f: LbFrontend = { address: u32ToIpv4(k.address), port: k.dport, proto, scope: k.scope ? 'int' : 'ext' };
    frontends.set(frontendId(f), lb4Service.decode(e.value).revNatIndex);
  }
  const out = new Map<string, number>();
  for (const e of backends) {
    const b = lb4Backend.decode(e.value);
    const proto = protoName(b.proto);
    if (proto !== 'TCP' && proto !== 'UDP') continue;
    out.set(
      backendAddr({ address: u32ToIpv4(b.address), port: b.port, proto }),
      new DataView(e.key.buffer, e.key.byteOffset).getUint32(0, true),
    );
  }
  return { frontends, backends: out };
}

/** One row of `cilium-dbg bpf lb list`: a frontend or one of its backend slots, as the map holds it. */
export interface LbMapRow {
  frontend: LbFrontend;
  slot: number;
  revNatIndex: number;
  /** slot 0: number of backends, flags */
  count?: number;
  flags?: number;
  flags2?: number;
  affinityTimeoutSec?: number;
  /** slots > 0 */
  backendId?: number;
  backend?: LbBackend;
}

const stateNames = Object.fromEntries(Object.entries(BackendState).map(([k, v]) => [v, k])) as Record<
  number,
  BackendStateName
>;

/** Decodes the services and backends maps into rows, frontends first then their slots. */
export function decodeLbMaps(services: readonly RawEntry[], backends: readonly RawEntry[]): LbMapRow[] {
  const bes = new Map<number, LbBackend>();
  for (const e of backends) {
    const b = lb4Backend.decode(e.value);
    bes.set(new DataView(e.key.buffer, e.key.byteOffset).getUint32(0, true), {
      address: u32ToIpv4(b.address),
      port: b.port,
      proto: protoName(b.proto) as LbProto,
      state: stateNames[b.flags] ?? 'active',
    });
  }
  const rows: LbMapRow[] = services.map((e) => {
    const k = lb4Key.decode(e.key);
    const v = lb4Service.decode(e.value);
    const frontend: LbFrontend = {
      address: u32ToIpv4(k.address),
      port: k.dport,
      proto: protoName(k.proto) as LbProto,
      scope: k.scope ? 'int' : 'ext',
    };
    if (k.backendSlot === 0)
      return {
        frontend,
        slot: 0,
        revNatIndex: v.revNatIndex,
        count: v.count,
        flags: v.flags,
        flags2: v.flags2,
        affinityTimeoutSec: v.flags & SvcFlag.affinity ? v.backendId : 0,
      };
    const backend = bes.get(v.backendId);
    return {
      frontend,
      slot: k.backendSlot,
      revNatIndex: v.revNatIndex,
      backendId: v.backendId,
      ...(backend ? { backend } : {}),
    };
  });
  return rows.sort(
    (a, b) =>
      ipv4ToU32(a.frontend.address) - ipv4ToU32(b.frontend.address) ||
      a.frontend.port - b.frontend.port ||
      a.frontend.proto.localeCompare(b.frontend.proto) ||
      (a.frontend.scope ?? '').localeCompare(b.frontend.scope ?? '') ||
      a.slot - b.slot,
  );
}
