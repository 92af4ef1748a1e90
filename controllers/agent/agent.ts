// cilium-agent: the wiring. Reconcilers over pods, namespaces, policies, identities,
// CiliumEndpoints and CiliumNodes feed the policy engine and the datapath; the REST API serves
// cilium-cni and cilium-dbg; this node registers its CiliumNode. Nothing touches the datapath
// until every cache has synced.
import { dirname, join } from 'node:path';
import { MapNames } from '../../datapath/constants.js';
import type { Datapath } from '../../datapath/datapath.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { ProxyMap } from '../../datapath/proxy-map.js';
import { KernelLoadBalancer, type LoadBalancer } from '../../datapath/lb-kernel.js';
import { Masquerading } from './masquerade/masquerade.js';
import { SimLoadBalancer } from '../../datapath/lb-sim.js';
import { SimDatapath } from '../../datapath/sim.js';
import { CRDS, buildCrd } from '../../crds/index.js';
import { ReservedIdentity } from '../../policy/index.js';
import { Action, Manager, ensureCrds, type KubeObject, type ManagerOptions } from '../framework/index.js';
import { mountRoutes } from './api/routes.js';
import { ApiServer } from './api/server.js';
import { CNI_CONF_DEFAULTS, removeCniConf, writeCniConf } from './cni-config.js';
import { CniExclusiveGuard } from './cni-exclusive.js';
import { pinRoot, type AgentOptions } from './config.js';
import { ConntrackGc } from './conntrack-gc.js';
import { EndpointManager } from './endpoint-manager.js';
import { IdentityAllocator } from './identity-allocator.js';
import { IpcacheAssembler } from './ipcache.js';
import { L7_CHANNEL_SOCKET } from './l7/l7-channel.js';
import { l7State } from './l7/proxy-channel.js';
import { L7Proxies } from './l7/proxies.js';
import { FqdnPolicy } from './l7/fqdn-policy.js';
import { NodeBase } from './node-base.js';
import { StartupStages, type ProcessReading } from './startup-stages.js';
import { AgentKvstore } from './kvstore-mode.js';
import { KvstoreNodeView } from './kvstore-nodes.js';
import { HostIpam } from './ipam.js';
import { agentMetrics, watchHeapAfterGc, type AgentMetrics } from './metrics.js';
import { NamedPortsFeed } from './named-ports.js';
import { NodeRegistration } from './node-registration.js';
import { TUNNEL_OVERHEAD } from './routing/tunnel-device.js';
import { TunnelRouting } from './routing/tunnel-routing.js';
import { PolicyHub } from './policy-hub.js';
import { PolicyReconciler } from './policy-reconciler.js';
import { addReconcilers } from './reconcilers.js';
import { ServiceLoadBalancer } from './services/reconciler.js';
import type { AgentStores } from './resources.js';

export class Agent {
  readonly manager: Manager;
  readonly datapath: Datapath;
  readonly hub: PolicyHub;
  readonly ipam: HostIpam;
  readonly endpoints: EndpointManager;
  readonly api = new ApiServer();
  readonly stores: AgentStores;
  readonly lb: LoadBalancer;
  /** pods' traffic to the world leaves with the node's address (masquerade/) */
  private readonly masquerading: Masquerading;
  readonly services: ServiceLoadBalancer;
  private readonly node: NodeRegistration;
  /** tunnel routing mode: the tunnel device, map and routes (kernel datapath only) */
  private readonly tunnel?: TunnelRouting;
  /** kvstore mode: this node's CiliumNode and the other nodes from etcd. */
  private readonly nodeView?: KvstoreNodeView;
  private readonly ipcache: IpcacheAssembler;
  /** The L7 (HTTP) proxy ports with L7 rules are redirected to; `l7.onEvent` gives its L7 events. */
  readonly l7: L7Proxies;
  /** toFQDNs: the FQDN cache and what it programs; the DNS proxy's `cache` and `beforeRelease` (`learn`). */
  readonly fqdnPolicy: FqdnPolicy;
  private readonly namedPorts: NamedPortsFeed;
  private readonly policies: PolicyReconciler;
  private readonly ctGc: ConntrackGc;
  private readonly cniGuard?: CniExclusiveGuard;
  /** kvstore mode (`identity-allocation-mode: kvstore`): identities and the ipcache through etcd. */
  readonly kvstore?: AgentKvstore;
  private readyResolve!: () => void;
  /** Resolves once the caches synced and restored endpoints were resumed. */
  readonly ready = new Promise<void>((r) => (this.readyResolve = r));
  private isReady = false;
  private cniConfWritten = false;
  private stopped = false;
  private readonly metrics: AgentMetrics;
  /** Each start-up stage's milliseconds, once ready (also in the "cilium-agent ready" log line). */
  startupMs?: Record<string, number>;
  /** The node's base programs: loaded during the cache sync, started after the maps. */
  private readonly base: NodeBase;
  private readonly stopHeapWatch: () => void;

