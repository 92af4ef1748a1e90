// The endpoint manager: creating → waiting-for-identity → regenerating → ready, driven by the
// CNI plugin's API calls; restored from state files after a restart; relabelled when its pod or
// namespace labels change; its CiliumEndpoint written (cep-writer.ts) only when something a user sees changed.
import type { Logger } from 'pino';
import type { Datapath, EndpointSpec as DpEndpoint } from '../../datapath/datapath.js';
import { isNotFound, type KubeClient, type KubeObject, type Store } from '../framework/index.js';
import type { LabelSet } from '../../policy/index.js';
import { endpointLabels } from '../../policy/index.js';
import type { EndpointChangeRequest, EndpointModel } from './api/types.js';
import { CepWriter } from './cep-writer.js';
import { AgentError, AgentErrorCode } from './errors.js';
import { EndpointStateDir, type Endpoint } from './endpoint-state.js';
import type { IdentityAllocator } from './identity-allocator.js';
import type { HostIpam } from './ipam.js';
import type { PolicyHub } from './policy-hub.js';
import { PODS, type CepObject } from './resources.js';

interface Pod extends KubeObject {
  spec?: {
    serviceAccountName?: string;
    nodeName?: string;
    containers?: { ports?: { name?: string; containerPort: number; protocol?: string }[] }[];
  };
}

/** What the manager needs from the agent around it. */
export interface EndpointManagerDeps {
  client: KubeClient;
  datapath: Datapath & {
    attach?(ifindex: number): void;
    detach?(ifindex: number): void;
    /** The device's current ifindex, undefined when it is gone (a restored endpoint's veth). */
    linkIndex?(name: string): number | undefined;
  };
  hub: PolicyHub;
  ipam: HostIpam;
  /** CiliumIdentity objects (CRD mode) or etcd (kvstore mode, kvstore-mode.ts). */
  identities: Pick<IdentityAllocator, 'allocate'>;
  pods: Store<Pod>;
  namespaces: Store<KubeObject>;
  /** The informer's CiliumEndpoints: a restarted agent leaves the statuses that are already right. */
  cepCache?: Pick<Store<CepObject>, 'get'>;
  log: Logger;
  clusterName: string;
  nodeName: string;
  nodeIp: () => string | undefined;
  stateDir: string;
  /** `identity-change-grace-period` (ms): how long a relabelled endpoint keeps its old identity. */
  identityChangeGracePeriodMs: number;
  /** Local endpoints changed (ipcache and endpoints map must follow). */
  onChange: () => void;
}

export class EndpointManager {
  readonly byId = new Map<number, Endpoint>();
  private readonly byAttachment = new Map<string, number>();
  /** IPv4 → endpoint id, for per-flow lookups (Hubble). */
  private readonly byIp = new Map<string, number>();
  private readonly states: EndpointStateDir;
  /** Endpoint ids whose state file restore() skipped: their addresses are recovered from the pinned maps. */
  readonly skippedIds: number[] = [];
  private readonly ceps: CepWriter;
  /** Relabelled endpoints waiting out the grace period before switching: id → new identity. */
  private readonly pendingSwitch = new Map<number, { identity: number; timer: NodeJS.Timeout }>();

  constructor(private readonly d: EndpointManagerDeps) {
    this.states = new EndpointStateDir(d.stateDir);
    this.ceps = new CepWriter({ ...d, isLive: (id) => this.byId.has(id), cached: (key) => d.cepCache?.get(key) });
  }

  list(): Endpoint[] {
    return [...this.byId.values()];
  }

  findByIp(ip: string): Endpoint | undefined {
    const id = this.byIp.get(ip);
    return id === undefined ? undefined : this.byId.get(id);
  }

  find(ref: string): Endpoint | undefined {
    if (/^\d+$/.test(ref)) return this.byId.get(Number(ref));
    if (ref.startsWith('cni-attachment-id:')) {
      const id = this.byAttachment.get(ref);
      return id === undefined ? undefined : this.byId.get(id);
    }
    if (ref.startsWith('pod-name:')) {
      const [ns, pod] = ref.slice('pod-name:'.length).split('/');
      return this.list().find((e) => e.namespace === ns && e.podName === pod);
    }
    return undefined;
  }

  /** The datapath's view of the local endpoints. */
  datapathEndpoints(): DpEndpoint[] {
    return this.list()
      .filter((e) => e.identity !== undefined)
      .map((e) => ({
        id: e.id,
        ips: [e.ipv4],
        ifindex: e.ifindex,
        identity: e.identity!,
        mac: e.mac,
        nodeMac: e.hostMac,
      }));
  }

