// A pod's volumes as the kubelet materializes them, then the bind mounts of one container:
// hostPath → the node's directory for that path (mounts.ts); configMap, secret and projected
// volumes → a directory kept by the AtomicWriter (atomic-writer.ts: `..data` symlink swap);
// emptyDir → a directory of the pod; and the ServiceAccount token volume that admission adds to
// every pod (`kube-api-access-*`: a projected token of 3607 s, the cluster CA, the namespace) at
// /var/run/secrets/kubernetes.io/serviceaccount, where client libraries (client-go's and
// @kubernetes/client-node's in-cluster config) look for it. Projected tokens are rotated for as
// long as the pod runs (PodSources.projectToken); each new token rewrites its volume atomically.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writePayload, type PayloadFile } from './atomic-writer.js';
import { type BindMount, type NodeView, hostPathSource } from './mounts.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export const VOLUMES_DEFAULTS = {
  /**
   * Lifetime of the token in the ServiceAccount volume admission adds: 3607 s, as kube's
   * BoundServiceAccountTokenVolume (an odd number so that such tokens can be told apart).
   * `KTS_DEVCLUSTER_TOKEN_SECONDS` shortens it for rotation soaks (`up --token-seconds`).
   */
  automountTokenSeconds: 3607,
};

interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

interface ServiceAccountTokenProjection {
  audience?: string;
  expirationSeconds?: number;
  path: string;
}

interface ObjectProjection {
  name: string;
  items?: KeyToPath[];
  optional?: boolean;
}

interface DownwardAPIProjection {
  items?: { path: string; fieldRef?: { fieldPath: string }; mode?: number }[];
}

export interface VolumeProjection {
  serviceAccountToken?: ServiceAccountTokenProjection;
  configMap?: ObjectProjection;
  secret?: ObjectProjection;
  downwardAPI?: DownwardAPIProjection;
}

export interface VolumeSpec {
  name: string;
  hostPath?: { path: string; type?: string };
  configMap?: ObjectProjection & { defaultMode?: number };
  secret?: { secretName: string; items?: KeyToPath[]; optional?: boolean; defaultMode?: number };
  projected?: { sources: VolumeProjection[]; defaultMode?: number };
  emptyDir?: Record<string, unknown>;
}

export interface VolumeMountSpec {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
  /** `Bidirectional`: the container's mounts there appear on the node (mounts.ts); else HostToContainer. */
  mountPropagation?: string;
}

/** A token the kubelet asks for on behalf of a pod (TokenRequest). */
export interface TokenProjectionRequest {
  namespace: string;
  serviceAccount: string;
  expirationSeconds: number;
  audience?: string;
}

/** What the kubelet asks the API server for while it prepares a pod. */
export interface PodSources {
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** A Secret's data, decoded. */
  secret(namespace: string, name: string): Promise<Record<string, Buffer> | undefined>;
  /**
   * Gets a token for the request and hands it to `write` before resolving, then keeps handing
   * fresh ones to `write` until `stop` (the kubelet's token manager).
   */
  projectToken(request: TokenProjectionRequest, write: (token: string) => void): Promise<{ stop(): void }>;
  /** The cluster CA the token's ca.crt holds. */
  caCert: string;
}

export interface PodVolumeInput {
  namespace: string;
  volumes: readonly VolumeSpec[];
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  /** The pod's downward API fields (metadata.name, …), for downwardAPI projections. */
  fieldValue?: (fieldPath: string) => string | undefined;
}

/** Volume name → host path, plus the ServiceAccount directory when the token is mounted. */
export interface PreparedVolumes {
  sources: Map<string, string>;
  serviceAccount?: string;
  /** Stops the rotation of the pod's projected tokens (the pod is gone). */
  stop(): void;
}

/** The files of `data` selected by `items` (all keys when absent), each at its path. */
function selectKeys(
  data: Record<string, string | Buffer>,
  items: readonly KeyToPath[] | undefined,
  mode: number | undefined,
  what: string,
): Record<string, PayloadFile> {
  const out: Record<string, PayloadFile> = {};
  for (const it of items ?? Object.keys(data).map((key): KeyToPath => ({ key, path: key }))) {
    const content = data[it.key];
    if (content === undefined) throw new Error(`${what} has no key ${it.key}`);
    out[it.path] = { content, ...((it.mode ?? mode) !== undefined ? { mode: it.mode ?? mode } : {}) };
  }
  return out;
}

/**
 * A projected volume's payload: configMap, secret and downwardAPI files now, and each
 * serviceAccountToken source's token as it comes; every new token rewrites the whole volume.
 */
