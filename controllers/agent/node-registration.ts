// This node in the cluster: its CiliumNode (created at start with the InternalIP, completed with
// the router address once the operator assigned a pod CIDR), the router on cilium_host, and
// the routes to the other nodes' pod CIDRs (auto-direct-node-routes).
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import {
  Action,
  isNotFound,
  type KubeClient,
  type KubeObject,
  type ReconcileContext,
  type Store,
} from '../framework/index.js';
import type { AgentOptions } from './config.js';
import { AgentError, AgentErrorCode } from './errors.js';
import type { HostIpam } from './ipam.js';
import { NodeNetwork } from './node-network.js';
import { CILIUM_NODES, NODES, type CiliumNodeObject } from './resources.js';

export interface NodeRegistrationDeps {
  client: KubeClient;
  log: Logger;
  ipam: HostIpam;
  /**
   * The nodes the routes are made from: the CiliumNodes, or in kvstore mode this node's CiliumNode
   * and the other nodes' etcd entries (kvstore-nodes.ts).
   */
  nodes: Store<CiliumNodeObject>;
  /** Called after any node changed (node addresses feed the ipcache). */
  onChange: () => void;
}

type NodeOptions = Pick<
  AgentOptions,
  'nodeName' | 'manageNodeNetwork' | 'autoDirectNodeRoutes' | 'podCidrTimeoutMs' | 'procfs'
>;

/** How long a failed cilium_host / sysctl set-up waits before the next attempt. */
const ROUTER_RETRY_MS = 5000;

export class NodeRegistration {
  private readonly network = new NodeNetwork();
  private ip?: string;
  private routerReady = false;
  /** Why cilium_host or a sysctl could not be set up (retried; the agent is not Ready meanwhile). */
  private routerError?: string;
  /** cilium_host and the sysctls are set up (an attempt can be in flight after routerReady). */
  private networkProgrammed = false;
  private addressesPublished = false;

  constructor(
    private readonly o: NodeOptions,
    private readonly d: NodeRegistrationDeps,
  ) {}

  /**
   * Why this node's network is not programmed yet (no pod CIDR, cilium_host or a sysctl failed),
   * or undefined once it is.
   */
  networkProblem(): string | undefined {
    if (!this.routerReady) return 'no pod CIDR from the operator yet';
    if (this.routerError) return this.routerError;
    if (this.o.manageNodeNetwork && !this.networkProgrammed) return 'cilium_host and sysctls not set up yet';
    return undefined;
  }

  /** The MTU of the device holding this node's InternalIP, for the pods' veths. */
  async deviceMtu(): Promise<number | undefined> {
    return this.ip ? this.network.deviceMtu(this.ip).catch(() => undefined) : undefined;
  }

  /** This node's InternalIP, once registered. */
  get nodeIp(): string | undefined {
    return this.ip;
  }

