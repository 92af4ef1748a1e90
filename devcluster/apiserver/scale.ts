// The /scale subresource of Deployments, ReplicaSets and StatefulSets (autoscaling/v1 Scale), which
// `kubectl scale` reads and patches: spec.replicas of the object, status.replicas and the
// selector as a string, as kube-apiserver's scale REST storage serves them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest } from './errors.js';
import { decodeBody, readBody, sendJson } from './http.js';
import type { Objects } from './objects.js';
import { jsonPatch, mergePatch } from './patch.js';
import type { ResourceInfo } from './resources.js';
import type { KubeObject } from './store.js';

const SCALABLE = new Set(['apps/Deployment', 'apps/ReplicaSet', 'apps/StatefulSet']);

export function hasScale(r: ResourceInfo): boolean {
  return r.builtin && SCALABLE.has(`${r.group}/${r.kind}`);
}

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

function selectorString(s: Selector | undefined): string {
  const parts = Object.entries(s?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s?.matchExpressions ?? []) {
    const vs = `(${(e.values ?? []).join(',')})`;
    if (e.operator === 'In') parts.push(`${e.key} in ${vs}`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin ${vs}`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

function toScale(obj: KubeObject): KubeObject {
  const spec = (obj.spec ?? {}) as { replicas?: number; selector?: Selector };
  const status = (obj.status ?? {}) as { replicas?: number };
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
      creationTimestamp: obj.metadata.creationTimestamp,
    },
    spec: { replicas: spec.replicas ?? 1 },
    status: { replicas: status.replicas ?? 0, selector: selectorString(spec.selector) },
  };
}

export async function handleScale(
  objects: Objects,
  r: ResourceInfo,
  ns: string | undefined,
  name: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const method = req.method ?? 'GET';
  const kv = await objects.getKv(r, ns, name);
  const obj: KubeObject = { ...kv.obj, metadata: { ...kv.obj.metadata, resourceVersion: String(kv.modRev) } };
  const current = toScale(obj);
  if (method === 'GET') return sendJson(res, 200, current);
  const raw = await readBody(req);
  let next: KubeObject;
  if (method === 'PUT') next = decodeBody(req, raw) as KubeObject;
  else if (method === 'PATCH') {
    const body = JSON.parse(raw.toString('utf8') || '{}') as unknown;
    const ct = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
    next = (
      ct === 'application/json-patch+json'
        ? jsonPatch(current, body, 'Scale', 'autoscaling', name)
        : mergePatch(current, body)
    ) as KubeObject;
  } else throw badRequest(`${method} is not supported on the scale subresource`);
  const replicas = (next?.spec as { replicas?: unknown } | undefined)?.replicas;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0)
    throw badRequest('spec.replicas of a Scale must be a non-negative integer');
  const updated = structuredClone(obj);
  updated.spec = { ...((updated.spec as object | undefined) ?? {}), replicas };
  const out = await objects.update(r, ns, name, updated, { fieldManager: 'kubectl-scale' });
  sendJson(res, 200, toScale(out.obj));
}
