// The CRD schema machinery for custom resources: pruning of unknown fields, defaulting and
// validation against the version's openAPIV3Schema (structural schema semantics of
// apiextensions-apiserver), with ajv doing the validation and errors rendered as kube field errors.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { fieldError, type StatusCause } from './errors.js';

// ajv-formats is CommonJS; its default export arrives under .default in some loaders.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  a: Ajv,
) => void;

/** The JSON-schema subset a structural schema uses (plus the x-kubernetes-* extensions). */
export interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  required?: string[];
  default?: unknown;
  nullable?: boolean;
  description?: string;
  enum?: unknown[];
  allOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  not?: JsonSchema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  [k: string]: unknown;
}

/** ObjectMeta's fields: anything else under metadata is pruned (ObjectMeta is a typed struct). */
export const OBJECT_META_FIELDS: ReadonlySet<string> = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
]);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** Drops fields the schema does not describe; returns the dropped paths (for fieldValidation). */
export function prune(value: unknown, schema: JsonSchema, path: string, dropped: string[], root = false): void {
  if (Array.isArray(value)) {
    if (schema.items) value.forEach((v, i) => prune(v, schema.items as JsonSchema, join(path, i), dropped));
    return;
  }
  if (!isObj(value)) return;
  const embedded = root || schema['x-kubernetes-embedded-resource'];
  if (embedded && isObj(value.metadata)) {
    for (const k of Object.keys(value.metadata)) {
      if (!OBJECT_META_FIELDS.has(k)) {
        dropped.push(join(join(path, 'metadata'), k));
        delete value.metadata[k];
      }
    }
  }
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const props = schema.properties;
  const addl = schema.additionalProperties;
  for (const k of Object.keys(value)) {
    if (embedded && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
    const sub = props?.[k] ?? (isObj(addl) ? addl : undefined);
    if (sub) prune(value[k], sub, join(path, k), dropped);
    else if (!preserve && addl !== true) {
      dropped.push(join(path, k));
      delete value[k];
    }
  }
}

/** Fills absent (or null, when not nullable) fields with their schema defaults, top-down. */
export function applyDefaults(value: unknown, schema: JsonSchema): void {
  // Every read of a CRD object runs this (lists of 10,000 and watch events): a subtree without a
  // default anywhere is skipped instead of walked (it was most of a large list's time).
  if (!hasDefaults(schema)) return;
  if (Array.isArray(value)) {
    if (schema.items) for (const v of value) applyDefaults(v, schema.items);
    return;
  }
  if (!isObj(value)) return;
  for (const [k, sub] of Object.entries(schema.properties ?? {})) {
    if (sub.default !== undefined && (value[k] === undefined || (value[k] === null && !sub.nullable))) {
      value[k] = structuredClone(sub.default);
    }
    if (value[k] !== undefined) applyDefaults(value[k], sub);
  }
  if (isObj(schema.additionalProperties)) {
    const sub = schema.additionalProperties;
    for (const k of Object.keys(value)) if (!schema.properties?.[k]) applyDefaults(value[k], sub);
  }
}

const defaultsBelow = new WeakMap<JsonSchema, boolean>();
/** Whether the schema or any schema under it (properties, items, additionalProperties) has a default. */
function hasDefaults(schema: JsonSchema): boolean {
  let has = defaultsBelow.get(schema);
  if (has !== undefined) return has;
  has =
    schema.default !== undefined ||
    Object.values(schema.properties ?? {}).some(hasDefaults) ||
    (schema.items !== undefined && hasDefaults(schema.items)) ||
    (isObj(schema.additionalProperties) && hasDefaults(schema.additionalProperties));
  defaultsBelow.set(schema, has);
  return has;
}

/** Rewrites Kubernetes schema dialect into plain JSON schema for ajv. */
function toAjv(s: JsonSchema, root = false): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith('x-kubernetes-') || k === 'nullable' || k === 'default' || k === 'example' || k === 'externalDocs')
      continue;
    if (k === 'properties' && isObj(v)) {
      out.properties = Object.fromEntries(
        Object.entries(v as Record<string, JsonSchema>).map(([pk, pv]) => [pk, toAjv(pv)]),
      );
      // metadata at the root is ObjectMeta, validated by the strategy, not by the CRD's schema.
      if (root && isObj(out.properties) && out.properties.metadata) out.properties.metadata = { type: 'object' };
    } else if ((k === 'items' || k === 'not') && isObj(v)) out[k] = toAjv(v as JsonSchema);
    else if (k === 'additionalProperties' && isObj(v)) out[k] = toAjv(v as JsonSchema);
    else if ((k === 'allOf' || k === 'anyOf' || k === 'oneOf') && Array.isArray(v))
      out[k] = (v as JsonSchema[]).map((x) => toAjv(x));
    else out[k] = v;
  }
  if (s['x-kubernetes-int-or-string'] && !s.anyOf && !s.type) out.type = ['integer', 'string'];
  if (s.nullable && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (s.nullable && Array.isArray(out.enum)) out.enum = [...(out.enum as unknown[]), null];
  return out;
}

