// Policy for the datapath tests, written as short rules and turned into map entries by the policy
// engine's own pieces (policy/index.js: port ranges as prefixes, a deny leaving out the allows it
// covers): the datapath compiles no policy, it only encodes what policy/ hands it.
import type { Datapath, SyncResult } from '../../datapath/datapath.js';
import { ALL_PORTS, covers, entryText, rangeToPrefixes, sortEntries, type MapEntry } from '../../policy/index.js';

export interface RuleSpec {
  /** remote identity; 0 = any identity */
  identity: number;
  direction: 'ingress' | 'egress';
  /** IP protocol number; 0 = any protocol (then the port must be 0) */
  protocol: number;
  /** destination port (ICMP: the type); 0 = any */
  port: number;
  /** inclusive end of a port range */
  endPort?: number;
  deny?: boolean;
}

const l4 = (e: MapEntry) => ({ proto: e.protocol, port: e.portPrefix.port, len: e.portPrefix.prefixLen });

/** The map entries policy/ emits for `rules` (same key twice: the deny wins). */
export function mapEntries(rules: readonly RuleSpec[]): MapEntry[] {
  const byKey = new Map<string, MapEntry>();
  for (const r of rules) {
    const prefixes = r.protocol === 0 || r.port === 0 ? [ALL_PORTS] : rangeToPrefixes(r.port, r.endPort ?? r.port);
    for (const portPrefix of prefixes) {
      const e: MapEntry = {
        identity: r.identity,
        direction: r.direction,
        protocol: r.protocol,
        portPrefix,
        verdict: r.deny ? 'deny' : 'allow',
      };
      const key = entryText(e);
      if (!byKey.has(key) || r.deny) byKey.set(key, e);
    }
  }
  const all = [...byKey.values()];
  const denies = all.filter((e) => e.verdict === 'deny');
  return sortEntries(
    all.filter(
      (a) =>
        a.verdict === 'deny' ||
        !denies.some((d) => d.identity === a.identity && d.direction === a.direction && covers(l4(d), l4(a))),
    ),
  );
}

/** Swaps in an endpoint's whole policy (the one way tests write policy, like the agent's). */
export function swapPolicy(dp: Datapath, endpointId: number, entries: readonly MapEntry[]): SyncResult {
  return dp.writePolicy(new Map([[endpointId, { mode: 'swap', entries }]])).get(endpointId)!;
}

/** swapPolicy with the entries of `rules`. */
export function setRules(dp: Datapath, endpointId: number, rules: readonly RuleSpec[]): SyncResult {
  return swapPolicy(dp, endpointId, mapEntries(rules));
}
