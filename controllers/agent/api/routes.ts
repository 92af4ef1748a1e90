// The agent's REST route table (upstream's `/v1` paths, the part cilium-ts serves): health,
// config, IPAM and endpoints for cilium-cni; endpoints, identities, policy, maps, metrics and the
// monitor stream for cilium-dbg. Requests that need the synced world wait for the agent's ready.
import type { Datapath } from '../../../datapath/datapath.js';
import type { LbMapRow } from '../../../datapath/lb.js';
import { serviceModels } from '../services/listing.js';
import { tracePolicy, type EnforcementMode } from '../../../policy/index.js';
import type { Store } from '../../framework/index.js';
import type { EndpointManager } from '../endpoint-manager.js';
import { AgentError, AgentErrorCode } from '../errors.js';
import type { CiliumIdentityObject } from '../identity-allocator.js';
import type { NatListEntry } from '../../../datapath/snat-kernel.js';
import type { HostIpam } from '../ipam.js';
import type { DnsLookup } from '../../../proxy/fqdn-cache-list.js';
import type { FqdnCacheFilter } from '../l7/fqdn-policy.js';
import type { PolicyHub } from '../policy-hub.js';
import { Stream, type ApiServer } from './server.js';
import { asChangeRequest, asTraceRequest, optionalContainerId, requireIpv4, requireOwner } from './validate.js';
import type { ConfigResponse, HealthResponse, IdentityModel, IpamResponse, IpamStatus } from './types.js';
import { cniAttachmentId } from './types.js';

/** What the routes read and drive: the agent's parts, by interface. */
export interface AgentApiContext {
  /** kvstore mode: the kvstore's status (`cilium-dbg status`); absent in CRD mode. */
  kvstore?: { status(): Promise<object> };
  nodeName: string;
  clusterName: string;
  enforcement: EnforcementMode;
  /** Resolves once the caches synced and restored endpoints were resumed. */
  ready: Promise<void>;
  isReady: () => boolean;
  /** Why the agent is not Ready (the node's network, the CNI configuration), undefined when it is. */
  notReadyReason?: () => string | undefined;
  ipam: HostIpam;
  waitForPodCidr: () => Promise<void>;
  endpoints: EndpointManager;
  identities: Store<CiliumIdentityObject>;
  hub: PolicyHub;
  datapath: Datapath;
  /** The Prometheus text exposition. */
  metrics: () => Promise<string>;
  /** The LB maps as rows, and the Service of each frontend. */
  loadBalancer: { dump(): LbMapRow[]; names(): Map<string, string> };
  /** Masquerading: the status line and the BPF NAT table (`cilium-dbg bpf nat list`). */
  masquerading?: { status(): string; natEntries(): NatListEntry[] };
  /** `cilium-dbg status`'s Routing line (controllers/agent/routing/). */
  routing?: () => string;
  /** `cilium-dbg bpf tunnel list`: the tunnel map, in tunnel mode. */
  tunnelMap?: () => { prefix: string; nodeIp: string }[];
  /** `cilium-dbg fqdn cache list`: what the DNS proxy learned (controllers/agent/l7/fqdn-policy.ts). */
  fqdnCache?: (filter: FqdnCacheFilter) => DnsLookup[];
}

const identityModel = (id: number, i: CiliumIdentityObject): IdentityModel => ({
  id,
  labels: Object.entries(i['security-labels'] ?? {}).map(([k, v]) => `${k}=${v}`),
});

const notFound = (what: string): AgentError => new AgentError(AgentErrorCode.NotFound, `${what} not found`);