  private allocateId(): number {
    for (let id = 1; id < 65536; id++) if (!this.byId.has(id)) return id;
    throw new AgentError(AgentErrorCode.Internal, 'no free endpoint id (65,535 endpoints on this node)');
  }

  /** Loads state files; IPs are reserved at once, the rest waits for `resume()` after the caches sync. */
  restore(): Endpoint[] {
    const eps = this.states.load((f, e, id) => {
      this.d.log.warn({ file: f, reason: e.message }, 'skipping an unusable endpoint state file');
      if (id !== undefined) this.skippedIds.push(id);
    });
    for (const ep of eps) {
      this.byId.set(ep.id, { ...ep, state: 'restoring' });
      this.byAttachment.set(ep.attachmentId, ep.id);
      this.byIp.set(ep.ipv4, ep.id);
      // Before the pod CIDR is known this reserves nothing; the agent reserves again once it is.
      this.d.ipam.restore(ep.ipv4, `${ep.namespace}/${ep.podName}`);
    }
    return eps;
  }

  /** Re-registers restored endpoints with the engine once every cache has synced. */
  async resume(): Promise<void> {
    for (const ep of this.list()) {
      if (ep.state !== 'restoring') continue;
      const pod = this.d.pods.get(`${ep.namespace}/${ep.podName}`);
      if (!pod) {
        this.d.log.info(
          { endpoint: ep.id, pod: `${ep.namespace}/${ep.podName}` },
          'the pod of a restored endpoint is gone; removing the endpoint',
        );
        await this.remove(ep.attachmentId);
        continue;
      }
      // As upstream's restore: an endpoint whose host-side interface is gone (the pod's sandbox was
      // torn down while the agent was away) is dropped, not fatal to the agent; the CNI's next ADD
      // creates it again. A device recreated under the same name gets its new ifindex.
      const { linkIndex } = this.d.datapath;
      const ifindex = linkIndex ? linkIndex.call(this.d.datapath, ep.hostIfName) : ep.ifindex;
      if (ifindex === undefined) {
        this.d.log.warn(
          { endpoint: ep.id, pod: `${ep.namespace}/${ep.podName}`, interface: ep.hostIfName },
          'the interface of a restored endpoint could not be found; removing the endpoint',
        );
        // its old ifindex may name another device by now: nothing to detach
        await this.remove(ep.attachmentId, { detach: false });
        continue;
      }
      if (ifindex !== ep.ifindex) ep.ifindex = ifindex;
      await this.regenerate(ep, pod);
    }
  }

  async create(attachmentId: string, req: EndpointChangeRequest): Promise<EndpointModel> {
    const existing = this.find(attachmentId);
    if (existing && existing.state === 'ready') return this.model(existing);
    if (!req['k8s-pod-name'] || !req['k8s-namespace'])
      throw new AgentError(AgentErrorCode.BadRequest, 'k8s-pod-name and k8s-namespace are required');
    if (!req.addressing?.ipv4) throw new AgentError(AgentErrorCode.BadRequest, 'addressing.ipv4 is required');
    if (!Number.isInteger(req['interface-index']) || req['interface-index'] <= 0)
      throw new AgentError(AgentErrorCode.BadRequest, 'interface-index must be the host-side veth ifindex');
    if (!existing) this.checkOwnership(req);
    const ep: Endpoint = existing ?? {
      id: this.allocateId(),
      attachmentId,
      containerId: req['container-id'],
      containerIfName: req['container-interface-name'],
      hostIfName: req['interface-name'],
      ifindex: req['interface-index'],
      mac: req.mac,
      hostMac: req['host-mac'],
      ipv4: req.addressing.ipv4,
      podName: req['k8s-pod-name'],
      namespace: req['k8s-namespace'],
      state: 'creating',
    };
    this.byId.set(ep.id, ep);
    this.byAttachment.set(attachmentId, ep.id);
    this.byIp.set(ep.ipv4, ep.id);
    this.states.save(ep);
    this.d.log.info(
      { endpoint: ep.id, pod: `${ep.namespace}/${ep.podName}`, ipv4: ep.ipv4, container: ep.containerId },
      'endpoint created',
    );
    const pod = this.d.pods.get(`${ep.namespace}/${ep.podName}`) ?? (await this.fetchPod(ep.namespace, ep.podName));
    await this.regenerate(ep, pod);
    return this.model(ep);
  }

