// What ResolvedPolicy.l7Rules reads, as plain data: the L7 proxy runs in its own process
// (docs/design.md decision 30) and gets this table from the agent over a socket, then answers
// `l7Rules` for every redirected connection from it, the same answer the engine gives
// (test/policy/l7-table.test.ts compares both). Ports stay compact L4 keys (cell-key.ts), peers
// are the identities the filter's selector selects when the table was made.
import { l4Of } from './cell-key.js';
import type { L7Parser, PortRuleDNS, PortRuleHTTP } from './l7.js';
import { prefixHasPort } from './ports.js';
import type { L7Verdict } from './resolve.js';
import type { Direction } from './rule-model.js';

/** One allow filter of the endpoint's policy: its ports, its peers, and its L7 rules by port. */
export interface L7TableFilter {
  readonly direction: Direction;
  /** Compact L4 keys (cell-key.ts `l4Compact`). */
  readonly l4: readonly number[];
  /** The identities selected, sorted. */
  readonly peers: readonly number[];
  readonly l7: readonly {
    readonly l4: readonly number[];
    readonly parser: L7Parser;
    readonly http: readonly PortRuleHTTP[];
    readonly dns: readonly PortRuleDNS[];
  }[];
}

/** The allow filters of one endpoint's policy that has L7 rules (JSON as it is). */
export interface L7Table {
  readonly filters: readonly L7TableFilter[];
}

/** Does compact L4 key `c` cover (proto, port)? Protocol 0 is any. */
export function l4Covers(c: number, proto: number, port: number): boolean {
  const { key } = l4Of(c);
  return (key.proto === 0 || key.proto === proto) && prefixHasPort({ port: key.port, prefixLen: key.len }, port);
}

/** The L7 rules one filter holds for one set of ports. */
export interface L7Rules {
  readonly parser: L7Parser;
  readonly http: readonly PortRuleHTTP[];
  readonly dns: readonly PortRuleDNS[];
}

/**
 * The verdict of the allow filters that cover a connection, given each one's L7 rules on its port:
 * their rules together, and allowAll when one of them has none there (it allows the port whole).
 * Undefined when no filter has L7 rules on the port.
 */
export function mergeL7(rulesPerFilter: Iterable<readonly L7Rules[]>): L7Verdict | undefined {
  let parser: L7Parser | undefined;
  let allowAll = false;
  const http: PortRuleHTTP[] = [];
  const dns: PortRuleDNS[] = [];
  for (const hits of rulesPerFilter) {
    if (hits.length === 0) allowAll = true;
    for (const h of hits) {
      parser ??= h.parser;
      http.push(...h.http);
      dns.push(...h.dns);
    }
  }
  return parser ? { parser, allowAll, http, dns } : undefined;
}

/** A table made ready for lookups (peer sets built once). */
export class L7Lookup {
  private readonly filters: { f: L7TableFilter; peers: ReadonlySet<number> }[];

  constructor(table: L7Table) {
    this.filters = table.filters.map((f) => ({ f, peers: new Set(f.peers) }));
  }

  /** ResolvedPolicy.l7Rules over the table: undefined when no filter with L7 rules covers it. */
  l7Rules(direction: Direction, peer: number, proto: number, port: number): L7Verdict | undefined {
    const covers = (c: number): boolean => l4Covers(c, proto, port);
    return mergeL7(
      this.filters
        .filter(({ f, peers }) => f.direction === direction && f.l4.some(covers) && peers.has(peer))
        .map(({ f }) => f.l7.filter((r) => r.l4.some(covers))),
    );
  }
}
