// Writing the load-balancer maps by difference, in an order that never lets a connect see a
// half-written Service: backends and reverse-NAT entries before the slots that name them, slots
// before the frontend whose count reaches them; on the way out the frontend first, then its slots,
// then backends nothing names any more. Shared by the kernel and sim backends through LbMapIo.
import {
  backendAddr,
  encodeService,
  frontendId,
  hexOf,
  lbEntries,
  type KeyedEntry,
  type LbEntries,
  type LbEntryMemo,
  type LbIds,
  type LbService,
  type LbSyncResult,
} from './lb.js';
import { DatapathError, DatapathErrorCode } from './errors.js';
import { lb4Key } from './lb-codecs.js';
import { LbMapNames } from './lb-constants.js';
import { diffEntries, type RawEntry } from './map-sync.js';

export type LbMapName = (typeof LbMapNames)[keyof typeof LbMapNames];

/** The three operations a backend offers on one of its LB maps. */
export interface LbMapIo {
  /** what the map holds now, by key as hex */
  dump(map: LbMapName): ReadonlyMap<string, RawEntry>;
  write(map: LbMapName, entries: readonly RawEntry[]): void;
  remove(map: LbMapName, keys: readonly Uint8Array[]): void;
}

const isFrontend = (key: Uint8Array): boolean => lb4Key.decode(key).backendSlot === 0;

interface Changes {
  upserts: readonly RawEntry[];
  deletes: readonly Uint8Array[];
}

/** The write order that never lets a connect see a half-written Service (see the top of the file). */
function apply(io: LbMapIo, d: { be: Changes; rn: Changes; sv: Changes; am: Changes }): void {
  io.write(LbMapNames.backends, d.be.upserts);
  io.write(LbMapNames.revNat, d.rn.upserts);
  io.write(LbMapNames.affinityMatch, d.am.upserts);
  io.write(
    LbMapNames.services,
    d.sv.upserts.filter((e) => !isFrontend(e.key)),
  );
  io.write(
    LbMapNames.services,
    d.sv.upserts.filter((e) => isFrontend(e.key)),
  );
  io.remove(
    LbMapNames.services,
    d.sv.deletes.filter((k) => isFrontend(k)),
  );
  io.remove(
    LbMapNames.services,
    d.sv.deletes.filter((k) => !isFrontend(k)),
  );
  io.remove(LbMapNames.affinityMatch, d.am.deletes);
  io.remove(LbMapNames.revNat, d.rn.deletes);
  io.remove(LbMapNames.backends, d.be.deletes);
}

export function syncLbMaps(io: LbMapIo, want: LbEntries): LbSyncResult {
  const diff = (map: LbMapName, entries: readonly KeyedEntry[]) =>
    diffEntries(io.dump(map), new Map(entries.map((e) => [e.hex, e])));
  const be = diff(LbMapNames.backends, want.backends);
  const rn = diff(LbMapNames.revNat, want.revNat);
  const sv = diff(LbMapNames.services, want.services);
  const am = diff(LbMapNames.affinityMatch, want.affinityMatch);

  apply(io, { be, rn, sv, am });
  const counts = (d: typeof be) => ({ upserts: d.upserts.length, deletes: d.deletes.length, unchanged: d.unchanged });
  return { services: counts(sv), backends: counts(be), revNat: counts(rn) };
}

interface WrittenPart {
  svc: LbService;
  fid: string;
  backendAddrs: string[];
  entries: LbEntries;
}

/**
 * Keeps the LB maps equal to the desired Services. The first sync diffs everything against the
 * maps as they are (an agent restart writes nothing that is right); later syncs touch only the
 * frontends whose LbService object changed, appeared or went away — the agent keeps the objects of
 * unchanged Services — so one change among 10,000 Services costs its own entries.
 */
export class LbWriter {
  private readonly parts = new Map<string, WrittenPart>();
  /** backend key (hex of its id) -> how many slots name it */
  private readonly backendRefs = new Map<string, number>();
  private readonly memo: LbEntryMemo = new WeakMap();
  private primed = false;

  constructor(
    private readonly io: LbMapIo,
    private readonly ids: LbIds,
  ) {}

  sync(desired: readonly LbService[]): LbSyncResult {
    const byFid = new Map<string, LbService>();
    for (const s of desired) if (!byFid.has(frontendId(s.frontend))) byFid.set(frontendId(s.frontend), s);
    if (!this.primed) return this.full([...byFid.values()]);
    const changes = new Map<string, LbService | undefined>();
    for (const [fid, s] of byFid) if (this.parts.get(fid)?.svc !== s) changes.set(fid, s);
    for (const fid of this.parts.keys()) if (!byFid.has(fid)) changes.set(fid, undefined);
    return this.update(changes);
  }

