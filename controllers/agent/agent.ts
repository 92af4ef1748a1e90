// cilium-agent: reconcilers over pods, namespaces, policies, identities, CiliumEndpoints and
// CiliumNodes feeding the policy engine and the datapath, the REST API for cilium-cni, and
// this node's CiliumNode. Nothing touches the datapath until every cache has synced.
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Datapath, IpcacheEntry, SyncResult } from '../../datapath/datapath.js';
import { MapNames } from '../../datapath/constants.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { SimDatapath } from '../../datapath/sim.js';
import { CRDS, buildCrd, validateObject, type CrdValidationError } from '../../crds/index.js';
import {
  LabelSet,
  policyKey,
  tracePolicy,
  translatePolicy,
  type PolicyEvent,
  type PolicyObject,
  type ProtoName,
  type TranslatedPolicy,
} from '../../policy/index.js';
import {
  Action,
  Manager,
  ensureCrds,
  isNotFound,
  type KubeObject,
  type ManagerOptions,
  type ReconcileContext,
  type ResourceRef,
  type Store,
} from '../framework/index.js';
import { ApiServer, Stream, asChangeRequest } from './api-server.js';
import { CniExclusiveGuard } from './cni-exclusive.js';
import { pinRoot, type AgentOptions } from './config.js';
import { ConntrackGc } from './conntrack-gc.js';
import { EndpointManager } from './endpoint-manager.js';
import { AgentError, AgentErrorCode, IpamError } from './errors.js';
import { IdentityAllocator, type CiliumIdentityObject } from './identity-allocator.js';
import { HostIpam } from './ipam.js';
import { NodeNetwork } from './node-network.js';
import { PolicyHub } from './policy-hub.js';
import {
  CCNPS,
  CEPS,
  CILIUM_IDENTITIES,
  CILIUM_NODES,
  CNPS,
  NAMESPACES,
  NETWORK_POLICIES,
  NODES,
  PODS,
} from './resources.js';

const HOST_IDENTITY = 1;
const REMOTE_NODE_IDENTITY = 6;

interface CiliumNodeObject extends KubeObject {
  spec?: { addresses?: { type?: string; ip?: string }[]; ipam?: { podCIDRs?: string[] } };
}
interface CepObject extends KubeObject {
  status?: {
    identity?: { id?: number };
    networking?: { addressing?: { ipv4?: string }[]; node?: string };
    'named-ports'?: { name?: string; port: number; protocol?: string }[];
  };
}

export class Agent {
  readonly manager: Manager;
  readonly datapath: Datapath & { attach?(ifindex: number): void; detach?(ifindex: number): void };
  readonly hub: PolicyHub;
  readonly ipam = new HostIpam();
  readonly endpoints: EndpointManager;
  readonly api = new ApiServer();
  private readonly identities: IdentityAllocator;
  private readonly network = new NodeNetwork();
  private readonly stores;
  private ipcacheTimer?: NodeJS.Immediate;
  private namedPortsTimer?: NodeJS.Immediate;
  /** The cluster named-port table last fed to the engine, as text (to feed only changes). */
  private namedPortsFed = '';
  private readyResolve!: () => void;
  /** Resolves once the caches synced and restored endpoints were resumed. */
  readonly ready = new Promise<void>((r) => (this.readyResolve = r));
  private nodeIp?: string;
  private routerReady = false;
  private isReady = false;
  private readonly metrics;
  private readonly ctGc: ConntrackGc;
  private readonly cniGuard?: CniExclusiveGuard;

