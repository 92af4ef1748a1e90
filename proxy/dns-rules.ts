// The DNS proxy's allow-list: per endpoint and destination port, the union of the `rules.dns`
// entries of every policy port rule that redirects that port to the proxy. Upstream: a query is
// allowed when at least one rule matches its name ("A layer 7 request is permitted if at least one
// of the rules matches", docs.cilium.io security/policy/language "Layer 7 Examples"); a port with
// an empty rule list allows every name; an endpoint or port the proxy has no rules for refuses.
import { compileFqdnSelectors, type FqdnSelector } from '../policy/fqdn-selector.js';

interface PortRules {
  matches: (name: string) => boolean;
  problems: string[];
}

export class DnsRules {
  private readonly byEndpoint = new Map<number, Map<number, PortRules>>();

  /** Replaces the rules of `endpoint` on destination `port`; returns the invalid selectors' reasons. */
  set(endpoint: number, port: number, rules: readonly FqdnSelector[]): string[] {
    let ports = this.byEndpoint.get(endpoint);
    if (!ports) this.byEndpoint.set(endpoint, (ports = new Map()));
    const compiled = rules.length === 0 ? { matches: () => true, problems: [] } : compileFqdnSelectors(rules);
    ports.set(port, compiled);
    return compiled.problems;
  }

  /** Forgets one port of an endpoint, or the whole endpoint. */
  delete(endpoint: number, port?: number): void {
    if (port === undefined) this.byEndpoint.delete(endpoint);
    else this.byEndpoint.get(endpoint)?.delete(port);
  }

  /** True when `endpoint` may ask `name` on destination `port`. */
  allows(endpoint: number, port: number, name: string): boolean {
    return this.byEndpoint.get(endpoint)?.get(port)?.matches(name) ?? false;
  }
}
