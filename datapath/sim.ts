// The sim backend: the datapath's per-packet logic (datapath/bpf/lxc.bpf.c, conntrack.h,
// policy.h) in userspace over in-memory maps holding the same bytes the kernel maps hold. For
// machines without eBPF and for policy trace. It must stay decision-for-decision equal to the C
// code; test/datapath/differential.test.ts checks that on random policies and packets.
// Its conntrack table lives in sim-conntrack.ts and its policy lookup in sim-policy.ts.
import {
  endpointInfo,
  ipcacheKey,
  policyEntry,
  remoteEndpointInfo,
  type EndpointInfo,
  type PolicyEntryValue,
} from './codecs.js';
import {
  decodeEndpoints,
  decodeIpcache,
  decodePolicy,
  type ConntrackDump,
  type EndpointDump,
  type IpcacheDump,
} from './dump.js';
import {
  CtFlag,
  CtStatus,
  Proto,
  Dir,
  Drop,
  ENDPOINT_F_HOST,
  Family,
  Identity,
  IPCACHE_STATIC_PREFIX,
  TracePoint,
  TRACE_PAYLOAD_LEN,
} from './constants.js';
import {
  defaultConfig,
  type ConntrackGcResult,
  type Datapath,
  type DatapathConfig,
  type EndpointSpec,
  type Hook,
  type IpcacheEntry,
  type LostEvents,
  type MetricSample,
  type PolicyDeltaGroup,
  type PolicyWrite,
  type ResolvedDelta,
  type ResolvedEntry,
  type SyncResult,
  type Verdict,
} from './datapath.js';
import { dropReasonName } from './drop-reasons.js';
import type { DatapathEvent } from './events.js';
import { LpmTable } from './lpm.js';
import { formatMac } from './mac.js';
import {
  endpointEntries,
  fromResolved,
  ipcacheEntries,
  ipcacheKeys,
  orderDelta,
  policyRawEntries,
  type PolicyMapEntry,
} from './map-entries.js';
import { diffEntries, indexEntries, type RawEntry } from './map-sync.js';
import { parsePacket } from './parse.js';
import { CT_CLOSING_NOW, SimConntrack } from './sim-conntrack.js';
import { policyLookup } from './sim-policy.js';

const ETH_HLEN = 14;

export interface SimOptions {
  config: DatapathConfig;
  /** monotonic nanoseconds (injectable so tests can move time) */
  clockNs: () => bigint;
  /** the ifindex packets given to process() arrive on (the kernel's test runs use lo = 1) */
  ifindex: number;
}

export const defaultSimOptions: SimOptions = {
  config: defaultConfig,
  clockNs: () => process.hrtime.bigint(),
  ifindex: 1,
};

export class SimDatapath implements Datapath {
  readonly kind = 'sim';
  private readonly opts: SimOptions;
  private endpoints = new Map<string, RawEntry>();
  private ipcacheRaw = new Map<string, RawEntry>();
  private readonly ipcache = new LpmTable<number>();
  private readonly policies = new Map<number, { raw: Map<string, RawEntry>; lpm: LpmTable<PolicyEntryValue> }>();
  private readonly ct: SimConntrack;
  private readonly counters = new Map<string, MetricSample>();
  private readonly listeners = new Set<(e: DatapathEvent) => void>();
  private budget = { tokensNs: 0n, lastNs: 0n };
  /** events the budget suppressed (the kernel counts them per CPU in its budget map) */
  private rateLimited = 0;

  constructor(opts: Partial<SimOptions> = {}) {
    this.opts = { ...defaultSimOptions, ...opts };
    this.ct = new SimConntrack(this.opts.config, this.opts.clockNs);
  }

  /** Interfaces the agent attached (the sim has no kernel hooks; process() is its only input). */
  readonly attached = new Set<string>();

  attach(ifindex: number, netns: string | null = null): void {
    this.attached.add(`${netns ?? ''}#${ifindex}`);
  }

  detach(ifindex: number, netns: string | null = null): void {
    this.attached.delete(`${netns ?? ''}#${ifindex}`);
  }

  syncEndpoints(desired: readonly EndpointSpec[]): SyncResult {
    const want = indexEntries(endpointEntries(desired));
    const d = diffEntries(this.endpoints, want);
    this.endpoints = want;
    return { added: d.added, updated: d.updated, removed: d.deletes.length, unchanged: d.unchanged };
  }