  /**
   * Writes only the named frontends: frontendId() -> its Service now, or undefined when it went
   * away. The caller knows what changed, so nothing here walks the other Services. Needs a first
   * sync() (the full diff against the maps as a restart finds them).
   */
  update(changes: ReadonlyMap<string, LbService | undefined>): LbSyncResult {
    if (!this.primed)
      throw new DatapathError(DatapathErrorCode.Invalid, 'LB maps: a full sync must come before updates by frontend');
    const old: WrittenPart[] = [];
    const now: WrittenPart[] = [];
    for (const [fid, s] of changes) {
      const p = this.parts.get(fid);
      if (p?.svc === s) continue;
      if (p) old.push(p);
      if (s) now.push(this.part(fid, s));
    }
    if (!old.length && !now.length) return this.counts();
    // backends: references move from the old parts to the new ones
    const backendWant = new Map<string, KeyedEntry>();
    for (const p of now) for (const b of p.entries.backends) backendWant.set(b.hex, b);
    for (const p of old) for (const b of p.entries.backends) this.ref(b.hex, -1);
    for (const p of now) for (const b of p.entries.backends) this.ref(b.hex, +1);
    const known = this.io.dump(LbMapNames.backends);
    const beUpserts = [...backendWant.values()].filter((b) => {
      const have = known.get(b.hex);
      return !have || Buffer.compare(have.value, b.value) !== 0;
    });
    const beDeletes: Uint8Array[] = [];
    for (const p of old)
      for (const b of p.entries.backends)
        if (!this.backendRefs.has(b.hex) && known.has(b.hex)) {
          beDeletes.push(b.key);
          this.backendRefs.set(b.hex, -1); // listed once
        }
    for (const [k, v] of this.backendRefs) if (v < 0) this.backendRefs.delete(k);
    const local = (pick: (e: LbEntries) => KeyedEntry[], parts: WrittenPart[]) =>
      new Map(parts.flatMap((p) => pick(p.entries)).map((e) => [e.hex, e]));
    const diffOf = (map: LbMapName, pick: (e: LbEntries) => KeyedEntry[]) =>
      diffEntries(new Map([...local(pick, old)].filter(([k]) => this.io.dump(map).has(k))), local(pick, now));
    const sv = diffOf(LbMapNames.services, (e) => e.services);
    const rn = diffOf(LbMapNames.revNat, (e) => e.revNat);
    const am = diffOf(LbMapNames.affinityMatch, (e) => e.affinityMatch);
    const before = {
      services: this.io.dump(LbMapNames.services).size,
      backends: known.size,
      revNat: this.io.dump(LbMapNames.revNat).size,
    };
    apply(this.io, { be: { upserts: beUpserts, deletes: beDeletes }, rn, sv, am });
    for (const p of old) this.parts.delete(p.fid);
    for (const p of now) this.parts.set(p.fid, p);
    for (const p of old) this.release(p, !this.parts.has(p.fid));
    const beUpdated = beUpserts.filter((b) => known.has(hexOf(b.key))).length;
    return {
      services: {
        upserts: sv.upserts.length,
        deletes: sv.deletes.length,
        unchanged: before.services - sv.updated - sv.deletes.length,
      },
      backends: {
        upserts: beUpserts.length,
        deletes: beDeletes.length,
        unchanged: before.backends - beUpdated - beDeletes.length,
      },
      revNat: {
        upserts: rn.upserts.length,
        deletes: rn.deletes.length,
        unchanged: before.revNat - rn.updated - rn.deletes.length,
      },
    };
  }

  private part(fid: string, s: LbService): WrittenPart {
    const backendAddrs = s.backends.map(backendAddr);
    const revNat = this.ids.frontend(fid);
    const backendIds = backendAddrs.map((a) => this.ids.backend(a));
    return { svc: s, fid, backendAddrs, entries: encodeService(s, revNat, backendIds) };
  }

  /** Ids of backends no slot names any more, and of a removed frontend, go back to the pool. */
  private release(p: WrittenPart, frontendGone: boolean): void {
    if (frontendGone) this.ids.dropFrontend(p.fid);
    p.entries.backends.forEach((b, i) => {
      if (!this.backendRefs.has(b.hex)) this.ids.dropBackend(p.backendAddrs[i]!);
    });
  }

  private ref(hex: string, d: number): void {
    const n = (this.backendRefs.get(hex) ?? 0) + d;
    if (n > 0) this.backendRefs.set(hex, n);
    else this.backendRefs.delete(hex);
  }

  private counts(): LbSyncResult {
    const size = (m: LbMapName) => this.io.dump(m).size;
    return {
      services: { upserts: 0, deletes: 0, unchanged: size(LbMapNames.services) },
      backends: { upserts: 0, deletes: 0, unchanged: size(LbMapNames.backends) },
      revNat: { upserts: 0, deletes: 0, unchanged: size(LbMapNames.revNat) },
    };
  }

  private full(desired: LbService[]): LbSyncResult {
    const r = syncLbMaps(this.io, lbEntries(desired, this.ids, this.memo));
    for (const s of desired) {
      const fid = frontendId(s.frontend);
      const entries = this.memo.get(s)!.entries;
      this.parts.set(fid, { svc: s, fid, backendAddrs: s.backends.map(backendAddr), entries });
      for (const b of entries.backends) this.ref(b.hex, +1);
    }
    this.primed = true;
    return r;
  }
}