  constructor(
    readonly o: AgentOptions,
    extra: Partial<ManagerOptions> = {},
  ) {
    const m = (this.manager = new Manager({
      name: 'cilium-agent',
      kubeconfig: o.kubeconfig,
      health: { host: '127.0.0.1', port: o.healthPort },
      // The pod's readinessProbe (/readyz): synced caches are not enough, the datapath must be programmed.
      readiness: () => this.notReadyReason(),
      ...(o.prometheusAddr ? { metrics: o.prometheusAddr } : {}),
      ...(o.debug ? { logLevel: 'debug' } : {}),
      ...extra,
    }));
    const log = m.log;
    this.api.useLog(log);
    this.ipam = new HostIpam({ journalDir: join(o.stateDir, 'ipam') });
    this.datapath = o.datapath === 'sim' ? new SimDatapath() : this.kernelDatapath(o);
    this.ctGc = new ConntrackGc(this.datapath, o.conntrackGcIntervalMs, log);
    this.masquerading = new Masquerading(o.masquerade, log);
    if (o.cniExclusive) this.cniGuard = new CniExclusiveGuard(o.cniConfDir, log);
    const metrics = (this.metrics = agentMetrics(m.metrics.registry, () => this.datapath.metrics()));
    this.stopHeapWatch = watchHeapAfterGc(metrics.heapAfterGc, metrics.gcDuration);
    this.hub = new PolicyHub(this.datapath, {
      enforcement: o.enforcement,
      clusterName: o.clusterName,
      log,
      onCidrIdentities: () => this.ipcache.cidrsChanged(),
      onRegenerated: (ids, ms) => {
        if (ids.length) metrics.regenTime.observe(ms / 1000);
        void this.endpoints?.refreshCeps(ids);
      },
    });

    if (o.kvstore)
      this.kvstore = new AgentKvstore({
        options: o.kvstore,
        nodeName: o.nodeName,
        clusterName: o.clusterName,
        clusterId: o.clusterId,
        onPolicyEvents: (events) => this.hub.apply(events),
        onIpcache: () => this.ipcache.kvstoreChanged(),
        onNodeEvent: (e) => this.nodeView?.onKvEvent(e),
        log,
      });

    /** Endpoints are regenerated only once the agent is ready (restored endpoints resumed). */
    const whenReady =
      <A extends unknown[]>(fn: (...a: A) => Promise<unknown>) =>
      async (...a: A) => (await this.ready, await fn(...a), Action.awaitChange());
    const stores = (this.stores = addReconcilers(m, {
      nodeName: o.nodeName,
      identity: (k, ctx) => this.policies.onIdentity(k, ctx),
      pod: whenReady((ns: string, name: string) => this.endpoints.regeneratePod(ns, name)),
      namespace: whenReady((name: string) => this.endpoints.regenerateNamespace(name)),
      policy: (kind, k, ctx) => this.policies.onPolicy(kind, k, ctx),
      ciliumNode: (k, ctx) => this.node.onCiliumNode(k, ctx),
      service: async (k) => (this.services.onService(k), Action.awaitChange()),
      endpointSlice: async (k) => (this.services.onSlice(k), Action.awaitChange()),
    }));

    const client = m.client;
    // kvstore mode: the other nodes come from etcd, as upstream's node discovery has it
    if (this.kvstore)
      this.nodeView = new KvstoreNodeView({
        nodeName: o.nodeName,
        clusterName: o.clusterName,
        ciliumNodes: stores.cn,
        onChange: () => void this.node.peersChanged(),
        log,
      });
    const nodes = this.nodeView?.store ?? stores.cn;
    this.node = new NodeRegistration(o, {
      client,
      log,
      ipam: this.ipam,
      nodes,
      onChange: () => (
        this.ipcache.schedule(),
        void this.tunnel?.schedule(),
        this.kvstore?.updateNode(this.ipam.ready ? this.ipam.cidr : '', this.ipam.ready ? this.ipam.router : '')
      ),
    });
    if (o.routingMode === 'tunnel')
      this.tunnel = new TunnelRouting({
        nodeName: o.nodeName,
        protocol: o.tunnelProtocol,
        port: o.tunnelPort,
        pinRoot: pinRoot(o),
        maxEntries: { [MapNames.ct4]: o.ctMapSize },
        nodes,
        ipam: this.ipam,
        underlayMtu: () => this.node.deviceMtu(),
        nodeIp: () => this.node.nodeIp,
        log,
      });
    this.lb =
      o.datapath === 'sim'
        ? new SimLoadBalancer()
        : new KernelLoadBalancer({ pinRoot: pinRoot(o), mapMax: o.lbMapMax });
    this.services = new ServiceLoadBalancer({
      lb: this.lb,
      services: stores.svc,
      slices: stores.eps,
      log,
      registry: m.metrics.registry,
      context: () => ({
        nodeName: o.nodeName,
        nodeAddresses: this.node.nodeIp ? [this.node.nodeIp] : [],
        nodePortRange: o.nodePortRange,
        kubeProxyReplacement: o.kubeProxyReplacement,
      }),
    });
    this.namedPorts = new NamedPortsFeed(stores.cep, this.hub);
    this.policies = new PolicyReconciler(this.hub, stores, this.namedPorts, metrics, {
      clusterName: o.clusterName,
      cnpStatusUpdates: o.cnpStatusUpdates,
    });
    this.endpoints = new EndpointManager({
      client,
      datapath: this.datapath,
      hub: this.hub,
      ipam: this.ipam,
      identities: this.kvstore
        ? { allocate: (labels) => this.kvstore!.allocate(labels) }
        : new IdentityAllocator(client, stores.identity, o.clusterId),
      pods: stores.pod,
      namespaces: stores.ns,
      cepCache: stores.cep,
      log,
      clusterName: o.clusterName,
      nodeName: o.nodeName,
      nodeIp: () => this.node.nodeIp,
      stateDir: join(o.stateDir, 'endpoints'),
      identityChangeGracePeriodMs: o.identityChangeGracePeriodMs,
      onChange: () => (this.ipcache.endpointsChanged(), this.kvstore?.publishEndpoints(this.endpoints.list())),
    });
    this.ipcache = new IpcacheAssembler({
      nodeName: o.nodeName,
      datapath: this.datapath,
      hub: this.hub,
      nodes,
      ceps: stores.cep,
      endpoints: this.endpoints,
      ipam: this.ipam,
      nodeIp: () => this.node.nodeIp,
      ...(this.kvstore ? { kvstore: this.kvstore } : {}),
      tunnel: o.routingMode === 'tunnel',
      metrics,
      log,
    });
    // where redirected DNS datagrams were going (datapath/bpf/proxy.h), opened at the first query
    const proxyMap = new ProxyMap(pinRoot(o));
    this.l7 = new L7Proxies(
      {
        endpointByIp: (ip) => {
          const ep = this.endpoints.findByIp(ip);
          return ep?.identity === undefined ? undefined : { id: ep.id, identity: ep.identity };
        },
        identityOf: (ip) => this.ipcache.identityOf(ip) ?? ReservedIdentity.world,
        l7Rules: (...a) => this.hub.engine.l7Rules(...a),
        log,
        dns: {
          udpOriginal: (source, port) => proxyMap.udpOriginal(source, port),
          // toFQDNs: what an answer taught is in the kernel maps before the pod gets the answer
          // (learn records it in the FQDN cache itself)
          beforeRelease: (learned) => this.fqdnPolicy.learn(learned),
        },
        state: () => l7State(this.endpoints, this.ipcache, this.hub.engine),
      },
      {
        enabled: o.l7Proxy && o.datapath === 'kernel',
        manageRouting: o.datapath === 'kernel' && o.manageNodeNetwork,
        procfs: o.procfs,
        externalSocket: o.externalL7Proxy ? join(dirname(o.socketPath), L7_CHANNEL_SOCKET) : null,
      },
    );
    this.fqdnPolicy = new FqdnPolicy(
      {
        applyPolicy: (events) => this.hub.apply(events),
        syncIpcache: () => void (this.hub.gateOpen && this.ipcache.sync()),
        endpointIds: () => this.endpoints.list().map((e) => e.id),
        log,
      },
      { ...o.fqdn, cacheFile: join(o.stateDir, 'fqdn-cache.json') },
    );
    mountRoutes(this.api, {
      ...o,
      fqdnCache: (filter) => this.fqdnPolicy.lookups(filter),
      kvstore: this.kvstore,
      ready: this.ready,
      isReady: () => this.isReady,
      notReadyReason: () => this.notReadyReason(),
      ipam: this.ipam,
      waitForPodCidr: () => this.node.waitForPodCidr(),
      endpoints: this.endpoints,
      identities: stores.identity,
      hub: this.hub,
      datapath: this.datapath,
      metrics: () => m.metrics.registry.metrics(),
      loadBalancer: { dump: () => this.lb.dump(), names: () => this.services.names() },
      masquerading: this.masquerading,
      routing: () => this.tunnel?.status() ?? 'Network: Native',
      tunnelMap: () => this.tunnel?.dump() ?? [],
    });
    this.base = new NodeBase({
      o,
      lb: this.lb,
      node: this.node,
      ipam: this.ipam,
      masquerading: this.masquerading,
      tunnel: this.tunnel,
      log,
    });
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

  /**
   * Ready gates what upstream's daemon start gates: the k8s caches synced (its watchers'
   * WaitForCacheSync under `k8s-sync-timeout`, before restored endpoints regenerate), restored
   * endpoints regenerated (`regenerateRestoredEndpoints`), the node's base programs loaded and the
   * proxies listening. The pinned maps are diffed against the desired state, never cleared, so a
   * restart rewrites only what changed meanwhile (the "datapath writes after restart" line).
   */
  async start(loaded?: ProcessReading): Promise<void> {
    const log = this.manager.log;
    const stages = new StartupStages(this.metrics, loaded);
    const restored = this.endpoints.restore();
    stages.mark('restore');
    const crds = CRDS.map((d) => buildCrd(d) as KubeObject);
    await ensureCrds(this.manager.client, crds, log);
    await this.node.register();
    stages.mark('k8sInit');
    await this.api.listen(this.o.socketPath);
    stages.mark('initAPI');
    await this.manager.start();
    // The pinned ipcache read on a worker thread while the caches sync, not after them (50,000
    // entries without batch lookups are 100,000 syscalls); nothing writes it before the gate opens.
    const ipcacheRead = this.datapath
      .readIpcacheAhead?.()
      .catch((e: unknown) =>
        log.warn({ err: (e as Error).message }, 'reading the ipcache ahead failed; the sync reads it'),
      );
    // Side by side with the cache sync, which waits on the API server (the 10,000-CEP list): the
    // node device's programs need nothing from the caches, only the node's address (upstream's
    // loader, too, reinitializes its base programs while its informers sync). What reads the
    // caches or must follow the maps (tunnel map, socket-LB, masquerading) waits for base.start.
    const early = this.base.load().then(
      () => undefined,
      (e: unknown) => e,
    );
    // When each informer synced, from manager.start(): the cache sync's wall time says which list
    // the agent waited for (at 10,000 pods it was 26 s of wall for 2.6 s of the agent's CPU).
    const syncStart = performance.now();
    const syncMs: Record<string, number> = {};
    await Promise.all(
      Object.entries(this.stores).map(([name, s]) =>
        s.waitUntilReady().then(() => (syncMs[name] = Math.round(performance.now() - syncStart))),
      ),
    );
    stages.mark('k8sCacheSync');
    // Restored endpoints get their identities and policies back before anything is written.
    this.node.adoptPodCidr();
    for (const ep of restored) this.ipam.restore(ep.ipv4, `${ep.namespace}/${ep.podName}`);
    this.recoverAddresses();
    // kvstore mode: identities and the other nodes' ipcache entries are known before anything is programmed.
    await this.kvstore?.start(this.node.nodeIp ?? '', this.ipam.cidr, this.ipam.ready ? this.ipam.router : '');
    stages.mark('kvstore');
    // what the pods resolved before the restart, so their first maps allow it again
    this.fqdnPolicy.restore();
    this.policies.prime();
    this.hub.mapsRewritten = 0;
    this.hub.openGate([]);
    stages.mark('policyInit');
    await this.endpoints.resume();
    this.kvstore?.publishEndpoints(this.endpoints.list());
    stages.mark('workloadsInit');
    await ipcacheRead;
    const writes = this.ipcache.sync();
    const lbWrites = this.services.start();
    stages.mark('mapsInit');
    log.info(
      { ...writes, policyMapsReplaced: this.hub.mapsRewritten, loadBalancer: lbWrites },
      'datapath writes after restart',
    );
    // Both before Ready, side by side: the L7 proxies (restored endpoints' L7 ports are served
    // again as soon as their maps are; their own routing table and listeners) and the node's base
    // programs need nothing of each other, and each waits on `ip`/`iptables` processes and the
    // kernel more than on this process (4-6 s each at load 25 when one followed the other).
    await Promise.all([this.l7.start(), this.base.start(early)]);
    this.ctGc.start();
    this.cniGuard?.start();
    stages.mark('bpfBase');
    this.isReady = true;
    this.readyResolve();
    void this.writeCniConfWhenReady();
    log.info(
      {
        node: this.o.nodeName,
        restored: restored.length,
        podCIDR: this.ipam.cidr || null,
        startupMs: (this.startupMs = stages.done()),
        startupCpuMs: stages.cpu(),
        baseMs: this.base.ms,
        syncMs,
        sinceProcessStartMs: Math.round(performance.now()),
        // what came before start(), and when the process started (the container's start before it)
        beforeStart: stages.beforeStart(),
        processStart: new Date(performance.timeOrigin).toISOString(),
      },
      'cilium-agent ready',
    );
  }

  /**
   * Why the agent is not Ready: caches not synced or endpoints not restored yet, this node's
   * network (cilium_host, sysctls) not programmed, the CNI configuration not written yet.
   */
  notReadyReason(): string | undefined {
    if (!this.isReady) return 'caches not synced, endpoints not restored yet';
    const kvstore = this.kvstore?.problem();
    if (kvstore) return `kvstore: ${kvstore}`;
    if (this.o.manageNodeNetwork) {
      const problem = this.node.networkProblem();
      if (problem) return problem;
    }
    const l7Problem = this.l7.problem();
    if (l7Problem) return l7Problem;
    const tunnelProblem = this.tunnel?.problem();
    if (tunnelProblem) return tunnelProblem;
    if (this.o.writeCniConfWhenReady && !this.cniConfWritten) return 'CNI configuration not written yet';
    return undefined;
  }

  /**
   * Writes the conflist (`write-cni-conf-when-ready`) once everything else is ready, with the MTU
   * of the node's device, so that the runtime starts no pod on this node before the agent can wire
   * it. Waits for the node's network; a problem there keeps the conflist away (and is reported).
   */
  private async writeCniConfWhenReady(): Promise<void> {
    const path = this.o.writeCniConfWhenReady;
    if (!path) return;
    const log = this.manager.log;
    while (!this.stopped && this.o.manageNodeNetwork && this.node.networkProblem())
      await new Promise((r) => setTimeout(r, 200));
    if (this.stopped) return;
    const deviceMtu = await this.node.deviceMtu();
    if (!deviceMtu)
      log.warn({ mtu: CNI_CONF_DEFAULTS.mtu }, 'no device holds the node address; pods get the default MTU');
    // tunnel mode: the encapsulated packet must still fit the node's device
    const mtu = (deviceMtu ?? CNI_CONF_DEFAULTS.mtu) - (this.tunnel ? TUNNEL_OVERHEAD : 0);
    try {
      writeCniConf(path, { mtu, debug: this.o.debug });
      this.cniConfWritten = true;
      log.info({ path, mtu }, 'CNI configuration written');
    } catch (e) {
      log.error({ path, err: (e as Error).message }, 'writing the CNI configuration failed');
    }
  }

  /**
   * Addresses that must stay reserved although no readable state file names them: allocations
   * journaled before a crash, and the endpoints whose state file was skipped (their address is
   * still in the pinned endpoints map; the owner comes from the CiliumEndpoint when there is one).
   */
  private recoverAddresses(): void {
    const log = this.manager.log;
    const journaled = this.ipam.restoreJournal((file, why) =>
      log.warn({ file, reason: why }, 'dropping an IPAM journal entry'),
    );
    if (journaled.length)
      log.info({ addresses: journaled.map((j) => j.ip) }, 'IPAM allocations restored from the journal');
    const skipped = new Set(this.endpoints.skippedIds);
    if (!skipped.size) return;
    for (const e of this.datapath.dumpEndpoints()) {
      if (!skipped.has(e.id) || !this.ipam.contains(e.ip) || this.ipam.owner(e.ip)) continue;
      const cep = this.stores.cep
        .list()
        .find((c) =>
          (
            c as { status?: { networking?: { addressing?: { ipv4?: string }[] } } }
          ).status?.networking?.addressing?.some((a) => a.ipv4 === e.ip),
        );
      const owner = cep ? `${cep.metadata?.namespace}/${cep.metadata?.name}` : `endpoint-${e.id}`;
      this.ipam.restore(e.ip, owner);
      log.warn(
        { endpoint: e.id, ipv4: e.ip, owner },
        'kept the address of an endpoint whose state file was skipped (from the pinned endpoints map)',
      );
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // `cni-uninstall`: the node takes no new pod we would not serve, and gets its own CNI back.
    if (this.o.cniUninstall && this.o.writeCniConfWhenReady) {
      const restored = removeCniConf(this.o.writeCniConfWhenReady);
      this.manager.log.info(
        { path: this.o.writeCniConfWhenReady, restored },
        'CNI configuration removed (cni-uninstall)',
      );
    }
    this.stopHeapWatch();
    await this.l7.stop();
    this.fqdnPolicy.stop();
    this.services.stop();
    this.namedPorts.stop();
    this.ipcache.stop();
    await this.tunnel?.stop();
    this.ctGc.stop();
    this.cniGuard?.stop();
    this.endpoints.close();
    this.nodeView?.stop();
    await this.kvstore?.stop();
    await this.api.close();
    await this.manager.stop();
    await this.base.stop(this.o.cniUninstall);
    this.lb.close();
    this.datapath.close();
  }
}