  syncIpcache(desired: readonly IpcacheEntry[]): SyncResult {
    const want = indexEntries(ipcacheEntries(desired));
    const d = diffEntries(this.ipcacheRaw, want);
    this.ipcacheRaw = want;
    this.ipcache.clear();
    for (const e of want.values()) {
      const k = ipcacheKey.decode(e.key);
      this.ipcache.set(k.prefixlen, e.key.subarray(4), remoteEndpointInfo.decode(e.value).secIdentity);
    }
    return { added: d.added, updated: d.updated, removed: d.deletes.length, unchanged: d.unchanged };
  }

  updateIpcache(upserts: readonly IpcacheEntry[], deletes: readonly string[]): SyncResult {
    let removed = 0;
    for (const raw of ipcacheKeys(deletes)) {
      const id = Buffer.from(raw).toString('hex');
      if (!this.ipcacheRaw.delete(id)) continue;
      removed++;
      this.ipcache.delete(ipcacheKey.decode(raw).prefixlen, raw.subarray(4));
    }
    for (const e of ipcacheEntries(upserts)) {
      this.ipcacheRaw.set(Buffer.from(e.key).toString('hex'), e);
      this.ipcache.set(
        ipcacheKey.decode(e.key).prefixlen,
        e.key.subarray(4),
        remoteEndpointInfo.decode(e.value).secIdentity,
      );
    }
    return { added: upserts.length, updated: 0, removed, unchanged: 0 };
  }

  writePolicy(updates: ReadonlyMap<number, PolicyWrite>): Map<number, SyncResult> {
    return new Map(
      [...updates].map(([id, w]) => [
        id,
        w.mode === 'swap' ? this.replacePolicy(id, w.entries.map(fromResolved)) : this.applyDelta(id, w),
      ]),
    );
  }

  writePolicyDeltas(groups: readonly PolicyDeltaGroup[]): number {
    let changed = 0;
    for (const g of groups)
      for (const id of g.endpoints) {
        const r = this.applyDelta(id, g);
        if (r.added || r.updated || r.removed) changed++;
      }
    return changed;
  }

  private applyDelta(endpointId: number, delta: ResolvedDelta): SyncResult {
    const pol = this.policies.get(endpointId);
    if (!pol) return this.replacePolicy(endpointId, delta.added.map(fromResolved));
    const { upserts, deletes } = orderDelta(delta);
    let removed = 0;
    for (const e of upserts) {
      const raw = policyRawEntries([e])[0]!;
      pol.raw.set(Buffer.from(raw.key).toString('hex'), raw);
      pol.lpm.set(e.key.prefixlen, raw.key.subarray(4), e.value);
    }
    for (const e of deletes) {
      const raw = policyRawEntries([e])[0]!;
      if (pol.raw.delete(Buffer.from(raw.key).toString('hex'))) removed++;
      pol.lpm.delete(e.key.prefixlen, raw.key.subarray(4));
    }
    return { added: upserts.length, updated: 0, removed, unchanged: 0, replaced: false };
  }

  private replacePolicy(endpointId: number, entries: readonly PolicyMapEntry[]): SyncResult {
    const want = indexEntries(policyRawEntries(entries));
    const d = diffEntries(this.policies.get(endpointId)?.raw ?? new Map(), want);
    const changed = d.added + d.updated + d.deletes.length > 0 || !this.policies.has(endpointId);
    if (changed) {
      const lpm = new LpmTable<PolicyEntryValue>();
      for (const e of want.values())
        lpm.set(
          new DataView(e.key.buffer, e.key.byteOffset).getUint32(0, true),
          e.key.subarray(4),
          policyEntry.decode(e.value),
        );
      this.policies.set(endpointId, { raw: want, lpm });
    }
    return { added: d.added, updated: d.updated, removed: d.deletes.length, unchanged: d.unchanged, replaced: changed };
  }

  deletePolicy(endpointId: number): boolean {
    return this.policies.delete(endpointId);
  }

  metrics(): MetricSample[] {
    return [...this.counters.values()].map((m) => ({ ...m }));
  }

  lostEvents(): LostEvents {
    return { rateLimited: this.rateLimited, ringFull: 0 };
  }