  /**
   * An endpoint may only use an address IPAM handed to its pod (or its container): otherwise a
   * caller could take over another pod's IP and its identity in the ipcache.
   */
  private checkOwnership(req: EndpointChangeRequest): void {
    const ip = req.addressing.ipv4!;
    const pod = `${req['k8s-namespace']}/${req['k8s-pod-name']}`;
    const owner = this.d.ipam.owner(ip);
    const refuse = (why: string) => {
      this.d.log.warn({ pod, ipv4: ip, container: req['container-id'], owner }, `endpoint refused: ${why}`);
      return new AgentError(AgentErrorCode.IpNotOwned, `${ip} ${why}`);
    };
    if (owner === undefined) throw refuse("is not allocated by this node's IPAM (POST /ipam first)");
    if (owner !== pod && owner !== req['container-id']) throw refuse(`is allocated to ${owner}, not to ${pod}`);
    const holder = this.findByIp(ip);
    if (holder) throw refuse(`is already used by endpoint ${holder.id} (${holder.namespace}/${holder.podName})`);
  }

  private async fetchPod(namespace: string, name: string): Promise<Pod> {
    try {
      return await this.d.client.get<Pod>(PODS, name, namespace);
    } catch (e) {
      if (isNotFound(e)) throw new AgentError(AgentErrorCode.PodNotFound, `pod ${namespace}/${name} does not exist`);
      throw e;
    }
  }

  private labelsOf(pod: Pod, namespace: string): LabelSet {
    const ns = this.d.namespaces.get(namespace);
    return endpointLabels({
      podLabels: pod.metadata?.labels ?? {},
      namespace,
      namespaceLabels: ns?.metadata?.labels ?? {},
      serviceAccount: pod.spec?.serviceAccountName ?? 'default',
      clusterName: this.d.clusterName,
    });
  }

  /**
   * Identity, datapath and CEP for one endpoint; a no-op when nothing changed. A ready endpoint
   * whose labels now give another identity switches only `identity-change-grace-period` later
   * (`graceOverFor`: the identity whose grace period has passed).
   */
  async regenerate(
    ep: Endpoint,
    pod: Pod | undefined = this.d.pods.get(`${ep.namespace}/${ep.podName}`),
    graceOverFor?: number,
  ): Promise<void> {
    if (!pod) return;
    const labels = this.labelsOf(pod, ep.namespace);
    const record = labels.toRecord();
    if (ep.identity === undefined) ep.state = 'waiting-for-identity';
    const identity = await this.d.identities.allocate(record);
    if (!this.byId.has(ep.id)) return; // deleted meanwhile
    if (this.deferSwitch(ep, identity, graceOverFor)) return;
    const changed = identity !== ep.identity || ep.state !== 'ready';
    ep.identity = identity;
    ep.identityLabels = Object.entries(record).map(([k, v]) => `${k}=${v}`);
    ep.podUid = pod.metadata?.uid;
    ep.namedPorts = (pod.spec?.containers ?? []).flatMap((c) =>
      (c.ports ?? [])
        .filter((p) => p.name)
        .map((p) => ({ name: p.name!, port: p.containerPort, protocol: p.protocol ?? 'TCP' })),
    );
    if (!changed) return;
    ep.state = 'regenerating';
    const namedPorts = Object.fromEntries(ep.namedPorts.map((p) => [p.name, { port: p.port, protocol: p.protocol }]));
    try {
      this.d.datapath.attach?.(ep.ifindex);
    } catch (e) {
      throw new AgentError(
        AgentErrorCode.Datapath,
        `attaching the datapath to ${ep.hostIfName} (ifindex ${ep.ifindex}) failed: ${(e as Error).message}`,
        { cause: e },
      );
    }
    this.d.hub.apply(
      [
        { type: 'identity-upserted', id: identity, labels },
        { type: 'endpoint-upserted', endpoint: { id: ep.id, identity, namedPorts: namedPorts as never } },
      ],
      [ep.id],
    );
    this.d.onChange();
    ep.state = 'ready';
    this.states.save(ep);
    // The datapath is programmed: the CNI's sync-build may return; the CEP follows on its own.
    void this.writeCep(ep);
  }