  constructor(
    readonly o: AgentOptions,
    extra: Partial<ManagerOptions> = {},
  ) {
    this.manager = new Manager({
      name: 'cilium-agent',
      kubeconfig: o.kubeconfig,
      health: { host: '127.0.0.1', port: o.healthPort },
      ...(o.prometheusAddr ? { metrics: o.prometheusAddr } : {}),
      ...(o.debug ? { logLevel: 'debug' } : {}),
      ...extra,
    });
    const log = this.manager.log;
    this.datapath = o.datapath === 'sim' ? new SimDatapath() : this.kernelDatapath(o);
    this.ctGc = new ConntrackGc(this.datapath, o.conntrackGcIntervalMs, log);
    if (o.cniExclusive) this.cniGuard = new CniExclusiveGuard(o.cniConfDir, log);
    this.metrics = agentMetrics(this.manager.metrics.registry, () => this.datapath.metrics());
    this.hub = new PolicyHub(this.datapath, {
      enforcement: o.enforcement,
      clusterName: o.clusterName,
      log,
      onCidrIdentities: () => this.scheduleIpcache(),
      onRegenerated: (ids, ms) => {
        if (ids.length) this.metrics.regenTime.observe(ms / 1000);
        void this.endpoints?.refreshCeps(ids);
      },
    });

    const m = this.manager;
    const noop = async () => Action.awaitChange();
    const identityCtl = m.add<CiliumIdentityObject>({
      name: 'cilium-identity',
      resource: CILIUM_IDENTITIES,
      generationFilter: false,
      reconcile: (k, ctx) => this.onIdentity(k, ctx),
    });
    const podCtl = m.add<KubeObject>({
      name: 'pod',
      resource: PODS,
      generationFilter: false,
      watcher: { fieldSelector: `spec.nodeName=${o.nodeName}` },
      reconcile: async (key) => {
        const [ns, name] = key.split('/') as [string, string];
        await this.ready;
        await this.endpoints.regeneratePod(ns, name);
        return Action.awaitChange();
      },
    });
    const nsCtl = m.add<KubeObject>({
      name: 'namespace',
      resource: NAMESPACES,
      generationFilter: false,
      reconcile: async (key) => {
        await this.ready;
        await this.endpoints.regenerateNamespace(key);
        return Action.awaitChange();
      },
    });
    const policyCtl = (resource: ResourceRef, kind: PolicyObject['kind']) =>
      m.add<KubeObject>({
        name: `policy-${resource.plural}`,
        resource,
        reconcile: (k, ctx) => this.onPolicy(kind, k, ctx),
      });
    const cnpCtl = policyCtl(CNPS, 'CiliumNetworkPolicy');
    const ccnpCtl = policyCtl(CCNPS, 'CiliumClusterwideNetworkPolicy');
    const npCtl = policyCtl(NETWORK_POLICIES, 'NetworkPolicy');
    const cepCtl = m.add<CepObject>({
      name: 'ciliumendpoint',
      resource: CEPS,
      generationFilter: false,
      store: {
        indexers: { ip: (o) => (o.status?.networking?.addressing ?? []).flatMap((a) => (a.ipv4 ? [a.ipv4] : [])) },
      },
      reconcile: async () => (this.scheduleIpcache(), this.scheduleNamedPorts(), noop()),
    });
    const cnCtl = m.add<CiliumNodeObject>({
      name: 'ciliumnode',
      resource: CILIUM_NODES,
      generationFilter: false,
      reconcile: (k, ctx) => this.onCiliumNode(k, ctx),
    });
    this.stores = {
      identity: identityCtl.store,
      pod: podCtl.store,
      ns: nsCtl.store,
      cnp: cnpCtl.store,
      ccnp: ccnpCtl.store,
      np: npCtl.store,
      cep: cepCtl.store,
      cn: cnCtl.store,
    };

    this.identities = new IdentityAllocator(m.client, identityCtl.store, o.clusterId);
    this.endpoints = new EndpointManager({
      client: m.client,
      datapath: this.datapath,
      hub: this.hub,
      ipam: this.ipam,
      identities: this.identities,
      pods: podCtl.store,
      namespaces: nsCtl.store,
      log,
      clusterName: o.clusterName,
      nodeName: o.nodeName,
      nodeIp: () => this.nodeIp,
      stateDir: join(o.stateDir, 'endpoints'),
      identityChangeGracePeriodMs: o.identityChangeGracePeriodMs,
      onChange: () => this.scheduleIpcache(),
    });
    this.routes();
  }

