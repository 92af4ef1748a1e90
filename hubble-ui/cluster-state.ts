// What the UI reads from the API server through the framework client: the namespaces for the
// selector (watched: the status poll asks for them every 2 s), and the policies, identities and
// endpoints an explanation is decided against (the same objects every agent's engine is fed, so
// the answer is the agents' answer). Those lists are reused for `ttlMs`, so a page opening many
// detail panes costs one list per resource per interval.
import type { KubeClient } from '../controllers/framework/index.js';
import { Store, watcher, type ResourceRef } from '../controllers/framework/index.js';
import type { CiliumEndpoint, CiliumIdentity } from '../crds/index.js';
import type { PolicyObject } from '../policy/index.js';
import type { ClusterState } from '../whatif/index.js';
import { HubbleUiError, HubbleUiErrorCode } from './errors.js';

const ref = (group: string, version: string, plural: string, kind: string, namespaced: boolean): ResourceRef => ({
  group,
  version,
  plural,
  kind,
  namespaced,
});
export const NAMESPACES = ref('', 'v1', 'namespaces', 'Namespace', false);
const CNPS = ref('cilium.io', 'v2', 'ciliumnetworkpolicies', 'CiliumNetworkPolicy', true);
const CCNPS = ref('cilium.io', 'v2', 'ciliumclusterwidenetworkpolicies', 'CiliumClusterwideNetworkPolicy', false);
const NETPOLS = ref('networking.k8s.io', 'v1', 'networkpolicies', 'NetworkPolicy', true);
const IDENTITIES = ref('cilium.io', 'v2', 'ciliumidentities', 'CiliumIdentity', false);
const ENDPOINTS = ref('cilium.io', 'v2', 'ciliumendpoints', 'CiliumEndpoint', true);

type Listed = { metadata?: { name?: string; namespace?: string } } & Record<string, unknown>;

/** The namespaces as a watch keeps them, and the watch's last error (cleared by its next event). */
interface NamespaceWatch {
  store: Store<Listed>;
  error?: string;
  abort: AbortController;
}

export class ClusterReader {
  private cached?: { at: number; state: Promise<ClusterState> };
  private namespaceWatch?: NamespaceWatch;

  constructor(
    private readonly client: KubeClient,
    private readonly ttlMs: number,
  ) {}

  private async list(res: ResourceRef): Promise<Listed[]> {
    try {
      return (await this.client.list<Listed>(res)).items;
    } catch (e) {
      throw new HubbleUiError(HubbleUiErrorCode.ApiServer, `listing ${res.plural}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  /**
   * Namespace names, sorted: from a watch (upstream's UI backend keeps an informer of them too),
   * started at the first call; until its first list has arrived, from a list of their own. A
   * list every poll was 30 lists a minute of every namespace (500 in the scale harness).
   */
  async namespaces(): Promise<string[]> {
    const w = (this.namespaceWatch ??= this.watchNamespaces());
    if (!w.store.ready) return (await this.list(NAMESPACES)).map((n) => n.metadata?.name ?? '').sort();
    if (w.error !== undefined) throw new HubbleUiError(HubbleUiErrorCode.ApiServer, `watching namespaces: ${w.error}`);
    return w.store.keys().sort();
  }

  private watchNamespaces(): NamespaceWatch {
    const w: NamespaceWatch = { store: new Store<Listed>(), abort: new AbortController() };
    void (async () => {
      for await (const ev of watcher<Listed>(this.client, NAMESPACES, {}, w.abort.signal)) {
        if (ev.type === 'Error') {
          w.error = ev.error.message;
          continue;
        }
        w.error = undefined;
        w.store.apply(ev);
      }
    })().catch(() => undefined);
    return w;
  }

  /** Today's policies, identities and endpoints (what-if's ClusterState), at most `ttlMs` old. */
  state(now = Date.now()): Promise<ClusterState> {
    if (this.cached && now - this.cached.at < this.ttlMs) return this.cached.state;
    const state = (async (): Promise<ClusterState> => {
      const [cnp, ccnp, np, identities, endpoints] = await Promise.all(
        [CNPS, CCNPS, NETPOLS, IDENTITIES, ENDPOINTS].map((r) => this.list(r)),
      );
      const policies: PolicyObject[] = [
        ...cnp!.map((object) => ({ kind: 'CiliumNetworkPolicy', object }) as PolicyObject),
        ...ccnp!.map((object) => ({ kind: 'CiliumClusterwideNetworkPolicy', object }) as PolicyObject),
        ...np!.map((object) => ({ kind: 'NetworkPolicy', object }) as PolicyObject),
      ];
      return {
        policies,
        identities: identities as unknown as CiliumIdentity[],
        endpoints: endpoints as unknown as CiliumEndpoint[],
      };
    })();
    this.cached = { at: now, state };
    state.catch(() => (this.cached = undefined));
    return state;
  }

  close(): void {
    this.namespaceWatch?.abort.abort();
    this.client.close();
  }
}
