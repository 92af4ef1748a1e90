// What the kubelet resolves for a pod before its containers start, from the API server: volumes
// (configMap contents, the ServiceAccount token), every container's environment (fieldRef,
// configMapKeyRef, the in-cluster API server address) and its mount view (image + volumes).
import { ApiError, type KubeClient, type ResourceRef } from '../../controllers/framework/index.js';
import { containerEnv } from './container-env.js';
import { imageMounts } from './image.js';
import type { NodeInfo } from './layout.js';
import { shareHostPath, type NodeView } from './mounts.js';
import type { ContainerLaunch, PodLite } from './sandbox.js';
import { containerMounts, prepareVolumes, type PodSources } from './volumes.js';

const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };

export interface PodLaunchDeps {
  client: KubeClient;
  node: NodeInfo;
  view: NodeView;
  /** The image's /usr/local/bin (image.ts). */
  imageBin: string;
  /** The API server port the node's forwarder serves on 127.0.0.1 inside the node's namespace. */
  apiServerPort: number;
  caCert: string;
}

export const POD_LAUNCH_DEFAULTS = {
  /** Lifetime asked of a TokenRequest (the kubelet's default for projected tokens is 1 h). */
  tokenExpirationSeconds: 3600,
};

/**
 * A ServiceAccount token through TokenRequest (POST …/serviceaccounts/NAME/token) when the API
 * server serves it; otherwise the kubeconfig's own bearer token, which an API server without
 * authentication accepts.
 */
async function serviceAccountToken(client: KubeClient, namespace: string, name: string): Promise<string> {
  try {
    const r = await client.request<{ status?: { token?: string } }>(
      'POST',
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}/token`,
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: POD_LAUNCH_DEFAULTS.tokenExpirationSeconds },
      },
    );
    if (r.status?.token) return r.status.token;
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405)) throw e;
  }
  // No ServiceAccount check here: the devcluster has no ServiceAccount admission nor the
  // controller that creates each namespace's "default" account.
  return client.kubeConfig.getCurrentUser()?.token ?? '';
}

/** The `prepare` of a node's sandboxes. */
export function podLauncher(d: PodLaunchDeps) {
  return async (pod: PodLite, podIP: string, podDir: string): Promise<Map<string, ContainerLaunch>> => {
    const ns = pod.metadata.namespace;
    const cache = new Map<string, Record<string, string> | undefined>();
    const configMap = async (name: string) => {
      if (!cache.has(name))
        cache.set(
          name,
          await d.client
            .get<{ data?: Record<string, string> }>(CONFIGMAPS, name, ns)
            .then((cm) => cm.data ?? {})
            .catch((e: unknown) => (e instanceof ApiError && e.status === 404 ? undefined : Promise.reject(e))),
        );
      return cache.get(name);
    };
    const sources: PodSources = {
      configMap: (_namespace, name) => configMap(name),
      serviceAccountToken: (namespace, name) => serviceAccountToken(d.client, namespace, name),
      caCert: d.caCert,
    };
    const volumes = await prepareVolumes(
      {
        namespace: ns,
        volumes: pod.spec.volumes ?? [],
        ...(pod.spec.serviceAccountName ? { serviceAccountName: pod.spec.serviceAccountName } : {}),
        ...(pod.spec.automountServiceAccountToken !== undefined
          ? { automountServiceAccountToken: pod.spec.automountServiceAccountToken }
          : {}),
      },
      podDir,
      d.view,
      sources,
    );
    const fields = {
      name: pod.metadata.name,
      namespace: ns,
      uid: pod.metadata.uid,
      nodeName: d.node.name,
      serviceAccountName: pod.spec.serviceAccountName ?? 'default',
      hostIP: d.node.ip,
      podIP,
      labels: pod.metadata.labels ?? {},
      annotations: pod.metadata.annotations ?? {},
    };
    const out = new Map<string, ContainerLaunch>();
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
      const env = await containerEnv({
        fields,
        env: c.env ?? [],
        // Only the node's namespace has the forwarder on 127.0.0.1; pods on the pod network have no
        // route to the API server until Services exist.
        ...(pod.spec.hostNetwork ? { apiServer: { host: '127.0.0.1', port: d.apiServerPort } } : {}),
        configMap,
      });
      const mounts = [...imageMounts(d.imageBin), ...containerMounts(c.volumeMounts ?? [], volumes, c.name)];
      // A runtime needs a Bidirectional mount's host path on a shared mount (mounts.ts).
      for (const m of mounts) if (m.bidirectional) shareHostPath(m.source);
      out.set(c.name, { env, mounts });
    }
    return out;
  };
}
