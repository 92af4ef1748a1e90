// Writing the load-balancer maps by difference, in an order that never lets a connect see a
// half-written Service: backends and reverse-NAT entries before the slots that name them, slots
// before the frontend whose count reaches them; on the way out the frontend first, then its slots,
// then backends nothing names any more. Shared by the kernel and sim backends through LbMapIo.
import type { KeyedEntry, LbEntries, LbSyncResult } from './lb.js';
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

export function syncLbMaps(io: LbMapIo, want: LbEntries): LbSyncResult {
  const diff = (map: LbMapName, entries: readonly KeyedEntry[]) =>
    diffEntries(io.dump(map), new Map(entries.map((e) => [e.hex, e])));
  const be = diff(LbMapNames.backends, want.backends);
  const rn = diff(LbMapNames.revNat, want.revNat);
  const sv = diff(LbMapNames.services, want.services);
  const am = diff(LbMapNames.affinityMatch, want.affinityMatch);

  io.write(LbMapNames.backends, be.upserts);
  io.write(LbMapNames.revNat, rn.upserts);
  io.write(LbMapNames.affinityMatch, am.upserts);
  io.write(
    LbMapNames.services,
    sv.upserts.filter((e) => !isFrontend(e.key)),
  );
  io.write(
    LbMapNames.services,
    sv.upserts.filter((e) => isFrontend(e.key)),
  );
  io.remove(
    LbMapNames.services,
    sv.deletes.filter((k) => isFrontend(k)),
  );
  io.remove(
    LbMapNames.services,
    sv.deletes.filter((k) => !isFrontend(k)),
  );
  io.remove(LbMapNames.affinityMatch, am.deletes);
  io.remove(LbMapNames.revNat, rn.deletes);
  io.remove(LbMapNames.backends, be.deletes);
  const counts = (d: typeof be) => ({ upserts: d.upserts.length, deletes: d.deletes.length, unchanged: d.unchanged });
  return { services: counts(sv), backends: counts(be), revNat: counts(rn) };
}
