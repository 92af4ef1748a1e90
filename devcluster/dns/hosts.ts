// Extra records for tests, in the shape of CoreDNS's `hosts` plugin
// (https://coredns.io/plugins/hosts/): an /etc/hosts-format text ("IP name [alias…]", `#` comments,
// several lines for one name add addresses, IPv6 addresses give AAAA) with one TTL for every answer.
// The devcluster reads it from a ConfigMap (`kube-system/coredns-custom`, keys `hosts` and `ttl`, as
// AKS/k3s's `coredns-custom` lets users add to the Corefile), so a test edits the ConfigMap and the
// cluster DNS answers the new records as soon as its watch delivers the change.
import { isIPv4, isIPv6 } from 'node:net';

export const HOSTS_DEFAULTS = {
  /** The ConfigMap the cluster DNS watches for extra records. */
  configMapNamespace: 'kube-system',
  configMapName: 'coredns-custom',
  /** TTL of hosts answers when the ConfigMap has no `ttl` key (the hosts plugin's default: 3600 s). */
  ttlSeconds: 3600,
};

/** Keys of the ConfigMap's `data`. */
export const HOSTS_KEYS = { hosts: 'hosts', ttl: 'ttl' } as const;

export interface HostRecords {
  ipv4: string[];
  ipv6: string[];
}

/** The parsed records: names (lower case, no trailing dot) → addresses; zones: the names' parent domains. */
export class HostsTable {
  static readonly empty = new HostsTable(new Map(), HOSTS_DEFAULTS.ttlSeconds);

  /** Parent domains of the listed names: a query under one of them that is not listed is NXDOMAIN. */
  readonly zones: ReadonlySet<string>;

  constructor(
    readonly names: ReadonlyMap<string, HostRecords>,
    readonly ttlSeconds: number,
  ) {
    const zones = new Set<string>();
    for (const name of names.keys()) {
      const dot = name.indexOf('.');
      if (dot > 0) zones.add(name.slice(dot + 1));
    }
    this.zones = zones;
  }

  /** Parses hosts-file text; lines with an address that is not an IP are skipped, as the plugin does. */
  static parse(text: string | undefined, ttl?: string): HostsTable {
    const names = new Map<string, HostRecords>();
    for (const raw of (text ?? '').split('\n')) {
      const fields = raw.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
      const [ip, ...hosts] = fields;
      if (!ip || hosts.length === 0) continue;
      const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : undefined;
      if (!family) continue;
      for (const host of hosts) {
        const name = normalizeName(host);
        let rec = names.get(name);
        if (!rec) names.set(name, (rec = { ipv4: [], ipv6: [] }));
        if (!rec[family].includes(ip)) rec[family].push(ip);
      }
    }
    const seconds = Number(ttl);
    const valid = ttl !== undefined && ttl.trim() !== '' && Number.isInteger(seconds) && seconds >= 0;
    return new HostsTable(names, valid ? seconds : HOSTS_DEFAULTS.ttlSeconds);
  }

  get(name: string): HostRecords | undefined {
    return this.names.get(name);
  }

  /** The listed zone `name` falls in (itself or an ancestor), if any. */
  zoneOf(name: string): string | undefined {
    for (let n = name; n;) {
      if (this.zones.has(n)) return n;
      const dot = n.indexOf('.');
      if (dot < 0) return undefined;
      n = n.slice(dot + 1);
    }
    return undefined;
  }
}

export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** Renders records as the ConfigMap's `hosts` text (tests build their ConfigMap with it). */
export function formatHosts(records: Record<string, string | string[]>): string {
  const lines: string[] = [];
  for (const [name, ips] of Object.entries(records))
    for (const ip of Array.isArray(ips) ? ips : [ips]) lines.push(`${ip} ${name}`);
  return lines.join('\n') + '\n';
}

/** Patch body that sets the ConfigMap's records (and TTL): a merge patch replaces both keys whole. */
export function hostsConfigMapPatch(
  records: Record<string, string | string[]>,
  o: { ttlSeconds?: number } = {},
): { data: Record<string, string | null> } {
  return {
    data: {
      [HOSTS_KEYS.hosts]: formatHosts(records),
      [HOSTS_KEYS.ttl]: o.ttlSeconds === undefined ? null : String(o.ttlSeconds),
    },
  };
}