  /** The kernel datapath with the conntrack table sized by `bpf-ct-global-*-max`. */
  private kernelDatapath(o: AgentOptions): KernelDatapath {
    const dp = new KernelDatapath({
      pinRoot: pinRoot(o),
      policyMapSize: o.policyMapMax,
      maxEntries: { [MapNames.ct4]: o.ctMapSize },
    });
    if (dp.recreatedMaps.length)
      this.manager.log.warn(
        { maps: dp.recreatedMaps, ctMapSize: o.ctMapSize },
        'pinned maps had another size and were recreated (their entries are lost)',
      );
    return dp;
  }

  private async onIdentity(key: string, ctx: ReconcileContext<CiliumIdentityObject>): Promise<Action> {
    const id = Number(key);
    if (!Number.isInteger(id)) return Action.awaitChange();
    const labels = ctx.object?.['security-labels'];
    this.hub.apply(
      labels
        ? [{ type: 'identity-upserted', id, labels: LabelSet.fromRecord(labels) }]
        : [{ type: 'identity-removed', id }],
    );
    this.metrics.identities.set(this.stores.identity.size);
    return Action.awaitChange();
  }

  private async onPolicy(kind: PolicyObject['kind'], key: string, ctx: ReconcileContext<KubeObject>): Promise<Action> {
    const [ns, name] = key.includes('/') ? (key.split('/') as [string, string]) : [undefined, key];
    const pkey = policyKey(kind, ns, name);
    if (!ctx.object) {
      this.hub.apply([{ type: 'policy-removed', key: pkey }]);
      this.countPolicies();
      return Action.awaitChange();
    }
    const { errors, translated } = this.translate(kind, ctx.object);
    if (!translated) {
      // Upstream refuses the whole policy: none of its rules apply.
      this.hub.apply([{ type: 'policy-removed', key: pkey }]);
      const message = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
      await ctx.setCondition({ type: 'Valid', status: 'False', reason: 'PolicyValidationFailed', message });
      this.countPolicies();
      return Action.awaitChange();
    }
    this.hub.apply([{ type: 'policy-upserted', policy: translated }]);
    this.countPolicies();
    if (kind !== 'NetworkPolicy') {
      const notes = [
        ...translated.problems.map((p) => `${p.field}: ${p.message}`),
        ...translated.notEnforced.map((n) => `${n.field}: ${n.message}`),
      ];
      const message = notes.length
        ? `Policy validation succeeded; not enforced: ${notes.join('; ')}`
        : 'Policy validation succeeded';
      await ctx.setCondition({ type: 'Valid', status: 'True', reason: 'PolicyValidated', message });
    }
    return Action.awaitChange();
  }

  /**
   * Upstream refuses a policy with a schema or semantic error as a whole: then there is nothing to
   * translate, only errors to report in its Valid condition.
   */
  private translate(
    kind: PolicyObject['kind'],
    object: KubeObject,
  ): { errors: CrdValidationError[]; translated?: TranslatedPolicy } {
    const errors = kind === 'NetworkPolicy' ? [] : validateObject(kind, object, { unknownFields: 'ignore' });
    if (errors.length) return { errors };
    return {
      errors,
      translated: translatePolicy({ kind, object } as PolicyObject, { clusterName: this.o.clusterName }),
    };
  }

  private countPolicies(): void {
    this.metrics.policies.set(this.stores.cnp.size + this.stores.ccnp.size + this.stores.np.size);
  }

