// Any object written as it is, for the CLI's server-side applies and deletes.
//
// client-node's KubernetesObjectApi serializes a known kind through its generated models, and those
// drop every field whose JSON name differs from the model's property name: a NetworkPolicy's `from`
// (property `_from`), a CRD schema's `enum`, `default`, `$ref` and `x-kubernetes-*`. A NetworkPolicy
// written that way allows every namespace, a CRD loses its validation and its
// `x-kubernetes-preserve-unknown-fields`, and nothing reports it. (`cilium connectivity test` found
// it: its NetworkPolicy scenario let a pod of another namespace through.) Here the body is the
// object's own JSON; client-node only answers discovery (kind → resource) and the kubeconfig.
import { type KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { ApiError, KubeClient, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';

/** Exposes the discovery lookup of the generic client (protected there). */
class Discovery extends KubernetesObjectApi {
  lookup(apiVersion: string, kind: string) {
    return this.resource(apiVersion, kind);
  }
}

export interface ApplyOptions {
  fieldManager: string;
  /** Take ownership of fields other managers hold. */
  force?: boolean;
  dryRun?: boolean;
}

const isNotFound = (e: unknown) => e instanceof ApiError && e.status === 404;

export class UntypedObjects {
  private readonly discovery: Discovery;
  private readonly client: KubeClient;
  private readonly refs = new Map<string, Promise<ResourceRef>>();

  constructor(kc: KubeConfig) {
    this.discovery = kc.makeApiClient(Discovery);
    this.client = new KubeClient({ kubeConfig: kc });
  }

  /** The resource of `apiVersion kind`, from discovery; a clear error when the cluster does not serve it. */
  ref(apiVersion: string, kind: string): Promise<ResourceRef> {
    const key = `${apiVersion} ${kind}`;
    let ref = this.refs.get(key);
    if (!ref) {
      ref = (async () => {
        const r = await this.discovery.lookup(apiVersion, kind);
        if (!r) throw new Error(`the cluster does not serve ${apiVersion} ${kind}`);
        const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
        return { group: group!, version: version!, plural: r.name, kind, namespaced: r.namespaced };
      })();
      this.refs.set(key, ref);
      ref.catch(() => this.refs.delete(key));
    }
    return ref;
  }

  async apply<T extends KubeObject>(obj: T, o: ApplyOptions): Promise<T> {
    const res = await this.ref(obj.apiVersion!, obj.kind!);
    return this.client.patch<T>(res, obj.metadata!.name!, obj.metadata?.namespace, obj, 'apply', o);
  }

  /** Deletes `obj`; false when it was not there. */
  async delete(obj: KubeObject, propagationPolicy?: 'Foreground' | 'Background' | 'Orphan'): Promise<boolean> {
    const res = await this.ref(obj.apiVersion!, obj.kind!);
    try {
      await this.client.delete(
        res,
        obj.metadata!.name!,
        obj.metadata?.namespace,
        propagationPolicy ? { propagationPolicy } : {},
      );
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async list<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    o: { namespace?: string; labelSelector?: string } = {},
  ) {
    return this.client.list<T>(await this.ref(apiVersion, kind), o);
  }

  close(): void {
    this.client.close();
  }
}