  onEvent(listener: (e: DatapathEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.listeners.clear();
  }

  dumpEndpoints(): EndpointDump[] {
    return decodeEndpoints([...this.endpoints.values()]);
  }

  dumpIpcache(): IpcacheDump[] {
    return decodeIpcache([...this.ipcacheRaw.values()]);
  }

  dumpPolicy(endpointId: number): (ResolvedEntry & { cookie: number })[] | undefined {
    const p = this.policies.get(endpointId);
    return p ? decodePolicy([...p.raw.values()]) : undefined;
  }

  dumpConntrack(): ConntrackDump[] {
    return this.ct.dump();
  }

  gcConntrack(): ConntrackGcResult {
    return this.ct.gc();
  }

  process(frame: Uint8Array, hook: Hook): Verdict {
    const events: DatapathEvent[] = [];
    const hookDir = hook === 'from-container' ? Dir.egress : Dir.ingress;
    const len = frame.length;
    const emit = (e: DatapathEvent): void => {
      if (!this.eventsAllowed()) return;
      events.push(e);
      for (const l of this.listeners) l(e);
    };
    const data = (): Uint8Array => frame.slice(0, Math.min(len, TRACE_PAYLOAD_LEN));
    const drop = (
      reason: number,
      dir: number,
      ipv6: boolean,
      epId: number,
      src: number,
      dst: number,
      ifindex = this.opts.ifindex,
    ): Verdict => {
      this.count(-reason, dir, len);
      emit({
        type: 'drop',
        source: epId,
        hash: 0,
        lenOrig: len,
        ipv6,
        data: data(),
        reason: -reason,
        reasonName: dropReasonName(reason),
        srcLabel: src,
        dstLabel: dst,
        ifindex,
      });
      return { allowed: false, reason, events };
    };
    const allowed: Verdict = { allowed: true, reason: 0, events };

    const parsed = parsePacket(frame);
    if (parsed.kind === 'pass') return allowed;
    if (parsed.kind === 'drop') return drop(parsed.reason, hookDir, parsed.ipv6, 0, 0, 0);
    const p = parsed.pkt;
    const ipv6 = p.family === Family.ipv6;

    /** One endpoint's half (C: endpoint_stage); `known` = the remote identity, 0 = ask the ipcache. */
    const stage = (dir: number, epId: number, self: number, known: number, ifindex: number): Verdict => {
      // conntrack first, as the C code does: established flows and replies skip ipcache and policy
      const st = { flags: 0, peer: 0 };
      const ct = this.ct.lookup(p, dir, len, st);
      // C: a redirected connection's packets all go to the proxy, on the policy's port now
      let proxy = 0;
      if ((ct === CtStatus.established || ct === CT_CLOSING_NOW) && st.flags & CtFlag.proxyRedirect)
        proxy = policyLookup(this.policies.get(epId)?.lpm, st.peer, dir, p).proxyPort;
      const pass = (): Verdict => (proxy ? toProxy(proxy, dir, epId) : allowed);
      if (ct === CtStatus.established || ct === CtStatus.reply) {
        this.count(0, dir, len);
        return pass();
      }
      let peer = known;
      if (!peer) {
        const remote = dir === Dir.egress ? p.daddr : p.saddr;
        const ikey = ipcacheKey.encode({ prefixlen: 0, family: p.family, ip: remote }).subarray(4);
        peer =
          this.ipcache.lookup(ikey, IPCACHE_STATIC_PREFIX + (p.family === Family.ipv4 ? 32 : 128)) ?? Identity.world;
      }
      const src = dir === Dir.egress ? self : peer;
      const dst = dir === Dir.egress ? peer : self;
      const obs = dir === Dir.egress ? TracePoint.fromLxc : TracePoint.toLxc;
      const trace = (reason: number): void =>
        emit({
          type: 'trace',
          source: epId,
          hash: 0,
          lenOrig: len,
          ipv6,
          data: data(),
          obsPoint: obs,
          reason,
          srcLabel: src,
          dstLabel: dst,
          dstId: obs === TracePoint.toLxc ? epId : 0,
          ifindex,
        });
      if (ct === CT_CLOSING_NOW) {
        this.count(0, dir, len);
        trace(CtStatus.established);
        return pass();
      }
      if (peer === Identity.unknown) return drop(Drop.invalidIdentity, dir, ipv6, epId, src, dst, ifindex);

      const pr = policyLookup(this.policies.get(epId)?.lpm, peer, dir, p);
      const verdictEvent = (verdict: number, authType: number): void =>
        emit({
          type: 'policy-verdict',
          source: epId,
          hash: 0,
          lenOrig: len,
          ipv6,
          data: data(),
          verdict,
          direction: dir === Dir.egress ? 'egress' : 'ingress',
          matchType: pr.match,
          remoteLabel: peer,
          dstPort: p.policyPort,
          proto: p.nexthdr,
          authType,
          cookie: pr.cookie,
        });
      if (pr.verdict < 0) {
        verdictEvent(pr.verdict, 0);
        return drop(pr.verdict, dir, ipv6, epId, src, dst, ifindex);
      }
      if (ct === CtStatus.new) this.ct.create(p, dir, peer, len, pr.proxyPort ? CtFlag.proxyRedirect : 0);
      verdictEvent(0, pr.authType);
      if (ct === CtStatus.new) trace(CtStatus.new);
      this.count(0, dir, len);
      proxy = pr.proxyPort;
      return pass();
    };
    /** C: to_proxy — the sim has no sockets: it reports the port (the kernel may still drop for lack of one). */
    const toProxy = (port: number, dir: number, epId: number): Verdict =>
      p.nexthdr === Proto.tcp || p.nexthdr === Proto.udp
        ? { ...allowed, toProxy: port }
        : drop(Drop.proxyUnknownProto, dir, ipv6, epId, 0, 0);

    const ep = this.endpointAt(hookDir === Dir.egress ? p.saddr : p.daddr, p.family);
    if (!ep || ep.ifindex !== this.opts.ifindex)
      return drop(hookDir === Dir.egress ? Drop.invalidSip : Drop.unroutable, hookDir, ipv6, ep ? ep.lxcId : 0, 0, 0);
    const v = stage(hookDir, ep.lxcId, ep.secIdentity, 0, this.opts.ifindex);
    if (!v.allowed || v.toProxy || hookDir !== Dir.egress || !this.opts.config.localRedirect) return v;

    // C: local_delivery — the destination's ingress half, then the packet as the redirect delivers it
    const d = this.endpointAt(p.daddr, p.family);
    if (!d || d.flags & ENDPOINT_F_HOST || !formatMac(d.mac) || !formatMac(d.nodeMac)) return v;
    const ttlOff = ETH_HLEN + (p.family === Family.ipv4 ? 8 : 7);
    const ttl = frame[ttlOff] ?? 0;
    if (ttl <= 1) return v;
    const w = stage(Dir.ingress, d.lxcId, d.secIdentity, ep.secIdentity, d.ifindex);
    if (!w.allowed || w.toProxy) return w;
    const out = frame.slice();
    out.set(d.mac, 0);
    out.set(d.nodeMac, 6);
    out[ttlOff] = ttl - 1;
    if (p.family === Family.ipv4) {
      // RFC 1624 incremental update of the header checksum for the TTL/protocol word
      const at = ETH_HLEN + 10;
      const old = ~((out[at]! << 8) | out[at + 1]!) & 0xffff;
      let sum = old + (~((ttl << 8) | p.nexthdr) & 0xffff) + (((ttl - 1) << 8) | p.nexthdr);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      const csum = ~sum & 0xffff;
      out[at] = csum >>> 8;
      out[at + 1] = csum & 0xff;
    }
    return { ...w, redirected: { frame: out } };
  }

  // ---- mirrors of the C helpers

  /** cilium_lxc lookup: the local endpoint with this address. */
  private endpointAt(addr: Uint8Array, family: number): EndpointInfo | undefined {
    const raw = this.endpoints.get(Buffer.concat([addr, Uint8Array.of(family, 0, 0, 0)]).toString('hex'));
    return raw ? endpointInfo.decode(raw.value) : undefined;
  }

  private count(reason: number, dir: number, bytes: number): void {
    const k = `${reason}/${dir}`;
    const m = this.counters.get(k) ?? {
      reason,
      direction: dir === Dir.egress ? 'egress' : 'ingress',
      packets: 0,
      bytes: 0,
    };
    m.packets++;
    m.bytes += bytes;
    this.counters.set(k, m);
  }

  private eventsAllowed(): boolean {
    const { eventsRate, eventsBurst } = this.opts.config;
    if (eventsRate === 0) return true;
    const now = this.opts.clockNs();
    const perEvent = 1_000_000_000n / BigInt(eventsRate);
    const cap = perEvent * BigInt(eventsBurst || 1);
    let credit = this.budget.tokensNs + (now - this.budget.lastNs);
    this.budget.lastNs = now;
    if (credit > cap) credit = cap;
    if (credit < perEvent) {
      this.budget.tokensNs = credit;
      this.rateLimited++;
      return false;
    }
    this.budget.tokensNs = credit - perEvent;
    return true;
  }
}
