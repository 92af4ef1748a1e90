// The four patch types: JSON patch (RFC 6902), merge patch (RFC 7386), strategic merge patch
// (built-ins only; merge keys of the fields cilium-ts and kubectl touch), and server-side apply
// with managedFields. Apply uses a rule simpler than kube-apiserver's field ownership: merge the applied
// configuration into the live object and remove what the same manager applied before but left
// out now; lists are atomic; no field conflicts are raised.
import jsonpatch from 'fast-json-patch';
import { badRequest, invalid, unsupportedMediaType } from './errors.js';
import type { KubeObject } from './store.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

export type PatchType = keyof typeof PATCH_TYPES;

export function patchTypeOf(contentType: string | undefined, builtin: boolean): PatchType {
  const ct = (contentType ?? '').split(';')[0]?.trim() ?? '';
  const accepted = builtin ? Object.values(PATCH_TYPES) : [PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.apply];
  for (const [k, v] of Object.entries(PATCH_TYPES)) if (v === ct && accepted.includes(v)) return k as PatchType;
  if (ct === 'application/apply-patch+cbor') return 'apply';
  throw unsupportedMediaType(ct, accepted);
}

/** RFC 7386. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return structuredClone(patch);
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export function jsonPatch(target: KubeObject, ops: unknown, kind: string, group: string, name: string): KubeObject {
  if (!Array.isArray(ops)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  try {
    return jsonpatch.applyPatch(structuredClone(target), ops as jsonpatch.Operation[], true, false).newDocument;
  } catch (e) {
    const msg = e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e);
    throw invalid(kind, group, name, [
      {
        reason: 'FieldValueInvalid',
        message: `the server rejected our request due to an error in our request: ${msg}`,
      },
    ]);
  }
}

/** Merge keys of list fields (patchMergeKey in k8s.io/api), by field name. */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  imagePullSecrets: 'name',
  conditions: 'type',
  ownerReferences: 'uid',
  ports: 'containerPort',
  addresses: 'type',
};
/** Primitive lists whose patch strategy is merge (union). */
const MERGE_PRIMITIVE_LISTS = new Set(['finalizers']);