  /**
   * Whether the switch of a ready endpoint to `identity` waits for the grace period: the new
   * identity exists (its CiliumIdentity is created), so other nodes learn it meanwhile. Labels
   * that go back to the current identity cancel a pending switch.
   */
  private deferSwitch(ep: Endpoint, identity: number, graceOverFor: number | undefined): boolean {
    const pending = this.pendingSwitch.get(ep.id);
    const switching = ep.state === 'ready' && ep.identity !== undefined && identity !== ep.identity;
    if (pending && (!switching || pending.identity !== identity || graceOverFor === identity)) {
      clearTimeout(pending.timer);
      this.pendingSwitch.delete(ep.id);
    } else if (pending) return true; // already waiting for this identity
    if (!switching || graceOverFor === identity || this.d.identityChangeGracePeriodMs <= 0) return false;
    const timer = setTimeout(() => {
      this.pendingSwitch.delete(ep.id);
      this.regenerate(ep, undefined, identity).catch((e) =>
        this.d.log.warn({ endpoint: ep.id, err: (e as Error).message }, 'switching the endpoint identity failed'),
      );
    }, this.d.identityChangeGracePeriodMs);
    this.pendingSwitch.set(ep.id, { identity, timer });
    this.d.log.info(
      { endpoint: ep.id, from: ep.identity, to: identity, afterMs: this.d.identityChangeGracePeriodMs },
      'endpoint identity changes after identity-change-grace-period',
    );
    return true;
  }

  /** Cancels pending identity switches (agent shutdown). */
  close(): void {
    for (const p of this.pendingSwitch.values()) clearTimeout(p.timer);
    this.pendingSwitch.clear();
  }

  /** Relabels every endpoint of a namespace (its labels are identity labels). */
  async regenerateNamespace(namespace: string): Promise<void> {
    for (const ep of this.list()) if (ep.namespace === namespace && ep.state === 'ready') await this.regenerate(ep);
  }

  async regeneratePod(namespace: string, name: string): Promise<void> {
    for (const ep of this.list())
      if (ep.namespace === namespace && ep.podName === name && ep.state === 'ready') await this.regenerate(ep);
  }

  /** Removes an endpoint (CNI DEL); idempotent. Returns whether it existed. */
  async remove(ref: string, o: { detach?: boolean } = {}): Promise<boolean> {
    const ep = this.find(ref);
    if (!ep) return false;
    ep.state = 'disconnecting';
    clearTimeout(this.pendingSwitch.get(ep.id)?.timer);
    this.pendingSwitch.delete(ep.id);
    this.byId.delete(ep.id);
    this.byAttachment.delete(ep.attachmentId);
    if (this.byIp.get(ep.ipv4) === ep.id) this.byIp.delete(ep.ipv4);
    this.d.hub.apply([{ type: 'endpoint-removed', id: ep.id }]);
    try {
      this.d.datapath.deletePolicy(ep.id);
    } catch (e) {
      this.d.log.warn({ endpoint: ep.id, err: (e as Error).message }, 'removing the endpoint policy map failed');
    }
    try {
      if (o.detach !== false) this.d.datapath.detach?.(ep.ifindex);
    } catch {
      // The veth usually left with the pod's netns; nothing to detach then.
    }
    this.d.ipam.release(ep.ipv4);
    this.states.remove(ep.id);
    this.d.log.info({ endpoint: ep.id, pod: `${ep.namespace}/${ep.podName}`, ipv4: ep.ipv4 }, 'endpoint removed');
    this.ceps.forget(ep.id);
    this.d.onChange();
    await this.ceps.delete(ep);
    return true;
  }

  model(ep: Endpoint): EndpointModel {
    return {
      id: ep.id,
      'container-id': ep.containerId,
      'interface-name': ep.hostIfName,
      'k8s-pod-name': ep.podName,
      'k8s-namespace': ep.namespace,
      addressing: { ipv4: ep.ipv4 },
      ...(ep.identity !== undefined ? { identity: { id: ep.identity, labels: ep.identityLabels ?? [] } } : {}),
      state: ep.state,
      policy: {
        ingress: { enforcing: this.d.hub.enforcing(ep.id, 'ingress') },
        egress: { enforcing: this.d.hub.enforcing(ep.id, 'egress') },
      },
    };
  }

  /** Creates the CEP once, then patches its status only when what it shows changed (#15153). */
  async writeCep(ep: Endpoint): Promise<void> {
    await this.ceps.write(ep);
  }

  /** Rewrites the CEPs of reprogrammed endpoints whose enforcement state may have changed. */
  async refreshCeps(ids: readonly number[]): Promise<void> {
    for (const id of ids) {
      const ep = this.byId.get(id);
      if (ep?.state === 'ready') await this.ceps.refresh(ep);
    }
  }
}
