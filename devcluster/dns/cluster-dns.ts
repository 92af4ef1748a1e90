// The cluster DNS as kube-dns and CoreDNS's kubernetes plugin answer it (the Kubernetes DNS
// specification, https://github.com/kubernetes/dns/blob/master/docs/specification.md), from
// Services and EndpointSlices it watches:
//   <svc>.<ns>.svc.<zone>                 A: the ClusterIP; a headless Service: its ready endpoints
//   _<port>._<proto>.<svc>.<ns>.svc.<zone> SRV: the named port, target <svc>.<ns>.svc.<zone>
//   <a-b-c-d>.<ns>.pod.<zone>             A: a-b-c-d (CoreDNS's `pods insecure`)
// A name in the zone that does not exist is NXDOMAIN (with the zone's SOA, so resolvers cache it);
// an existing name without records of the asked type is NODATA (getaddrinfo asks A and AAAA).
// Before the zone, the extra records of hosts.ts (CoreDNS's `hosts` plugin, from the ConfigMap
// `kube-system/coredns-custom`): listed names answer A/AAAA with the ConfigMap's TTL, an unlisted name
// under a listed name's parent domain is NXDOMAIN. Other names outside the zone are REFUSED: the
// devcluster's nodes have no upstream resolver to forward to.
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import dnsPacket from 'dns-packet';
import {
  Store,
  watcher,
  type KubeClient,
  type KubeObject,
  type ResourceRef,
} from '../../controllers/framework/index.js';
import { HOSTS_DEFAULTS, HOSTS_KEYS, HostsTable, normalizeName } from './hosts.js';

const SERVICES: ResourceRef = { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true };
const SLICES: ResourceRef = {
  group: 'discovery.k8s.io',
  version: 'v1',
  plural: 'endpointslices',
  kind: 'EndpointSlice',
  namespaced: true,
};

const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

interface Service extends KubeObject {
  spec?: {
    type?: string;
    clusterIP?: string;
    externalName?: string;
    ports?: { name?: string; port: number; protocol?: string }[];
  };
}

interface EndpointSlice extends KubeObject {
  addressType?: string;
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[];
}

export const CLUSTER_DNS_DEFAULTS = {
  /** The cluster domain (kubelet `--cluster-domain`). */
  zone: 'cluster.local',
  /** TTL of answers (CoreDNS's kubernetes plugin: 5 s). */
  ttlSeconds: 5,
};

export interface ClusterDnsOptions {
  client: KubeClient;
  /** Where to listen, UDP and TCP. */
  host: string;
  port: number;
  zone?: string;
  ttlSeconds?: number;
  /**
   * The ConfigMap of extra records (hosts.ts); `false`: none. Its namespace must be readable by the
   * server's credentials (the manifest's Role grants kube-system's ConfigMaps).
   */
  hostsConfigMap?: { namespace: string; name: string } | false;
}

/** RFC 1035 §4.1.1 response codes (dns-packet decodes them but takes them only inside `flags`). */
const RCODES = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
type Rcode = keyof typeof RCODES;

type Question = dnsPacket.Question;
type Answer = dnsPacket.Answer;

/** What a name resolves to: records, or "exists, nothing of that type", or nothing. */
type Lookup = { answers: Answer[]; additionals?: Answer[] } | 'nxdomain';

export class ClusterDns {
  private readonly services = new Store<Service>();
  private readonly slices = new Store<EndpointSlice>({
    indexers: {
      service: (s) => [`${s.metadata?.namespace}/${s.metadata?.labels?.['kubernetes.io/service-name'] ?? ''}`],
    },
  });
  private readonly configMaps = new Store<ConfigMap>();
  private hosts = HostsTable.empty;
  private readonly abort = new AbortController();
  private udp?: Socket;
  private tcp?: Server;
  private readonly zone: string;
  private readonly ttl: number;
  /** Queries answered, by response code (tests, logs). */
  readonly answered = new Map<string, number>();

  constructor(private readonly o: ClusterDnsOptions) {
    this.zone = (o.zone ?? CLUSTER_DNS_DEFAULTS.zone).toLowerCase();
    this.ttl = o.ttlSeconds ?? CLUSTER_DNS_DEFAULTS.ttlSeconds;
  }

