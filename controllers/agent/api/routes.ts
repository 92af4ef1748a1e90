// The agent's REST route table (upstream's `/v1` paths, the part cilium-ts serves): health,
// config, IPAM and endpoints for cilium-cni; endpoints, identities, policy, maps, metrics and the
// monitor stream for cilium-dbg. Requests that need the synced world wait for the agent's ready.
import type { Datapath } from '../../../datapath/datapath.js';
import type { LbMapRow } from '../../../datapath/lb.js';
import { serviceModels } from '../services/listing.js';
import { tracePolicy, type EnforcementMode } from '../../../policy/index.js';
import type { Store } from '../../framework/index.js';
import type { EndpointManager } from '../endpoint-manager.js';
import { AgentError, AgentErrorCode, IpamError } from '../errors.js';
import type { CiliumIdentityObject } from '../identity-allocator.js';
import type { HostIpam } from '../ipam.js';
import type { PolicyHub } from '../policy-hub.js';
import { Stream, type ApiServer } from './server.js';
import type {
  ConfigResponse,
  EndpointChangeRequest,
  HealthResponse,
  IdentityModel,
  IpamResponse,
  IpamStatus,
  TraceRequest,
} from './types.js';

/** What the routes read and drive: the agent's parts, by interface. */
export interface AgentApiContext {
  nodeName: string;
  clusterName: string;
  enforcement: EnforcementMode;
  /** Resolves once the caches synced and restored endpoints were resumed. */
  ready: Promise<void>;
  isReady: () => boolean;
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
}

const identityModel = (id: number, i: CiliumIdentityObject): IdentityModel => ({
  id,
  labels: Object.entries(i['security-labels'] ?? {}).map(([k, v]) => `${k}=${v}`),
});

function asChangeRequest(body: unknown): EndpointChangeRequest {
  if (!body || typeof body !== 'object')
    throw new AgentError(AgentErrorCode.BadRequest, 'PUT /endpoint needs an EndpointChangeRequest body');
  return body as EndpointChangeRequest;
}

const notFound = (what: string): AgentError => new AgentError(AgentErrorCode.NotFound, `${what} not found`);

export function mountRoutes(api: ApiServer, c: AgentApiContext): ApiServer {
  const gated =
    <T>(fn: () => Promise<T>) =>
    async () => {
      await c.ready;
      return fn();
    };
  return api
    .route('GET', /^\/healthz$/, async (): Promise<HealthResponse> => ({ status: c.isReady() ? 'ok' : 'starting' }))
    .route('GET', /^\/config$/, async (): Promise<ConfigResponse> => ({
      nodeName: c.nodeName,
      clusterName: c.clusterName,
      enforcement: c.enforcement,
      podCIDR: c.ipam.cidr,
      router: c.ipam.router,
    }))
    .route('POST', /^\/ipam$/, async (r): Promise<IpamResponse> => {
      await c.ready;
      await c.waitForPodCidr();
      let ip: string;
      try {
        ip = c.ipam.allocate(r.query.get('owner') ?? 'unknown');
      } catch (e) {
        throw e instanceof IpamError ? new AgentError(AgentErrorCode.Ipam, e.message, { cause: e }) : e;
      }
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
      c.ipam.release(r.params[0]!);
      return {};
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
      await c.ready;
      return c.endpoints.create(r.params[0]!, asChangeRequest(r.body));
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
      const q = (r.body ?? {}) as TraceRequest;
      if (!q.source || !q.destination)
        throw new AgentError(AgentErrorCode.BadRequest, 'trace needs source and destination ({identity} or {labels})');
      return tracePolicy(c.hub.engine, {
        source: q.source as never,
        destination: q.destination as never,
        port: Number(q.port ?? 0),
        protocol: q.protocol ?? 'TCP',
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
    .route('GET', /^\/metrics$/, async () => c.metrics())
    .route('GET', /^\/monitor$/, async () => new Stream((write) => c.datapath.onEvent((e) => write(e))));
}