  private async onCiliumNode(key: string, ctx: ReconcileContext<CiliumNodeObject>): Promise<Action> {
    if (key === this.o.nodeName && ctx.object) {
      const cidr = ctx.object.spec?.ipam?.podCIDRs?.[0];
      if (cidr && !this.routerReady) {
        if (!this.ipam.ready) this.ipam.setCidr(cidr);
        this.routerReady = true;
        if (this.o.manageNodeNetwork)
          await this.network
            .setupRouter(this.ipam.router)
            .catch((e) => ctx.log.error({ err: (e as Error).message }, 'setting up cilium_host failed'));
        const addresses = [
          ...(this.nodeIp ? [{ type: 'InternalIP', ip: this.nodeIp }] : []),
          { type: 'CiliumInternalIP', ip: this.ipam.router },
        ];
        await ctx.client.patch(CILIUM_NODES, key, undefined, { spec: { addresses } }, 'merge', {
          fieldManager: 'cilium-agent',
        });
        ctx.log.info({ podCIDR: cidr, router: this.ipam.router }, 'pod CIDR received');
      }
    }
    this.scheduleIpcache();
    if (this.o.autoDirectNodeRoutes && this.o.manageNodeNetwork) {
      const desired = new Map<string, string>();
      for (const n of this.stores.cn.list()) {
        if (n.metadata?.name === this.o.nodeName) continue;
        const via = n.spec?.addresses?.find((a) => a.type === 'InternalIP')?.ip;
        for (const c of n.spec?.ipam?.podCIDRs ?? []) if (via) desired.set(c, via);
      }
      await this.network
        .syncRoutes(desired)
        .catch((e) => ctx.log.error({ err: (e as Error).message }, 'syncing node routes failed'));
    }
    return Action.awaitChange();
  }

  /** The ipcache and endpoints map follow the caches, batched per event-loop turn. */
  private scheduleIpcache(): void {
    if (this.ipcacheTimer || !this.hub.gateOpen) return;
    this.ipcacheTimer = setImmediate(() => {
      this.ipcacheTimer = undefined;
      this.syncMaps();
    });
  }

  /** Egress named ports follow the CiliumEndpoints' named ports, batched per event-loop turn. */
  private scheduleNamedPorts(): void {
    if (this.namedPortsTimer) return;
    this.namedPortsTimer = setImmediate(() => {
      this.namedPortsTimer = undefined;
      const event = this.namedPortsEvent();
      if (event) this.hub.apply([event]);
    });
  }

