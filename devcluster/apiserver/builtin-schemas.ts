// Schemas of the built-in kinds, for /openapi/v2 (kubectl's client-side validation of `v1 List`s
// and explain). kube-apiserver publishes them from its Go types; here they come from the model
// classes of @kubernetes/client-node (generated from the same OpenAPI document), whose
// attribute type maps name every field with its type.
import * as models from '@kubernetes/client-node';
import type { ResourceInfo } from './resources.js';
import type { JsonSchema } from './schema.js';

interface Attribute {
  baseName: string;
  type: string;
  format: string;
}

type ModelClass = { getAttributeTypeMap(): Attribute[] };

const registry = models as unknown as Record<string, ModelClass | undefined>;

/** The model class of a served built-in kind (core Event and events.k8s.io Event differ). */
export function modelClassName(r: Pick<ResourceInfo, 'group' | 'version' | 'kind'>): string | undefined {
  const v = r.version.charAt(0).toUpperCase() + r.version.slice(1);
  const prefix = r.group.split('.')[0] ?? '';
  const candidates = [
    `${v}${r.kind}`,
    `${r.group ? prefix.charAt(0).toUpperCase() + prefix.slice(1) : 'Core'}${v}${r.kind}`,
  ];
  if (r.group === 'events.k8s.io') candidates.reverse();
  return candidates.find((c) => typeof registry[c]?.getAttributeTypeMap === 'function');
}

/** The schema of one attribute type; model names are collected into `refs`. */
function typeSchema(type: string, format: string, refs: Set<string>): JsonSchema {
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) return { type: 'array', items: typeSchema(arr[1] ?? 'any', format, refs) };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return { type: 'object', additionalProperties: typeSchema(map[1] ?? 'any', format, refs) };
  switch (type) {
    case 'string':
      return format ? { type: 'string', format } : { type: 'string' };
    case 'boolean':
      return { type: 'boolean' };
    case 'number':
      return format === 'double' ? { type: 'number', format } : { type: 'integer', format: format || 'int64' };
    case 'Date':
      return { type: 'string', format: 'date-time' };
    case 'IntOrString':
      // as kube publishes intstr.IntOrString: a string schema that kubectl accepts integers for
      return { type: 'string', format: 'int-or-string' };
    case 'any':
    case 'object':
      return {};
  }
  if (typeof registry[type]?.getAttributeTypeMap === 'function') {
    refs.add(type);
    return { $ref: `#/definitions/${type}` };
  }
  return {};
}

/** `definitions` for the named model classes and everything they reference. */
export function modelDefinitions(roots: string[]): Record<string, JsonSchema> {
  const defs: Record<string, JsonSchema> = {};
  const todo = [...roots];
  while (todo.length) {
    const name = todo.pop() as string;
    if (defs[name]) continue;
    const refs = new Set<string>();
    const properties: Record<string, JsonSchema> = {};
    for (const a of registry[name]?.getAttributeTypeMap() ?? [])
      properties[a.baseName] = typeSchema(a.type, a.format, refs);
    // `kind`-less micro time and similar wrappers have no attributes: any value
    defs[name] = Object.keys(properties).length ? { type: 'object', properties } : {};
    for (const r of refs) if (!defs[r]) todo.push(r);
  }
  return defs;
}

const defsCache = new Map<string, Record<string, JsonSchema>>();

function walkUnknown(
  v: unknown,
  s: JsonSchema | undefined,
  defs: Record<string, JsonSchema>,
  path: string,
  out: string[],
): void {
  if (!s || v === null || typeof v !== 'object') return;
  if (typeof s.$ref === 'string') return walkUnknown(v, defs[s.$ref.slice('#/definitions/'.length)], defs, path, out);
  if (Array.isArray(v)) {
    if (s.items) v.forEach((x, i) => walkUnknown(x, s.items, defs, `${path}[${i}]`, out));
    return;
  }
  if (s.properties) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const p = path ? `${path}.${k}` : k;
      const sub = s.properties[k];
      if (!sub) out.push(p);
      else walkUnknown(x, sub, defs, p, out);
    }
  } else if (s.additionalProperties && typeof s.additionalProperties === 'object')
    for (const [k, x] of Object.entries(v as Record<string, unknown>))
      walkUnknown(x, s.additionalProperties, defs, `${path}.${k}`, out);
}

/**
 * The fields of a built-in object its type does not have, as kube-apiserver's strict decoding
 * names them ("spec.template.spec.containers[0].imagee"); empty when the kind has no model.
 */
export function unknownBuiltinFields(r: Pick<ResourceInfo, 'group' | 'version' | 'kind'>, obj: unknown): string[] {
  const cls = modelClassName(r);
  if (!cls) return [];
  let defs = defsCache.get(cls);
  if (!defs) defsCache.set(cls, (defs = modelDefinitions([cls])));
  const out: string[] = [];
  walkUnknown(obj, defs[cls], defs, '', out);
  return out;
}