export function mountRoutes(api: ApiServer, c: AgentApiContext): ApiServer {
  const gated =
    <T>(fn: () => Promise<T>) =>
    async () => {
      await c.ready;
      return fn();
    };
  return api
    .route('GET', /^\/healthz$/, async (): Promise<HealthResponse> => {
      const reason = c.notReadyReason?.();
      if (!reason) return { status: c.isReady() ? 'ok' : 'starting' };
      return { status: c.isReady() ? 'degraded' : 'starting', reason };
    })
    .route('GET', /^\/kvstore$/, async (): Promise<object> =>
      c.kvstore ? { mode: 'kvstore', ...(await c.kvstore.status()) } : { mode: 'crd' },
    )
    .route('GET', /^\/config$/, async (): Promise<ConfigResponse> => ({
      nodeName: c.nodeName,
      clusterName: c.clusterName,
      enforcement: c.enforcement,
      podCIDR: c.ipam.cidr,
      router: c.ipam.router,
      ...(c.masquerading ? { masquerading: c.masquerading.status() } : {}),
      ...(c.routing ? { routing: c.routing() } : {}),
    }))
    .route('POST', /^\/ipam$/, async (r): Promise<IpamResponse> => {
      const family = r.query.get('family') ?? 'ipv4';
      if (family !== 'ipv4') throw new AgentError(AgentErrorCode.BadRequest, `IPAM family ${family} is not served`);
      const owner = requireOwner(r.query.get('owner'));
      const container = optionalContainerId(r.query.get('container'));
      await c.ready;
      await c.waitForPodCidr();
      // An IpamError (exhausted, no CIDR yet) keeps its own code: 503 either way.
      const ip = c.ipam.allocate(owner, container);
      return {
        address: { ipv4: ip },
        ipv4: { ip, gateway: c.ipam.router, cidrs: [c.ipam.cidr] },
        'host-addressing': { ipv4: { ip: c.ipam.router, enabled: true } },
      };
    })
    .route('GET', /^\/ipam$/, async (): Promise<IpamStatus> => ({
      cidr: c.ipam.cidr,
      router: c.ipam.ready ? c.ipam.router : undefined,
      used: c.ipam.allocations(),
    }))
    .route('DELETE', /^\/ipam\/([^/]+)$/, async (r) => {
      // Only the owner frees an address (upstream trusts the socket's group; we also check who asks).
      const ip = requireIpv4(r.params[0]!, 'the address');
      const owner = requireOwner(r.query.get('owner'));
      const held = c.ipam.owner(ip);
      if (held === undefined) throw notFound(`IPAM allocation ${ip}`);
      if (held !== owner) throw new AgentError(AgentErrorCode.IpNotOwned, `${ip} is not allocated to ${owner}`);
      if (c.endpoints.findByIp(ip))
        throw new AgentError(AgentErrorCode.IpNotOwned, `${ip} belongs to an endpoint: delete the endpoint instead`);
      c.ipam.release(ip);
      return {};
    })
    .route('DELETE', /^\/ipam$/, async (r) => {
      // CNI DEL: whatever this owner's (container's) ADDs allocated that never became an endpoint.
      const owner = requireOwner(r.query.get('owner'));
      const container = optionalContainerId(r.query.get('container'));
      await c.ready;
      return { released: c.ipam.releaseUnused(owner, container, (ip) => Boolean(c.endpoints.findByIp(ip))) };
    })
    .route(
      'GET',
      /^\/endpoint$/,
      gated(async () => c.endpoints.list().map((e) => c.endpoints.model(e))),
    )
    .route('GET', /^\/endpoint\/([^/]+)$/, async (r) => {
      const ep = c.endpoints.find(r.params[0]!);
      if (!ep) throw notFound(`endpoint ${r.params[0]}`);
      return c.endpoints.model(ep);
    })
    .route('PUT', /^\/endpoint\/([^/]+)$/, async (r) => {
      const req = asChangeRequest(r.body);
      const id = r.params[0]!;
      if (id !== cniAttachmentId(req['container-id'], req['container-interface-name']))
        throw new AgentError(
          AgentErrorCode.BadRequest,
          `endpoint id ${JSON.stringify(id.slice(0, 300))} is not cni-attachment-id:<container-id>:<container-interface-name> of the body`,
        );
      await c.ready;
      return c.endpoints.create(id, req);
    })
    .route('DELETE', /^\/endpoint\/([^/]+)$/, async (r) => {
      await c.ready;
      if (!(await c.endpoints.remove(r.params[0]!))) throw notFound(`endpoint ${r.params[0]}`);
      return {};
    })
    .route('GET', /^\/identity$/, async (): Promise<IdentityModel[]> =>
      c.identities.list().map((i) => identityModel(Number(i.metadata?.name), i)),
    )
    .route('GET', /^\/identity\/(\d+)$/, async (r): Promise<IdentityModel> => {
      const i = c.identities.get(r.params[0]!);
      if (!i) throw notFound(`identity ${r.params[0]}`);
      return identityModel(Number(r.params[0]), i);
    })
    .route('GET', /^\/policy$/, async () => ({
      policies: [...c.hub.statuses].map(([key, st]) => ({ key, problems: st.problems, notEnforced: st.notEnforced })),
      stats: c.hub.engine.stats(),
    }))
    .route('GET', /^\/policy\/entries\/(\d+)$/, async (r) => c.hub.entries(Number(r.params[0])))
    .route('POST', /^\/policy\/trace$/, async (r) => {
      const q = asTraceRequest(r.body);
      return tracePolicy(c.hub.engine, {
        source: q.source as never,
        destination: q.destination as never,
        port: q.port,
        protocol: q.protocol,
      });
    })
    .route('GET', /^\/map\/endpoints$/, async () => c.datapath.dumpEndpoints())
    .route('GET', /^\/map\/ipcache$/, async () => c.datapath.dumpIpcache())
    .route('GET', /^\/map\/ct$/, async () => c.datapath.dumpConntrack())
    .route('GET', /^\/map\/policy\/(\d+)$/, async (r) => {
      const entries = c.datapath.dumpPolicy(Number(r.params[0]));
      if (!entries) throw new AgentError(AgentErrorCode.NotFound, `endpoint ${r.params[0]} has no policy map`);
      return entries;
    })
    .route('GET', /^\/service$/, async () => serviceModels(c.loadBalancer.dump(), c.loadBalancer.names()))
    .route('GET', /^\/map\/lb$/, async () => c.loadBalancer.dump())
    .route('GET', /^\/map\/nat$/, async () => c.masquerading?.natEntries() ?? [])
    .route('GET', /^\/map\/tunnel$/, async () => c.tunnelMap?.() ?? [])
    .route('GET', /^\/fqdn\/cache$/, async (r) => {
      const q = (k: string) => r.query.get(k) ?? undefined;
      const ep = q('endpoint');
      if (ep !== undefined && !/^\d+$/.test(ep))
        throw new AgentError(AgentErrorCode.BadRequest, 'endpoint must be an endpoint id');
      return (
        c.fqdnCache?.({
          matchpattern: q('matchpattern'),
          source: q('source'),
          endpoint: ep === undefined ? undefined : Number(ep),
        }) ?? []
      );
    })
    .route('GET', /^\/metrics$/, async () => c.metrics())
    .route('GET', /^\/monitor$/, async () => new Stream((write) => c.datapath.onEvent((e) => write(e))));
}