  /**
   * The named ports of every pod in the cluster, from the CiliumEndpoints (upstream resolves an
   * egress named port against all endpoints that name it, local or remote): an event when the
   * table differs from the one last fed, else undefined.
   */
  private namedPortsEvent(): PolicyEvent | undefined {
    const table = new Map<string, Map<string, { port: number; protocol: ProtoName }>>();
    for (const cep of this.stores.cep.list()) {
      for (const np of cep.status?.['named-ports'] ?? []) {
        const protocol = (np.protocol ?? 'TCP').toUpperCase() as ProtoName;
        // container ports are TCP, UDP or SCTP; anything else cannot be a policy port
        if (!np.name || !['TCP', 'UDP', 'SCTP'].includes(protocol)) continue;
        let ports = table.get(np.name);
        if (!ports) table.set(np.name, (ports = new Map()));
        ports.set(`${np.port}/${protocol}`, { port: np.port, protocol });
      }
    }
    const ports = Object.fromEntries(
      [...table]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([name, m]) => [
          name,
          [...m.values()].sort((a, b) => a.port - b.port || (a.protocol < b.protocol ? -1 : 1)),
        ]),
    );
    const text = JSON.stringify(ports);
    if (text === this.namedPortsFed) return undefined;
    this.namedPortsFed = text;
    return { type: 'cluster-named-ports', ports };
  }

  /**
   * Feeds the engine every identity and policy the caches hold, synchronously, before the gate
   * opens: the reconcilers do the same later (idempotently), but a restored endpoint must never
   * be programmed from an engine that has not yet seen them.
   */
  private primeEngine(): void {
    const events: PolicyEvent[] = [];
    for (const i of this.stores.identity.list()) {
      const labels = i['security-labels'];
      const id = Number(i.metadata?.name);
      if (labels && Number.isInteger(id))
        events.push({ type: 'identity-upserted', id, labels: LabelSet.fromRecord(labels) });
    }
    const kinds: [Store<KubeObject>, PolicyObject['kind']][] = [
      [this.stores.cnp, 'CiliumNetworkPolicy'],
      [this.stores.ccnp, 'CiliumClusterwideNetworkPolicy'],
      [this.stores.np, 'NetworkPolicy'],
    ];
    for (const [store, kind] of kinds) {
      for (const object of store.list()) {
        const { translated } = this.translate(kind, object);
        if (translated) events.push({ type: 'policy-upserted', policy: translated });
      }
    }
    const namedPorts = this.namedPortsEvent();
    if (namedPorts) events.push(namedPorts);
    this.hub.apply(events);
  }

  private syncMaps(): { ipcache?: SyncResult; endpoints?: SyncResult } {
    const entries = new Map<string, IpcacheEntry>();
    const put = (prefix: string, identity: number) => entries.set(prefix, { prefix, identity });
    for (const [prefix, id] of this.hub.cidrIdentities) put(prefix, id);
    for (const n of this.stores.cn.list()) {
      const own = n.metadata?.name === this.o.nodeName;
      for (const a of n.spec?.addresses ?? [])
        if (a.ip && !a.ip.includes(':')) put(`${a.ip}/32`, own ? HOST_IDENTITY : REMOTE_NODE_IDENTITY);
    }
    for (const cep of this.stores.cep.list()) {
      const id = cep.status?.identity?.id;
      for (const a of cep.status?.networking?.addressing ?? []) if (a.ipv4 && id) put(`${a.ipv4}/32`, id);
    }
    for (const ep of this.endpoints.list()) if (ep.identity !== undefined) put(`${ep.ipv4}/32`, ep.identity);
    if (this.ipam.ready) put(`${this.ipam.router}/32`, HOST_IDENTITY);
    if (this.nodeIp) put(`${this.nodeIp}/32`, HOST_IDENTITY);
    let result: { ipcache?: SyncResult; endpoints?: SyncResult } = {};
    try {
      const endpoints = this.datapath.syncEndpoints(this.endpoints.datapathEndpoints());
      const ipcache = this.datapath.syncIpcache([...entries.values()]);
      result = { ipcache, endpoints };
    } catch (e) {
      this.manager.log.error({ err: (e as Error).message }, 'syncing the endpoints map or the ipcache failed');
    }
    const states = new Map<string, number>();
    for (const ep of this.endpoints.list()) states.set(ep.state, (states.get(ep.state) ?? 0) + 1);
    this.metrics.endpointState.reset();
    for (const [s, n] of states) this.metrics.endpointState.set({ endpoint_state: s }, n);
    return result;
  }

  private routes(): void {
    const gated =
      <T>(fn: () => Promise<T>) =>
      async () => {
        await this.ready;
        return fn();
      };
    this.api
      .route('GET', /^\/healthz$/, async () => ({ status: this.isReady ? 'ok' : 'starting' }))
      .route('GET', /^\/config$/, async () => ({
        nodeName: this.o.nodeName,
        clusterName: this.o.clusterName,
        enforcement: this.o.enforcement,
        podCIDR: this.ipam.cidr,
        router: this.ipam.router,
      }))
      .route('POST', /^\/ipam$/, async (r) => {
        await this.ready;
        await this.waitForPodCidr();
        let ip: string;
        try {
          ip = this.ipam.allocate(r.query.get('owner') ?? 'unknown');
        } catch (e) {
          throw e instanceof IpamError ? new AgentError(AgentErrorCode.Ipam, e.message, { cause: e }) : e;
        }
        return {
          address: { ipv4: ip },
          ipv4: { ip, gateway: this.ipam.router, cidrs: [this.ipam.cidr] },
          'host-addressing': { ipv4: { ip: this.ipam.router, enabled: true } },
        };
      })
      .route('GET', /^\/ipam$/, async () => ({
        cidr: this.ipam.cidr,
        router: this.ipam.ready ? this.ipam.router : undefined,
        used: this.ipam.allocations(),
      }))
      .route('DELETE', /^\/ipam\/([^/]+)$/, async (r) => {
        this.ipam.release(r.params[0]!);
        return {};
      })
      .route(
        'GET',
        /^\/endpoint$/,
        gated(async () => this.endpoints.list().map((e) => this.endpoints.model(e))),
      )
      .route('GET', /^\/endpoint\/([^/]+)$/, async (r) => {
        const ep = this.endpoints.find(r.params[0]!);
        if (!ep) throw new AgentError(AgentErrorCode.NotFound, `endpoint ${r.params[0]} not found`);
        return this.endpoints.model(ep);
      })
      .route('PUT', /^\/endpoint\/([^/]+)$/, async (r) => {
        await this.ready;
        return this.endpoints.create(r.params[0]!, asChangeRequest(r.body));
      })
      .route('DELETE', /^\/endpoint\/([^/]+)$/, async (r) => {
        await this.ready;
        if (!(await this.endpoints.remove(r.params[0]!)))
          throw new AgentError(AgentErrorCode.NotFound, `endpoint ${r.params[0]} not found`);
        return {};
      })
      .route('GET', /^\/identity$/, async () =>
        this.stores.identity.list().map((i) => ({
          id: Number(i.metadata?.name),
          labels: Object.entries(i['security-labels'] ?? {}).map(([k, v]) => `${k}=${v}`),
        })),
      )
      .route('GET', /^\/identity\/(\d+)$/, async (r) => {
        const i = this.stores.identity.get(r.params[0]!);
        if (!i) throw new AgentError(AgentErrorCode.NotFound, `identity ${r.params[0]} not found`);
        return {
          id: Number(r.params[0]),
          labels: Object.entries(i['security-labels'] ?? {}).map(([k, v]) => `${k}=${v}`),
        };
      })
      .route('GET', /^\/policy$/, async () => ({
        policies: [...this.hub.statuses].map(([key, st]) => ({
          key,
          problems: st.problems,
          notEnforced: st.notEnforced,
        })),
        stats: this.hub.engine.stats(),
      }))
      .route('GET', /^\/policy\/entries\/(\d+)$/, async (r) => this.hub.entries(Number(r.params[0])))
      .route('POST', /^\/policy\/trace$/, async (r) => {
        const q = (r.body ?? {}) as {
          source?: unknown;
          destination?: unknown;
          port?: number;
          protocol?: string | number;
        };
        if (!q.source || !q.destination)
          throw new AgentError(
            AgentErrorCode.BadRequest,
            'trace needs source and destination ({identity} or {labels})',
          );
        return tracePolicy(this.hub.engine, {
          source: q.source as never,
          destination: q.destination as never,
          port: Number(q.port ?? 0),
          protocol: q.protocol ?? 'TCP',
        });
      })
      .route('GET', /^\/map\/endpoints$/, async () => this.datapath.dumpEndpoints())
      .route('GET', /^\/map\/ipcache$/, async () => this.datapath.dumpIpcache())
      .route('GET', /^\/map\/ct$/, async () => this.datapath.dumpConntrack())
      .route('GET', /^\/map\/policy\/(\d+)$/, async (r) => {
        const entries = this.datapath.dumpPolicy(Number(r.params[0]));
        if (!entries) throw new AgentError(AgentErrorCode.NotFound, `endpoint ${r.params[0]} has no policy map`);
        return entries;
      })
      .route('GET', /^\/metrics$/, async () => this.manager.metrics.registry.metrics())
      .route('GET', /^\/monitor$/, async () => new Stream((write) => this.datapath.onEvent((e) => write(e))));
  }

  private async waitForPodCidr(): Promise<void> {
    const deadline = Date.now() + this.o.podCidrTimeoutMs;
    while (!this.ipam.ready) {
      if (Date.now() > deadline)
        throw new AgentError(
          AgentErrorCode.Ipam,
          `no pod CIDR for node ${this.o.nodeName} after ${this.o.podCidrTimeoutMs} ms: is cilium-operator running?`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** This node's InternalIP: from its Node object, else the first non-loopback IPv4 here. */
  private async discoverNodeIp(): Promise<string | undefined> {
    try {
      const node = await this.manager.client.get<
        KubeObject & { status?: { addresses?: { type: string; address: string }[] } }
      >(NODES, this.o.nodeName);
      const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
      if (ip) return ip;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
    return undefined;
  }

  private async registerNode(): Promise<void> {
    this.nodeIp = await this.discoverNodeIp();
    const spec = { addresses: this.nodeIp ? [{ type: 'InternalIP', ip: this.nodeIp }] : [] };
    // The CRDs may still be on their way (installed with us, or not yet served): wait for them.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.manager.client.create(CILIUM_NODES, {
          apiVersion: 'cilium.io/v2',
          kind: 'CiliumNode',
          metadata: { name: this.o.nodeName },
          spec,
        });
        return;
      } catch (e) {
        if ((e as { status?: number }).status === 409) return;
        if (!isNotFound(e) || attempt >= 300) throw e;
        if (attempt % 50 === 0) this.manager.log.warn('the CiliumNode CRD is not served yet; waiting (apply crds/v2/)');
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  async start(): Promise<void> {
    const restored = this.endpoints.restore();
    await ensureCrds(
      this.manager.client,
      CRDS.map((d) => buildCrd(d) as KubeObject),
      this.manager.log,
    );
    await this.registerNode();
    await this.api.listen(this.o.socketPath);
    await this.manager.start();
    await Promise.all(Object.values(this.stores).map((s) => s.waitUntilReady()));
    // Restored endpoints get their identities and policies back before anything is written.
    for (const cn of this.stores.cn.list())
      if (cn.metadata?.name === this.o.nodeName && cn.spec?.ipam?.podCIDRs?.[0] && !this.ipam.ready)
        this.ipam.setCidr(cn.spec.ipam.podCIDRs[0]);
    for (const ep of restored) this.ipam.restore(ep.ipv4, `${ep.namespace}/${ep.podName}`);
    this.primeEngine();
    this.hub.mapsRewritten = 0;
    this.hub.openGate([]);
    await this.endpoints.resume();
    const writes = this.syncMaps();
    this.manager.log.info({ ...writes, policyMapsReplaced: this.hub.mapsRewritten }, 'datapath writes after restart');
    this.ctGc.start();
    this.cniGuard?.start();
    this.isReady = true;
    this.readyResolve();
    this.manager.log.info(
      { node: this.o.nodeName, restored: restored.length, podCIDR: this.ipam.cidr || null },
      'cilium-agent ready',
    );
  }

  /** A pod as the agent knows it, local endpoint or remote CiliumEndpoint (for Hubble). */
  podByIp(
    ip: string,
  ): { id: number; identity: number; namespace: string; podName: string; labels: string[]; ips: string[] } | undefined {
    const local = this.endpoints.findByIp(ip);
    if (local?.identity !== undefined) return this.podView(local.id)!;
    const cep = this.stores.cep.byIndex('ip', ip)[0];
    const id = cep?.status?.identity?.id;
    if (!cep || id === undefined) return undefined;
    return {
      id: 0,
      identity: id,
      namespace: cep.metadata?.namespace ?? '',
      podName: cep.metadata?.name ?? '',
      labels: this.identityLabels(id) ?? [],
      ips: [ip],
    };
  }

  /** A local endpoint by id (for Hubble). */
  podView(
    id: number,
  ): { id: number; identity: number; namespace: string; podName: string; labels: string[]; ips: string[] } | undefined {
    const ep = this.endpoints.byId.get(id);
    if (!ep || ep.identity === undefined) return undefined;
    return {
      id,
      identity: ep.identity,
      namespace: ep.namespace,
      podName: ep.podName,
      labels: ep.identityLabels ?? [],
      ips: [ep.ipv4],
    };
  }

  /** An identity's labels as `source:key=value` (for Hubble). */
  identityLabels(id: number): string[] | undefined {
    const labels = this.stores.identity.get(String(id))?.['security-labels'];
    return labels ? Object.entries(labels).map(([k, v]) => `${k}=${v}`) : undefined;
  }

  /** Every node's name and InternalIP, now and on each CiliumNode change. */
  watchNodes(fn: (nodes: { name: string; ip: string }[]) => void): void {
    const emit = () =>
      fn(
        this.stores.cn.list().flatMap((n) => {
          const ip = n.spec?.addresses?.find((a) => a.type === 'InternalIP')?.ip;
          return ip && n.metadata?.name ? [{ name: n.metadata.name, ip }] : [];
        }),
      );
    this.stores.cn.subscribe(emit);
    emit();
  }

  async stop(): Promise<void> {
    if (this.namedPortsTimer) clearImmediate(this.namedPortsTimer);
    if (this.ipcacheTimer) clearImmediate(this.ipcacheTimer);
    this.ctGc.stop();
    this.cniGuard?.stop();
    this.endpoints.close();
    await this.api.close();
    await this.manager.stop();
    this.datapath.close();
  }
}

/** Upstream's drop reason names for the metrics label (reference §1.8), by |DROP_*|. */
const DROP_REASONS: Record<number, string> = {
  133: 'Policy denied',
  181: 'Policy denied by denylist',
  134: 'Invalid packet',
  165: 'No configuration',
  137: 'CT: Map insertion failed',
  130: 'Invalid source ip',
};

function agentMetrics(
  registry: Registry,
  samples: () => { reason: number; direction: string; packets: number; bytes: number }[],
) {
  const r = [registry];
  // Read from the datapath's per-CPU metrics map at scrape time (counters owned by the kernel).
  new Gauge({
    name: 'cilium_forward_count_total',
    help: 'Total forwarded packets, tagged by ingress/egress direction',
    labelNames: ['direction'],
    registers: r,
    collect() {
      this.reset();
      for (const s of samples()) if (s.reason === 0) this.inc({ direction: s.direction.toUpperCase() }, s.packets);
    },
  });
  new Gauge({
    name: 'cilium_drop_count_total',
    help: 'Total dropped packets, tagged by drop reason and ingress/egress direction',
    labelNames: ['reason', 'direction'],
    registers: r,
    collect() {
      this.reset();
      for (const s of samples())
        if (s.reason !== 0)
          this.inc(
            { reason: DROP_REASONS[s.reason] ?? `reason ${s.reason}`, direction: s.direction.toUpperCase() },
            s.packets,
          );
    },
  });
  return {
    endpointState: new Gauge({
      name: 'cilium_endpoint_state',
      help: 'Count of all endpoints, tagged by different endpoint states',
      labelNames: ['endpoint_state'],
      registers: r,
    }),
    identities: new Gauge({ name: 'cilium_identity', help: 'Number of identities currently allocated', registers: r }),
    policies: new Gauge({ name: 'cilium_policy', help: 'Number of policies currently loaded', registers: r }),
    regenTime: new Histogram({
      name: 'cilium_endpoint_regeneration_time_stats_seconds',
      help: 'Endpoint regeneration time stats',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: r,
    }),
    mapOps: new Counter({
      name: 'cilium_bpf_map_ops_total',
      help: 'Total operations on map, tagged by map name',
      labelNames: ['map_name', 'operation', 'outcome'],
      registers: r,
    }),
  };
}