/** Strategic merge patch for the built-in kinds. */
export function strategicMerge(target: unknown, patch: unknown, field = ''): unknown {
  if (!isObj(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return structuredClone(rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$setElementOrder/') || k === '$retainKeys' || k === '$patch') continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const f = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[f]) && Array.isArray(v)) out[f] = (out[f] as unknown[]).filter((x) => !v.includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const cur = out[k];
    if (Array.isArray(v) && Array.isArray(cur)) {
      const mk = MERGE_KEYS[k] ?? (k === 'ports' && field === 'spec' ? 'port' : undefined);
      if (mk && v.every(isObj) && cur.every(isObj)) {
        const list = [...cur] as Obj[];
        for (const item of v as Obj[]) {
          const idx = list.findIndex((x) => x[mk] === item[mk]);
          if (item.$patch === 'delete') {
            if (idx >= 0) list.splice(idx, 1);
          } else if (idx >= 0) list[idx] = strategicMerge(list[idx], item, k) as Obj;
          else list.push(structuredClone(item));
        }
        out[k] = list;
        continue;
      }
      if (MERGE_PRIMITIVE_LISTS.has(k)) {
        out[k] = [...cur, ...v.filter((x) => !cur.includes(x))];
        continue;
      }
    }
    const merged = strategicMerge(cur, v, k);
    if (merged === undefined) delete out[k];
    else out[k] = merged;
  }
  return out;
}

// ---- server-side apply -------------------------------------------------------------------

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Obj;
  subresource?: string;
}

/** The fieldsV1 set of an object: `f:<key>` for map keys, lists atomic (leaves). */
export function fieldsOf(v: unknown, root = true): Obj {
  const out: Obj = {};
  if (!isObj(v)) return out;
  for (const [k, val] of Object.entries(v)) {
    if (root && (k === 'apiVersion' || k === 'kind')) continue;
    if (root && k === 'metadata' && isObj(val)) {
      const m: Obj = {};
      for (const mk of ['labels', 'annotations', 'finalizers', 'ownerReferences'])
        if (val[mk] !== undefined) m[`f:${mk}`] = isObj(val[mk]) ? fieldsOf(val[mk], false) : {};
      if (Object.keys(m).length) out['f:metadata'] = m;
      continue;
    }
    out[`f:${k}`] = isObj(val) && Object.keys(val).length ? fieldsOf(val, false) : {};
  }
  return out;
}

/** Leaf paths of a fieldsV1 set. */
export function leafPaths(f: Obj, prefix: string[] = []): string[][] {
  const out: string[][] = [];
  for (const [k, v] of Object.entries(f)) {
    if (!k.startsWith('f:')) continue;
    const p = [...prefix, k.slice(2)];
    if (isObj(v) && Object.keys(v).length) out.push(...leafPaths(v, p));
    else out.push(p);
  }
  return out;
}

function deletePath(o: unknown, path: string[]): void {
  let cur = o;
  for (let i = 0; i < path.length - 1; i++) {
    if (!isObj(cur)) return;
    cur = cur[path[i] as string];
  }
  if (isObj(cur)) delete cur[path[path.length - 1] as string];
}

function applyMerge(live: unknown, applied: unknown): unknown {
  if (!isObj(applied) || !isObj(live)) return structuredClone(applied);
  const out: Obj = { ...live };
  for (const [k, v] of Object.entries(applied)) {
    if (v === null) continue;
    out[k] = applyMerge(out[k], v);
  }
  return out;
}

/** Applies `applied` as `manager` onto `live` (undefined: create). Returns the new object. */
export function serverSideApply(
  live: KubeObject | undefined,
  applied: KubeObject,
  manager: string,
  apiVersion: string,
): KubeObject {
  if (!manager)
    throw badRequest(
      'PATCH requests with Content-Type application/apply-patch+yaml require a fieldManager query parameter',
    );
  const newFields = fieldsOf(applied);
  let obj: KubeObject;
  if (!live) obj = structuredClone(applied);
  else {
    obj = applyMerge(live, applied) as KubeObject;
    const entries = (live.metadata.managedFields as ManagedFieldsEntry[] | undefined) ?? [];
    const prev = entries.find((e) => e.manager === manager && e.operation === 'Apply' && !e.subresource);
    if (prev) {
      const key = (p: string[]): string => p.join('\u0000');
      const now = new Set(leafPaths(newFields).map(key));
      // A field this manager stopped applying goes away unless another manager also owns it.
      const others = new Set(entries.filter((e) => e !== prev).flatMap((e) => leafPaths(e.fieldsV1 ?? {}).map(key)));
      for (const p of leafPaths(prev.fieldsV1)) if (!now.has(key(p)) && !others.has(key(p))) deletePath(obj, p);
    }
  }
  setManagedFields(obj, live, {
    manager,
    operation: 'Apply',
    apiVersion,
    time: nowIso(),
    fieldsType: 'FieldsV1',
    fieldsV1: newFields,
  });
  return obj;
}

export function nowIso(): string {
  return new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Replaces (or adds) the entry of entry.manager/operation/subresource. */
export function setManagedFields(obj: KubeObject, live: KubeObject | undefined, entry: ManagedFieldsEntry): void {
  const list = ((live?.metadata.managedFields as ManagedFieldsEntry[] | undefined) ?? []).filter(
    (e) =>
      !(
        e.manager === entry.manager &&
        e.operation === entry.operation &&
        (e.subresource ?? '') === (entry.subresource ?? '')
      ),
  );
  list.push(entry);
  obj.metadata.managedFields = list;
}

/** The fields that differ between two objects (for Update entries). */
export function changedFields(oldObj: unknown, newObj: unknown, root = true): Obj {
  const out: Obj = {};
  if (!isObj(newObj)) return out;
  const o = isObj(oldObj) ? oldObj : {};
  for (const [k, v] of Object.entries(newObj)) {
    if (root && (k === 'apiVersion' || k === 'kind')) continue;
    if (root && k === 'metadata') {
      const m = changedFields(
        isObj(o.metadata)
          ? { labels: o.metadata.labels, annotations: o.metadata.annotations, finalizers: o.metadata.finalizers }
          : {},
        isObj(v) ? { labels: v.labels, annotations: v.annotations, finalizers: v.finalizers } : {},
        false,
      );
      if (Object.keys(m).length) out['f:metadata'] = m;
      continue;
    }
    if (JSON.stringify(o[k]) === JSON.stringify(v)) continue;
    out[`f:${k}`] = isObj(v) && isObj(o[k]) ? changedFields(o[k], v, false) : isObj(v) ? fieldsOf(v, false) : {};
  }
  return out;
}