async function project(
  dir: string,
  sources: readonly VolumeProjection[],
  pod: PodVolumeInput,
  from: PodSources,
  mode: number | undefined,
  rotations: { stop(): void }[],
): Promise<void> {
  const fixed: Record<string, PayloadFile> = {};
  const tokens: { path: string; request: TokenProjectionRequest }[] = [];
  for (const s of sources) {
    if (s.configMap) {
      const data = await from.configMap(pod.namespace, s.configMap.name);
      if (!data && !s.configMap.optional) throw new Error(`configmap "${s.configMap.name}" not found`);
      Object.assign(fixed, selectKeys(data ?? {}, s.configMap.items, mode, `configmap "${s.configMap.name}"`));
    } else if (s.secret) {
      const data = await from.secret(pod.namespace, s.secret.name);
      if (!data && !s.secret.optional) throw new Error(`secret "${s.secret.name}" not found`);
      Object.assign(fixed, selectKeys(data ?? {}, s.secret.items, mode, `secret "${s.secret.name}"`));
    } else if (s.downwardAPI) {
      for (const it of s.downwardAPI.items ?? []) {
        const v = it.fieldRef ? pod.fieldValue?.(it.fieldRef.fieldPath) : undefined;
        if (v === undefined) throw new Error(`downwardAPI ${it.path}: unsupported field`);
        fixed[it.path] = { content: v, ...((it.mode ?? mode) !== undefined ? { mode: it.mode ?? mode } : {}) };
      }
    } else if (s.serviceAccountToken) {
      const t = s.serviceAccountToken;
      tokens.push({
        path: t.path,
        request: {
          namespace: pod.namespace,
          serviceAccount: pod.serviceAccountName ?? 'default',
          expirationSeconds: t.expirationSeconds ?? 3600,
          ...(t.audience ? { audience: t.audience } : {}),
        },
      });
    }
  }
  const current = new Map<string, string>();
  const write = () =>
    writePayload(dir, {
      ...fixed,
      ...Object.fromEntries(
        [...current].map(([path, token]) => [path, { content: token, ...(mode !== undefined ? { mode } : {}) }]),
      ),
    });
  for (const t of tokens) {
    let first = true;
    rotations.push(
      await from.projectToken(t.request, (token) => {
        current.set(t.path, token);
        // the first token of each source is written together with the rest, once all are there
        if (!first || current.size === tokens.length) write();
        first = false;
      }),
    );
  }
  if (!tokens.length) write();
}

/** Materializes the pod's volumes under `podDir/volumes` (configMap and secret contents are read now). */
export async function prepareVolumes(
  pod: PodVolumeInput,
  podDir: string,
  view: NodeView,
  from: PodSources,
): Promise<PreparedVolumes> {
  const sources = new Map<string, string>();
  const rotations: { stop(): void }[] = [];
  const stop = () => rotations.forEach((r) => r.stop());
  const dir = join(podDir, 'volumes');
  try {
    for (const v of pod.volumes) {
      const path = join(dir, v.name);
      if (v.hostPath) {
        const host = hostPathSource(view, v.hostPath.path);
        // DirectoryOrCreate and "" (no check) both end with the directory there; files are not used here.
        if (v.hostPath.type !== 'File' && v.hostPath.type !== 'FileOrCreate') mkdirSync(host, { recursive: true });
        sources.set(v.name, host);
        continue;
      }
      if (v.configMap) {
        const { defaultMode, ...projection } = v.configMap;
        await project(path, [{ configMap: projection }], pod, from, defaultMode, rotations).catch((e: Error) => {
          throw new Error(`${e.message} (volume ${v.name})`);
        });
      } else if (v.secret) {
        const { secretName, defaultMode, ...rest } = v.secret;
        await project(path, [{ secret: { name: secretName, ...rest } }], pod, from, defaultMode, rotations).catch(
          (e: Error) => {
            throw new Error(`${e.message} (volume ${v.name})`);
          },
        );
      } else if (v.projected) {
        await project(path, v.projected.sources, pod, from, v.projected.defaultMode, rotations).catch((e: Error) => {
          throw new Error(`${e.message} (volume ${v.name})`);
        });
      } else if (v.emptyDir) mkdirSync(path, { recursive: true });
      else
        throw new Error(
          `volume ${v.name}: only hostPath, configMap, secret, projected and emptyDir volumes are supported`,
        );
      sources.set(v.name, path);
    }
    if (pod.automountServiceAccountToken === false) return { sources, stop };
    // what the ServiceAccount admission plugin adds to the pod (the CA from kube-root-ca.crt, which
    // the kubelet here knows itself), materialized directly
    const saDir = join(dir, 'kube-api-access');
    const expirationSeconds =
      Number(process.env.KTS_DEVCLUSTER_TOKEN_SECONDS) || VOLUMES_DEFAULTS.automountTokenSeconds;
    await project(
      saDir,
      [
        { serviceAccountToken: { path: 'token', expirationSeconds } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
      ],
      { ...pod, fieldValue: (f) => (f === 'metadata.namespace' ? pod.namespace : pod.fieldValue?.(f)) },
      { ...from, configMap: async () => ({ 'ca.crt': from.caCert }) },
      0o644,
      rotations,
    );
    return { sources, serviceAccount: saDir, stop };
  } catch (e) {
    stop();
    throw e;
  }
}

/** One container's mounts: its volumeMounts, then the ServiceAccount directory. */
export function containerMounts(
  mounts: readonly VolumeMountSpec[],
  prepared: PreparedVolumes,
  container: string,
): BindMount[] {
  const out: BindMount[] = [];
  for (const m of mounts) {
    const source = prepared.sources.get(m.name);
    if (!source) throw new Error(`container ${container}: volumeMount ${m.name} names no volume of the pod`);
    out.push({
      source: m.subPath ? join(source, m.subPath) : source,
      target: m.mountPath,
      ...(m.readOnly ? { readOnly: true } : {}),
      ...(m.mountPropagation === 'Bidirectional' ? { bidirectional: true } : {}),
      ...(m.mountPropagation === 'HostToContainer' ? { hostToContainer: true } : {}),
    });
  }
  if (prepared.serviceAccount && !mounts.some((m) => m.mountPath === SERVICE_ACCOUNT_DIR))
    out.push({ source: prepared.serviceAccount, target: SERVICE_ACCOUNT_DIR, readOnly: true });
  return out;
}