  /** Creates this node's CiliumNode (an existing one is kept), waiting for its CRD if need be. */
  async register(): Promise<void> {
    this.ip = await this.discoverNodeIp();
    const spec = { addresses: this.ip ? [{ type: 'InternalIP', ip: this.ip }] : [] };
    // The CRDs may still be on their way (installed with us, or not yet served): wait for them.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.d.client.create(CILIUM_NODES, {
          apiVersion: 'cilium.io/v2',
          kind: 'CiliumNode',
          metadata: { name: this.o.nodeName },
          spec,
        });
        return;
      } catch (e) {
        if ((e as { status?: number }).status === 409) return;
        if (!isNotFound(e) || attempt >= 300) throw e;
        if (attempt % 50 === 0) this.d.log.warn('the CiliumNode CRD is not served yet; waiting (apply crds/v2/)');
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** This node's InternalIP: from its Node object, else the first non-loopback IPv4 here. */
  private async discoverNodeIp(): Promise<string | undefined> {
    try {
      const node = await this.d.client.get<
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

  /** Takes this node's pod CIDR from the synced cache (a restart must not wait for a reconcile). */
  adoptPodCidr(): void {
    for (const cn of this.d.nodes.list())
      if (cn.metadata?.name === this.o.nodeName && cn.spec?.ipam?.podCIDRs?.[0] && !this.d.ipam.ready)
        this.d.ipam.setCidr(cn.spec.ipam.podCIDRs[0]);
  }

  /** Waits until the operator assigned this node a pod CIDR (cilium-cni's first IPAM request). */
  async waitForPodCidr(): Promise<void> {
    const deadline = Date.now() + this.o.podCidrTimeoutMs;
    while (!this.d.ipam.ready) {
      if (Date.now() > deadline)
        throw new AgentError(
          AgentErrorCode.Ipam,
          `no pod CIDR for node ${this.o.nodeName} after ${this.o.podCidrTimeoutMs} ms: is cilium-operator running?`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The CiliumNode reconciler: own pod CIDR and router, then routes to every other node. */
  async onCiliumNode(key: string, ctx: ReconcileContext<CiliumNodeObject>): Promise<Action> {
    const { ipam } = this.d;
    if (key === this.o.nodeName && ctx.object) {
      const cidr = ctx.object.spec?.ipam?.podCIDRs?.[0];
      if (cidr && (!this.routerReady || this.routerError)) {
        if (!ipam.ready) ipam.setCidr(cidr);
        if (!this.routerReady) ctx.log.info({ podCIDR: cidr, router: ipam.router }, 'pod CIDR received');
        this.routerReady = true;
        if (this.o.manageNodeNetwork)
          try {
            await this.network.setupRouter(ipam.router, this.o.procfs);
            if (this.routerError) ctx.log.info('cilium_host and sysctls set up');
            this.routerError = undefined;
            this.networkProgrammed = true;
          } catch (e) {
            // Reported (readiness, cilium-dbg status, the log) and retried, never swallowed.
            this.routerError = `node network: ${(e as Error).message}`;
            ctx.log.error({ err: (e as Error).message, retryInMs: ROUTER_RETRY_MS }, 'setting up cilium_host failed');
          }
      }
      // Published apart from the router set-up: a refused or failed patch throws, and the
      // controller retries it with backoff instead of never publishing the router address.
      if (this.routerReady && !this.addressesPublished) {
        const addresses = [
          ...(this.ip ? [{ type: 'InternalIP', ip: this.ip }] : []),
          { type: 'CiliumInternalIP', ip: ipam.router },
        ];
        await ctx.client.patch(CILIUM_NODES, key, undefined, { spec: { addresses } }, 'merge', {
          fieldManager: 'cilium-agent',
        });
        this.addressesPublished = true;
      }
    }
    this.d.onChange();
    await this.syncRoutes();
    return key === this.o.nodeName && this.routerError ? Action.requeue(ROUTER_RETRY_MS) : Action.awaitChange();
  }

  /**
   * kvstore mode: another node's entry in etcd changed (kvstore-nodes.ts); the same follow-up as
   * a CiliumNode change.
   */
  async peersChanged(): Promise<void> {
    this.d.onChange();
    await this.syncRoutes();
  }

  private async syncRoutes(): Promise<void> {
    if (!this.o.autoDirectNodeRoutes || !this.o.manageNodeNetwork) return;
    const desired = new Map<string, string>();
    for (const n of this.d.nodes.list()) {
      if (n.metadata?.name === this.o.nodeName) continue;
      const via = n.spec?.addresses?.find((a) => a.type === 'InternalIP')?.ip;
      for (const c of n.spec?.ipam?.podCIDRs ?? []) if (via) desired.set(c, via);
    }
    try {
      const r = await this.network.syncRoutes(desired);
      // Each refusal is logged once per attempt: refused routes wait (failedRouteRetryMs) before the next.
      for (const f of r.failed)
        this.d.log.warn(
          { podCIDR: f.cidr, via: f.via, err: f.error },
          "route to a node's pod CIDR refused; retried later",
        );
    } catch (e) {
      this.d.log.error({ err: (e as Error).message }, 'syncing node routes failed');
    }
  }
}
