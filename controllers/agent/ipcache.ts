// Ipcache assembly: the ipcache (prefix → identity) from every source the agent knows — the
// engine's CIDR identities, the nodes' addresses, the CiliumEndpoints, the local endpoints, this
// node's router and InternalIP — written together with the endpoints map, batched per
// event-loop turn, once the datapath gate is open.
import type { Logger } from 'pino';
import type { Datapath, IpcacheEntry, SyncResult } from '../../datapath/datapath.js';
import type { Store } from '../framework/index.js';
import type { EndpointManager } from './endpoint-manager.js';
import type { HostIpam } from './ipam.js';
import type { AgentMetrics } from './metrics.js';
import type { PolicyHub } from './policy-hub.js';
import type { CepObject, CiliumNodeObject } from './resources.js';

/** Reserved identities (upstream pkg/identity/numericidentity.go). */
const HOST_IDENTITY = 1;
const REMOTE_NODE_IDENTITY = 6;

export interface IpcacheSources {
  nodeName: string;
  datapath: Datapath;
  hub: PolicyHub;
  nodes: Store<CiliumNodeObject>;
  ceps: Store<CepObject>;
  endpoints: EndpointManager;
  ipam: HostIpam;
  /** this node's InternalIP, once registered */
  nodeIp: () => string | undefined;
  /** tunnel routing mode: other nodes' addresses carry their InternalIP as tunnel endpoint (pods reach them encapsulated) */
  tunnel?: boolean;
  metrics: AgentMetrics;
  log: Logger;
}

export class IpcacheAssembler {
  private timer?: NodeJS.Immediate;

  constructor(private readonly s: IpcacheSources) {}

  /** Syncs on the next event-loop turn (changes come in bursts); nothing before the gate opens. */
  schedule(): void {
    if (this.timer || !this.s.hub.gateOpen) return;
    this.timer = setImmediate(() => {
      this.timer = undefined;
      this.sync();
    });
  }

  /** The desired ipcache, one entry per prefix (later sources win). */
  entries(): IpcacheEntry[] {
    const { hub, nodes, ceps, endpoints, ipam, nodeName } = this.s;
    const entries = new Map<string, IpcacheEntry>();
    const put = (prefix: string, identity: number) => entries.set(prefix, { prefix, identity });
    for (const [prefix, id] of hub.cidrIdentities) put(prefix, id);
    for (const n of nodes.list()) {
      const own = n.metadata?.name === nodeName;
      const internal = n.spec?.addresses?.find((a) => a.type === 'InternalIP')?.ip;
      const tunnelEndpoint = this.s.tunnel && !own && internal && !internal.includes(':') ? internal : undefined;
      for (const a of n.spec?.addresses ?? [])
        if (a.ip && !a.ip.includes(':'))
          entries.set(`${a.ip}/32`, {
            prefix: `${a.ip}/32`,
            identity: own ? HOST_IDENTITY : REMOTE_NODE_IDENTITY,
            ...(tunnelEndpoint ? { tunnelEndpoint } : {}),
          });
    }
    for (const cep of ceps.list()) {
      const id = cep.status?.identity?.id;
      for (const a of cep.status?.networking?.addressing ?? []) if (a.ipv4 && id) put(`${a.ipv4}/32`, id);
    }
    for (const ep of endpoints.list()) if (ep.identity !== undefined) put(`${ep.ipv4}/32`, ep.identity);
    if (ipam.ready) put(`${ipam.router}/32`, HOST_IDENTITY);
    const nodeIp = this.s.nodeIp();
    if (nodeIp) put(`${nodeIp}/32`, HOST_IDENTITY);
    return [...entries.values()];
  }

  /** Writes the endpoints map and the ipcache now; a failure is logged (the next change retries). */
  sync(): { ipcache?: SyncResult; endpoints?: SyncResult } {
    const { datapath, endpoints, metrics } = this.s;
    let result: { ipcache?: SyncResult; endpoints?: SyncResult } = {};
    try {
      const written = datapath.syncEndpoints(endpoints.datapathEndpoints());
      const ipcache = datapath.syncIpcache(this.entries());
      result = { ipcache, endpoints: written };
    } catch (e) {
      this.s.log.error({ err: (e as Error).message }, 'syncing the endpoints map or the ipcache failed');
    }
    const states = new Map<string, number>();
    for (const ep of endpoints.list()) states.set(ep.state, (states.get(ep.state) ?? 0) + 1);
    metrics.endpointState.reset();
    for (const [s, n] of states) metrics.endpointState.set({ endpoint_state: s }, n);
    return result;
  }

  stop(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
  }
}
