// A pod's volumes as the kubelet materializes them, then the bind mounts of one container:
// hostPath → the node's directory for that path (mounts.ts), configMap → one file per key,
// emptyDir → a directory of the pod, and the projected ServiceAccount token (automount) at
// /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}, where client libraries
// (client-go's and @kubernetes/client-node's in-cluster config) look for it.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BindMount, type NodeView, hostPathSource } from './mounts.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface VolumeSpec {
  name: string;
  hostPath?: { path: string; type?: string };
  configMap?: { name: string; items?: { key: string; path: string }[]; optional?: boolean };
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

/** What the kubelet asks the API server for while it prepares a pod. */
export interface PodSources {
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** A token of the ServiceAccount (TokenRequest where served). */
  serviceAccountToken(namespace: string, serviceAccount: string): Promise<string>;
  /** The cluster CA the token's ca.crt holds. */
  caCert: string;
}

export interface PodVolumeInput {
  namespace: string;
  volumes: readonly VolumeSpec[];
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
}

/** Volume name → host path, plus the ServiceAccount directory when the token is mounted. */
export interface PreparedVolumes {
  sources: Map<string, string>;
  serviceAccount?: string;
}

/** Materializes the pod's volumes under `podDir/volumes` (configMap contents are read now). */
export async function prepareVolumes(
  pod: PodVolumeInput,
  podDir: string,
  view: NodeView,
  from: PodSources,
): Promise<PreparedVolumes> {
  const sources = new Map<string, string>();
  const dir = join(podDir, 'volumes');
  for (const v of pod.volumes) {
    if (v.hostPath) {
      const path = hostPathSource(view, v.hostPath.path);
      // DirectoryOrCreate and "" (no check) both end with the directory there; files are not used here.
      if (v.hostPath.type !== 'File' && v.hostPath.type !== 'FileOrCreate') mkdirSync(path, { recursive: true });
      sources.set(v.name, path);
    } else if (v.configMap) {
      const data = await from.configMap(pod.namespace, v.configMap.name);
      if (!data && !v.configMap.optional)
        throw new Error(`configmap "${v.configMap.name}" not found (volume ${v.name})`);
      const path = join(dir, v.name);
      rmSync(path, { recursive: true, force: true });
      mkdirSync(path, { recursive: true });
      const items = v.configMap.items ?? Object.keys(data ?? {}).map((key) => ({ key, path: key }));
      for (const it of items) {
        if (data?.[it.key] === undefined) continue;
        mkdirSync(join(path, it.path, '..'), { recursive: true });
        writeFileSync(join(path, it.path), data[it.key]!);
      }
      sources.set(v.name, path);
    } else if (v.emptyDir) {
      const path = join(dir, v.name);
      mkdirSync(path, { recursive: true });
      sources.set(v.name, path);
    } else throw new Error(`volume ${v.name}: only hostPath, configMap and emptyDir volumes are supported`);
  }
  if (pod.automountServiceAccountToken === false) return { sources };
  const sa = pod.serviceAccountName ?? 'default';
  const saDir = join(dir, 'kube-api-access');
  mkdirSync(saDir, { recursive: true });
  writeFileSync(join(saDir, 'token'), await from.serviceAccountToken(pod.namespace, sa), { mode: 0o600 });
  writeFileSync(join(saDir, 'ca.crt'), from.caCert);
  writeFileSync(join(saDir, 'namespace'), pod.namespace);
  return { sources, serviceAccount: saDir };
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
    });
  }
  if (prepared.serviceAccount && !mounts.some((m) => m.mountPath === SERVICE_ACCOUNT_DIR))
    out.push({ source: prepared.serviceAccount, target: SERVICE_ACCOUNT_DIR, readOnly: true });
  return out;
}