function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, logger: false, validateFormats: true });
  addFormats(ajv);
  const cidr4 = /^(\d{1,3}\.){3}\d{1,3}\/(\d|[12]\d|3[0-2])$/;
  const cidr6 = /^[0-9a-fA-F:.]+\/(\d|[1-9]\d|1[01]\d|12[0-8])$/;
  ajv.addFormat('cidr', (v: string) => cidr4.test(v) || (v.includes(':') && cidr6.test(v)));
  ajv.addFormat('mac', /^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/);
  // Numeric formats and the rest kube accepts without checking: any value passes.
  for (const f of [
    'int32',
    'int64',
    'float',
    'double',
    'byte',
    'password',
    'bsonobjectid',
    'isbn',
    'creditcard',
    'ssn',
    'hexcolor',
    'rgbcolor',
    'quantity',
    'datetime',
  ]) {
    ajv.addFormat(f, () => true);
  }
  return ajv;
}

function fieldPath(instancePath: string): string {
  let out = '';
  for (const seg of instancePath.split('/').slice(1)) {
    const s = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    out = /^\d+$/.test(s) ? `${out}[${s}]` : join(out, s);
  }
  return out;
}

function valueAt(root: unknown, instancePath: string): unknown {
  let cur = root;
  for (const seg of instancePath.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Obj)[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

/** ajv errors → apimachinery field errors, worded as kube-apiserver words them. */
export function toCauses(errors: ErrorObject[], root: unknown): StatusCause[] {
  const causes: StatusCause[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    // anyOf/oneOf report every branch; the summary error is enough.
    if (e.schemaPath.includes('/anyOf/') || e.schemaPath.includes('/oneOf/')) continue;
    const path = fieldPath(e.instancePath);
    const v = valueAt(root, e.instancePath);
    let c: StatusCause;
    switch (e.keyword) {
      case 'required':
        c = fieldError.required(join(path, String((e.params as { missingProperty: string }).missingProperty)));
        break;
      case 'type': {
        const t = (e.params as { type: string | string[] }).type;
        c = fieldError.typeInvalid(
          path,
          v,
          `${path} in body must be of type ${Array.isArray(t) ? t.join(',') : t}: ${JSON.stringify(typeof v)}`,
        );
        break;
      }
      case 'enum':
        c = fieldError.notSupported(path, v, (e.params as { allowedValues: unknown[] }).allowedValues);
        break;
      case 'pattern':
        c = fieldError.invalid(path, v, `${path} in body should match '${(e.params as { pattern: string }).pattern}'`);
        break;
      case 'format':
        c = fieldError.invalid(
          path,
          v,
          `${path} in body must be of type ${(e.params as { format: string }).format}: ${JSON.stringify(v)}`,
        );
        break;
      case 'maxLength':
        c = fieldError.tooLong(path, (e.params as { limit: number }).limit);
        break;
      case 'maxItems':
        c = fieldError.tooMany(path, (e.params as { limit: number }).limit);
        break;
      default:
        c = fieldError.invalid(path, v, `${path} in body ${e.message ?? 'is invalid'}`);
    }
    const k = `${c.field}|${c.message}`;
    if (!seen.has(k)) {
      seen.add(k);
      causes.push(c);
    }
  }
  return causes;
}

/** x-kubernetes-list-type: set forbids duplicates, map forbids duplicate keys. */
function listTypeCauses(value: unknown, s: JsonSchema, path: string, out: StatusCause[]): void {
  if (Array.isArray(value)) {
    const lt = s['x-kubernetes-list-type'];
    if (lt === 'set' || lt === 'map') {
      const keys = lt === 'map' ? (s['x-kubernetes-list-map-keys'] ?? []) : [];
      const seen = new Set<string>();
      value.forEach((v, i) => {
        const id = JSON.stringify(lt === 'map' && isObj(v) ? keys.map((k) => v[k]) : v);
        if (seen.has(id))
          out.push(
            fieldError.duplicate(
              join(path, i),
              lt === 'map' && isObj(v) ? Object.fromEntries(keys.map((k) => [k, v[k]])) : v,
            ),
          );
        seen.add(id);
      });
    }
    if (s.items) value.forEach((v, i) => listTypeCauses(v, s.items as JsonSchema, join(path, i), out));
    return;
  }
  if (!isObj(value)) return;
  for (const [k, sub] of Object.entries(s.properties ?? {}))
    if (value[k] !== undefined) listTypeCauses(value[k], sub, join(path, k), out);
}

/** One CRD version's compiled schema. */
export class CrdSchema {
  private readonly validateFn: ValidateFunction;
  readonly statusSchema?: JsonSchema;

  constructor(readonly schema: JsonSchema) {
    this.validateFn = newAjv().compile(toAjv(schema, true));
    this.statusSchema = schema.properties?.status;
  }

  /** Prunes in place and returns the dropped field paths. */
  prune(obj: unknown): string[] {
    const dropped: string[] = [];
    prune(obj, this.schema, '', dropped, true);
    return dropped;
  }

  applyDefaults(obj: unknown): void {
    applyDefaults(obj, this.schema);
  }

  /** False when no field of the schema has a default: applyDefaults is then a no-op. */
  get hasDefaults(): boolean {
    return hasDefaults(this.schema);
  }

  validate(obj: unknown): StatusCause[] {
    const causes: StatusCause[] = [];
    if (!this.validateFn(obj)) causes.push(...toCauses(this.validateFn.errors ?? [], obj));
    listTypeCauses(obj, this.schema, '', causes);
    return causes;
  }
}

/** Structural-schema checks kube-apiserver makes when a CRD is written (the common ones). */
export function structuralErrors(s: JsonSchema, path: string, out: StatusCause[]): void {
  const typeless = !s.type && !s['x-kubernetes-int-or-string'] && !s['x-kubernetes-preserve-unknown-fields'];
  for (const [k, sub] of Object.entries(s.properties ?? {})) {
    const p = `${path}.properties[${k}]`;
    if (!sub.type && !sub['x-kubernetes-int-or-string'] && !sub['x-kubernetes-preserve-unknown-fields'])
      out.push(fieldError.required(`${p}.type`));
    structuralErrors(sub, p, out);
  }
  if (s.items) {
    if (!s.items.type && !s.items['x-kubernetes-int-or-string'] && !s.items['x-kubernetes-preserve-unknown-fields'])
      out.push(fieldError.required(`${path}.items.type`));
    structuralErrors(s.items, `${path}.items`, out);
  }
  if (s.properties && isObj(s.additionalProperties))
    out.push(
      fieldError.forbidden(`${path}.additionalProperties`, 'additionalProperties and properties are mutual exclusive'),
    );
  if (isObj(s.additionalProperties)) structuralErrors(s.additionalProperties, `${path}.additionalProperties`, out);
  void typeless;
}