  /** Watches Services and EndpointSlices, then serves once both are listed. Returns the bound port. */
  async start(): Promise<number> {
    void this.follow(SERVICES, this.services);
    void this.follow(SLICES, this.slices);
    const ready = [this.services.waitUntilReady(), this.slices.waitUntilReady()];
    const hostsCm =
      this.o.hostsConfigMap === false
        ? undefined
        : (this.o.hostsConfigMap ?? {
            namespace: HOSTS_DEFAULTS.configMapNamespace,
            name: HOSTS_DEFAULTS.configMapName,
          });
    if (hostsCm) {
      // re-parse on every change of the one ConfigMap: lookups then read a ready table
      this.configMaps.subscribe(() => {
        const cm = this.configMaps.get(`${hostsCm.namespace}/${hostsCm.name}`);
        this.hosts = cm ? HostsTable.parse(cm.data?.[HOSTS_KEYS.hosts], cm.data?.[HOSTS_KEYS.ttl]) : HostsTable.empty;
      });
      void this.follow(CONFIGMAPS, this.configMaps, {
        namespace: hostsCm.namespace,
        fieldSelector: `metadata.name=${hostsCm.name}`,
      });
      ready.push(this.configMaps.waitUntilReady());
    }
    await Promise.all(ready);
    const udp = (this.udp = createSocket('udp4'));
    udp.on('message', (msg, peer) => {
      const reply = this.answer(msg);
      if (reply) udp.send(reply, peer.port, peer.address);
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.o.port, this.o.host, () => resolve());
    });
    const port = udp.address().port;
    this.tcp = createServer((conn) => {
      let buf = Buffer.alloc(0);
      conn.on('error', () => undefined);
      conn.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const len = buf.readUInt16BE(0);
          const reply = this.answer(buf.subarray(2, 2 + len));
          buf = buf.subarray(2 + len);
          if (reply) {
            const head = Buffer.alloc(2);
            head.writeUInt16BE(reply.length);
            conn.write(Buffer.concat([head, reply]));
          }
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.tcp!.once('error', reject);
      this.tcp!.listen(port, this.o.host, () => resolve());
    });
    return port;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.udp?.close();
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
  }

  private async follow<T extends KubeObject>(
    res: ResourceRef,
    store: Store<T>,
    selectors: { namespace?: string; fieldSelector?: string } = {},
  ): Promise<void> {
    try {
      for await (const ev of watcher<T>(this.o.client, res, selectors, this.abort.signal)) store.apply(ev);
    } catch {
      // aborted
    }
  }

  /** The reply to one query message (undefined: not a query we can parse; dropped, as servers do). */
  answer(msg: Buffer): Buffer | undefined {
    let q: dnsPacket.Packet;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return undefined;
    }
    if (q.type !== 'query') return undefined;
    const question = q.questions?.[0];
    const reply = (rcode: Rcode, found?: Exclude<Lookup, 'nxdomain'>, authority: Answer[] = []) => {
      this.answered.set(rcode, (this.answered.get(rcode) ?? 0) + 1);
      return dnsPacket.encode({
        type: 'response',
        id: q.id ?? 0,
        // authoritative answer, recursion desired as asked, RCODE
        flags: dnsPacket.AUTHORITATIVE_ANSWER | ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | RCODES[rcode],
        questions: q.questions ?? [],
        answers: found?.answers ?? [],
        authorities: authority,
        additionals: found?.additionals ?? [],
      } as dnsPacket.Packet);
    };
    if (!question) return reply('FORMERR');
    const name = normalizeName(question.name);
    const hosts = this.hosts;
    const listed = hosts.get(name);
    if (listed) {
      const ips = question.type === 'A' ? listed.ipv4 : question.type === 'AAAA' ? listed.ipv6 : [];
      const answers: Answer[] = ips.map((ip) => ({
        type: question.type as 'A',
        name,
        ttl: hosts.ttlSeconds,
        data: ip,
      }));
      return reply('NOERROR', { answers }, answers.length ? [] : [this.soa(hosts.zoneOf(name), hosts.ttlSeconds)]);
    }
    if (name !== this.zone && !name.endsWith(`.${this.zone}`)) {
      const zone = hosts.zoneOf(name);
      return zone ? reply('NXDOMAIN', undefined, [this.soa(zone, hosts.ttlSeconds)]) : reply('REFUSED');
    }
    const found = this.lookup(question, name);
    if (found === 'nxdomain') return reply('NXDOMAIN', undefined, [this.soa()]);
    return reply('NOERROR', found, found.answers.length ? [] : [this.soa()]);
  }

  /** The SOA of `zone` (default: the cluster zone); its minimum is the negative-caching TTL. */
  private soa(zone = this.zone, ttl = this.ttl): Answer {
    return {
      type: 'SOA',
      name: zone,
      ttl,
      data: {
        mname: `ns.dns.${zone}`,
        rname: `hostmaster.${zone}`,
        serial: Math.floor(Date.now() / 1000),
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: ttl,
      },
    };
  }

  private lookup(question: Question, name: string): Lookup {
    const labels = name.slice(0, -(this.zone.length + 1)).split('.');
    if (name === this.zone) return { answers: question.type === 'SOA' ? [this.soa()] : [] };
    // <a-b-c-d>.<ns>.pod
    if (labels.length === 3 && labels[2] === 'pod') {
      const ip = labels[0]!.replace(/-/g, '.');
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return 'nxdomain';
      return { answers: question.type === 'A' ? [this.a(name, ip)] : [] };
    }
    // _<port>._<proto>.<svc>.<ns>.svc
    if (labels.length === 5 && labels[4] === 'svc' && labels[0]!.startsWith('_') && labels[1]!.startsWith('_')) {
      const svc = this.services.get(`${labels[3]}/${labels[2]}`);
      const port = svc?.spec?.ports?.find(
        (p) => p.name === labels[0]!.slice(1) && (p.protocol ?? 'TCP').toLowerCase() === labels[1]!.slice(1),
      );
      if (!svc || !port) return 'nxdomain';
      const target = `${labels[2]}.${labels[3]}.svc.${this.zone}`;
      if (question.type !== 'SRV') return { answers: [] };
      return {
        answers: [{ type: 'SRV', name, ttl: this.ttl, data: { priority: 0, weight: 100, port: port.port, target } }],
        additionals: this.addresses(svc).map((ip) => this.a(target, ip)),
      };
    }
    // <svc>.<ns>.svc, and the namespace and svc levels that exist as names without records
    if (labels[labels.length - 1] === 'svc') {
      if (labels.length === 1) return { answers: [] };
      if (labels.length === 2) return this.namespaceExists(labels[0]!) ? { answers: [] } : 'nxdomain';
      if (labels.length !== 3) return 'nxdomain';
      const svc = this.services.get(`${labels[1]}/${labels[0]}`);
      if (!svc) return 'nxdomain';
      if (svc.spec?.type === 'ExternalName' && svc.spec.externalName)
        return {
          answers: [{ type: 'CNAME', name, ttl: this.ttl, data: svc.spec.externalName.replace(/\.$/, '') }],
        };
      if (question.type !== 'A') return { answers: [] };
      return { answers: this.addresses(svc).map((ip) => this.a(name, ip)) };
    }
    return 'nxdomain';
  }

  /** The ClusterIP, or for a headless Service the addresses of its ready IPv4 endpoints. */
  private addresses(svc: Service): string[] {
    const ip = svc.spec?.clusterIP;
    if (ip && ip !== 'None') return [ip];
    const slices = this.slices.byIndex('service', `${svc.metadata?.namespace}/${svc.metadata?.name}`);
    const out = new Set<string>();
    for (const s of slices)
      if ((s.addressType ?? 'IPv4') === 'IPv4')
        for (const e of s.endpoints ?? []) if (e.conditions?.ready !== false) for (const a of e.addresses) out.add(a);
    return [...out];
  }

  private namespaceExists(ns: string): boolean {
    return this.services.list().some((s) => s.metadata?.namespace === ns);
  }

  private a(name: string, ip: string): Answer {
    return { type: 'A', name, ttl: this.ttl, data: ip };
  }
}
