// L7 redirects in the policy model. A port rule with `rules.http` or `rules.dns` sends the traffic
// it allows on that port through the node's proxy: its map entries carry the proxy's parser kind,
// which the datapath turns into the `proxy_port` of the entry (datapath/constants.ts PROXY_PORTS) (upstream pkg/policy/l4.go: an
// L4Filter with an L7 parser redirects every allowed peer on that port; peers of L3/L4-only rules on
// the same port get an allow-all L7 rule, so their traffic is redirected too and always allowed).
import type { PortRule } from '../crds/policy-rule.js';
import type { PortSpec } from './ports.js';

type L7Rules = NonNullable<PortRule['rules']>;
/** One `rules.http` entry (method and path are regexes, host, headers). */
export type PortRuleHTTP = NonNullable<L7Rules['http']>[number];
/** One `rules.dns` entry (`matchName` or `matchPattern`). */
export type PortRuleDNS = NonNullable<L7Rules['dns']>[number];

/** The L7 parsers the node's proxy speaks (upstream `ParserTypeHTTP`, `ParserTypeDNS`). */
export type L7Parser = 'http' | 'dns';

/** Parser kinds by index, as packed into a map state (cell-key.ts); 0 = no redirect. */
export const L7_PARSERS: readonly (L7Parser | undefined)[] = [undefined, 'http', 'dns'];

export const l7Index = (p: L7Parser | undefined): number => (p === 'http' ? 1 : p === 'dns' ? 2 : 0);

/** One `toPorts` entry with L7 rules: the ports it redirects and the rules the proxy enforces. */
export interface L7PortRule {
  readonly parser: L7Parser;
  readonly ports: readonly PortSpec[];
  /** `rules.http` (parser http): a request must match one of them; empty = every request. */
  readonly http: readonly PortRuleHTTP[];
  /** `rules.dns` (parser dns): a query name must match one of them. */
  readonly dns: readonly PortRuleDNS[];
}
