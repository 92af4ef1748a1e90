// The sim backend's policy lookup: the userspace mirror of datapath/bpf/policy.h (the L3 entry and the
// any-identity entry, deny first, then the longer port prefix) over one endpoint's policy LPM.
import type { PolicyEntryValue } from './codecs.js';
import { Dir, Drop, Identity, PolicyMatch, PolicyPrefix, POLICY_F_DENY, POLICY_PREFIX_SHIFT } from './constants.js';
import type { LpmTable } from './lpm.js';
import type { ParsedPacket } from './parse.js';

export interface PolicyResult {
  /** 0 = allow, else a negative drop reason */
  verdict: number;
  match: number;
  cookie: number;
  authType: number;
  /** non-zero: an allow handed to the node's proxy on this port */
  proxyPort: number;
}

/** C: policy_can_access; `pol` undefined = the endpoint has no policy map yet. */
export function policyLookup(
  pol: LpmTable<PolicyEntryValue> | undefined,
  peer: number,
  dir: number,
  p: ParsedPacket,
): PolicyResult {
  if (!pol) return { verdict: Drop.noConfig, match: 0, cookie: 0, authType: 0, proxyPort: 0 };
  const key = (id: number): Uint8Array => {
    const b = new Uint8Array(8);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, id, true);
    b[4] = dir === Dir.egress ? 1 : 0;
    b[5] = p.nexthdr;
    dv.setUint16(6, p.policyPort, false);
    return b;
  };
  const l3 = pol.lookup(key(peer), PolicyPrefix.full);
  const any = pol.lookup(key(Identity.unknown), PolicyPrefix.full);
  const deny = (e: PolicyEntryValue | undefined): boolean => !!e && (e.flags & POLICY_F_DENY) !== 0;
  const plen = (e: PolicyEntryValue): number => e.flags >> POLICY_PREFIX_SHIFT;
  let pick: PolicyEntryValue | undefined;
  let pickAny = false;
  if (deny(l3)) pick = l3;
  else if (deny(any)) [pick, pickAny] = [any, true];
  else if (l3 && any) {
    pickAny = plen(any) > plen(l3);
    pick = pickAny ? any : l3;
  } else if (l3) pick = l3;
  else if (any) [pick, pickAny] = [any, true];
  if (!pick) return { verdict: Drop.policy, match: PolicyMatch.none, cookie: 0, authType: 0, proxyPort: 0 };
  const n = plen(pick);
  const match =
    n === 0
      ? pickAny
        ? PolicyMatch.all
        : PolicyMatch.l3Only
      : n <= 8
        ? pickAny
          ? PolicyMatch.protoOnly
          : PolicyMatch.l3Proto
        : pickAny
          ? PolicyMatch.l4Only
          : PolicyMatch.l3L4;
  return {
    verdict: pick.flags & POLICY_F_DENY ? Drop.policyDeny : 0,
    match,
    cookie: pick.cookie,
    authType: pick.authType,
    proxyPort: pick.flags & POLICY_F_DENY ? 0 : pick.proxyPort,
  };
}
