// What the kubelet resolves for a pod before its containers start, from the API server: volumes
// (configMap contents, the ServiceAccount token), every container's environment (fieldRef,
// configMapKeyRef, the in-cluster API server address) and its mount view (image + volumes).
import { ApiError, type KubeClient, type ResourceRef } from '../../controllers/framework/index.js';
import { containerEnv, fieldValue } from './container-env.js';
import { imageMounts } from './image.js';
import type { NodeInfo } from './layout.js';
import { shareHostPath, type NodeView } from './mounts.js';
import type { ContainerLaunch, PodLite, PreparedPod } from './sandbox.js';
import { containerMounts, prepareVolumes, type PodSources, type TokenProjectionRequest } from './volumes.js';
import { ProjectedToken } from '../auth-tokens.js';

const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
const SECRETS: ResourceRef = { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true };

export interface PodLaunchDeps {
  client: KubeClient;
  node: NodeInfo;
  view: NodeView;
  /** The image's /usr/local/bin (image.ts). */
  imageBin: string;
  /** The API server port the node's forwarder serves on 127.0.0.1 inside the node's namespace. */
  apiServerPort: number;
  /** What host-network pods get as KUBERNETES_SERVICE_HOST/PORT instead of that forwarder (UpNodesOptions). */
  kubeletApiServer?: { host: string; port: number };
  caCert: string;
  /** A projected token's rotation failed (the previous token stays until it expires; retried). */
  onTokenError?: (pod: string, e: unknown) => void;
}

/**
 * A pod's projected ServiceAccount token through TokenRequest (POST …/serviceaccounts/NAME/token),
 * bound to the pod, rotated by a ProjectedToken until the pod stops. An API server that does not
 * serve TokenRequest gets the kubeconfig's own bearer token, which it accepts (no rotation then).
 */
async function projectToken(
  client: KubeClient,
  pod: { name: string; uid: string },
  r: TokenProjectionRequest,
  write: (token: string) => void,
  onError: (e: unknown) => void,
): Promise<{ stop(): void }> {
  try {
    return await ProjectedToken.start({
      client,
      namespace: r.namespace,
      serviceAccount: r.serviceAccount,
      expirationSeconds: r.expirationSeconds,
      ...(r.audience ? { audiences: [r.audience] } : {}),
      boundPod: pod,
      write,
      onError,
    });
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405)) throw e;
  }
  // No ServiceAccount check here: the devcluster has no ServiceAccount admission nor the
  // controller that creates each namespace's "default" account.
  write(client.kubeConfig.getCurrentUser()?.token ?? '');
  return { stop: () => undefined };
}

/** The `prepare` of a node's sandboxes. */
export function podLauncher(d: PodLaunchDeps) {
  return async (pod: PodLite, podIP: string, podDir: string): Promise<PreparedPod> => {
    const ns = pod.metadata.namespace;
    const optional = <T>(p: Promise<T>) =>
      p.catch((e: unknown) => (e instanceof ApiError && e.status === 404 ? undefined : Promise.reject(e)));
    const cache = new Map<string, Record<string, string> | undefined>();
    const configMap = async (name: string) => {
      if (!cache.has(name))
        cache.set(
          name,
          await optional(
            d.client.get<{ data?: Record<string, string> }>(CONFIGMAPS, name, ns).then((cm) => cm.data ?? {}),
          ),
        );
      return cache.get(name);
    };
    const secret = (name: string) =>
      optional(
        d.client
          .get<{ data?: Record<string, string> }>(SECRETS, name, ns)
          .then((s) => Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]))),
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
    const key = `${ns}/${pod.metadata.name}`;
    const sources: PodSources = {
      configMap: (_namespace, name) => configMap(name),
      secret: (_namespace, name) => secret(name),
      projectToken: (r, write) =>
        projectToken(d.client, { name: pod.metadata.name, uid: pod.metadata.uid }, r, write, (e) =>
          d.onTokenError?.(key, e),
        ),
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
        fieldValue: (path) => fieldValue(fields, path),
      },
      podDir,
      d.view,
      sources,
    );
    try {
      const out = new Map<string, ContainerLaunch>();
      for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
        const env = await containerEnv({
          fields,
          env: c.env ?? [],
          // Only the node's namespace has the forwarder on 127.0.0.1; pods on the pod network have no
          // route to the API server until Services exist.
          ...(pod.spec.hostNetwork
            ? { apiServer: d.kubeletApiServer ?? { host: '127.0.0.1', port: d.apiServerPort } }
            : {}),
          configMap,
        });
        const mounts = [...imageMounts(d.imageBin), ...containerMounts(c.volumeMounts ?? [], volumes, c.name)];
        // A runtime needs a Bidirectional mount's host path on a shared mount (mounts.ts). A
        // HostToContainer one under the node's bpffs directory is shared too, as a node's mounts
        // are (systemd makes / shared): the agent pod's init container mounts the node's bpffs
        // there, maybe after this container started (cilium-l7proxy, as upstream's cilium-envoy).
        for (const m of mounts)
          if (m.bidirectional || (m.hostToContainer && isUnder(m.source, d.view.bpfRoot))) shareHostPath(m.source);
        out.set(c.name, { env, mounts });
      }
      return { containers: out, stop: () => volumes.stop() };
    } catch (e) {
      volumes.stop();
      throw e;
    }
  };
}

function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}
