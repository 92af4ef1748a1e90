// OpenAPI v2 at /openapi/v2, which kubectl 1.32 still reads for client-side validation of a
// `v1 List` (its server-side field validation check answers "unsupported" for List, so it
// validates every item itself) and for `explain` fallbacks. kubectl asks for the gnostic protobuf
// form (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, openapi_v2.Document of
// github.com/google/gnostic-models), JSON otherwise. Built-in kinds are described by the model
// classes of @kubernetes/client-node, custom resources by their structural schemas.
import { modelClassName, modelDefinitions } from './builtin-schemas.js';
import type { Registry, ResourceInfo } from './resources.js';
import type { JsonSchema } from './schema.js';
import { schemaName } from './openapi.js';

// Clients ask with "…spec.v2@v1.0+protobuf"; kube-openapi answers with a Content-Type Go's mime
// parser accepts (no "@").
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';
const OBJECT_META = 'V1ObjectMeta';
const GVK = 'x-kubernetes-group-version-kind';

/**
 * A CRD's v3 structural schema as kube-apiserver publishes it in v2: no nullable/oneOf/anyOf/not,
 * a node keeping unknown fields or int-or-string is left untyped (any value passes).
 */
export function toV2(s: JsonSchema): JsonSchema {
  if (s['x-kubernetes-preserve-unknown-fields'] || s['x-kubernetes-int-or-string']) {
    return s.description ? { description: s.description } : {};
  }
  const out: JsonSchema = {};
  if (s.type) out.type = s.type;
  if (typeof s.format === 'string') out.format = s.format;
  if (s.description) out.description = s.description;
  if (s.required?.length) out.required = [...s.required];
  if (s.properties) {
    out.properties = {};
    for (const [k, v] of Object.entries(s.properties)) out.properties[k] = toV2(v);
  }
  if (s.items) out.items = toV2(s.items);
  if (s.additionalProperties !== undefined)
    out.additionalProperties = typeof s.additionalProperties === 'boolean' ? true : toV2(s.additionalProperties);
  return out;
}

function crdDefinition(r: ResourceInfo): JsonSchema {
  const s = toV2(r.schema?.schema ?? { type: 'object' });
  s.properties = {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    ...(s.properties ?? {}),
    metadata: { $ref: `#/definitions/${OBJECT_META}` },
  };
  s.type = 'object';
  return s;
}

/** The whole v2 document (JSON form) of what the registry serves. */
export function v2Document(reg: Registry): {
  swagger: string;
  info: object;
  paths: object;
  definitions: Record<string, JsonSchema>;
} {
  const builtins = new Map<string, ResourceInfo[]>();
  const definitions: Record<string, JsonSchema> = {};
  for (const r of reg.all()) {
    if (r.schema) {
      definitions[schemaName(r)] = {
        ...crdDefinition(r),
        [GVK]: [{ group: r.group, version: r.version, kind: r.kind }],
      };
      continue;
    }
    const cls = modelClassName(r);
    if (!cls) continue;
    builtins.set(cls, [...(builtins.get(cls) ?? []), r]);
  }
  Object.assign(definitions, modelDefinitions([...builtins.keys(), OBJECT_META]));
  for (const [cls, rs] of builtins) {
    const d = definitions[cls];
    if (d) d[GVK] = rs.map((r) => ({ group: r.group, version: r.version, kind: r.kind }));
  }
  return { swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.32.4' }, paths: {}, definitions };
}

// --- protobuf (proto3 wire format) of the gnostic messages we fill ---

class Writer {
  private chunks: Buffer[] = [];

  private varint(n: number): void {
    const bytes: number[] = [];
    while (n > 0x7f) {
      bytes.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    bytes.push(n);
    this.chunks.push(Buffer.from(bytes));
  }

  bytes(field: number, b: Buffer): this {
    this.varint((field << 3) | 2);
    this.varint(b.length);
    this.chunks.push(b);
    return this;
  }

  string(field: number, s: string | undefined): this {
    return s ? this.bytes(field, Buffer.from(s, 'utf8')) : this;
  }

  bool(field: number, v: boolean): this {
    if (!v) return this;
    this.varint(field << 3);
    this.varint(1);
    return this;
  }

  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** openapi.v2.Schema. */
function encodeSchema(s: JsonSchema): Writer {
  const w = new Writer();
  if (typeof s.$ref === 'string') w.string(1, s.$ref);
  if (typeof s.format === 'string') w.string(2, s.format);
  if (s.description) w.string(4, s.description);
  for (const r of s.required ?? []) w.string(19, r);
  if (s.additionalProperties !== undefined) {
    const ap = new Writer();
    if (typeof s.additionalProperties === 'boolean') ap.bool(2, s.additionalProperties);
    else ap.message(1, encodeSchema(s.additionalProperties));
    w.message(21, ap);
  }
  if (s.type) w.message(22, new Writer().string(1, s.type));
  if (s.items) w.message(23, new Writer().message(1, encodeSchema(s.items)));
  for (const a of s.allOf ?? []) w.message(24, encodeSchema(a));
  if (s.properties) {
    const props = new Writer();
    for (const [k, v] of Object.entries(s.properties))
      props.message(1, new Writer().string(1, k).message(2, encodeSchema(v)));
    w.message(25, props);
  }
  for (const [k, v] of Object.entries(s)) {
    if (!k.startsWith('x-kubernetes-group-version-kind')) continue;
    // NamedAny{name, Any{yaml}}: JSON is YAML
    w.message(31, new Writer().string(1, k).message(2, new Writer().string(2, JSON.stringify(v))));
  }
  return w;
}

/** openapi.v2.Document with swagger, info and definitions. */
export function encodeV2(doc: ReturnType<typeof v2Document>): Buffer {
  const w = new Writer().string(1, doc.swagger).message(2, new Writer().string(1, 'Kubernetes').string(2, 'v1.32.4'));
  const defs = new Writer();
  for (const [name, s] of Object.entries(doc.definitions))
    defs.message(1, new Writer().string(1, name).message(2, encodeSchema(s)));
  w.message(8, new Writer());
  w.message(9, defs);
  return w.finish();
}

/** Caches both forms per registry generation. */
export class OpenApiV2 {
  private gen = -1;
  private json = '';
  private proto: Buffer = Buffer.alloc(0);

  constructor(private readonly reg: Registry) {}

  get(protobuf: boolean): { body: string | Buffer; contentType: string } {
    if (this.gen !== this.reg.generation) {
      this.gen = this.reg.generation;
      const doc = v2Document(this.reg);
      this.json = JSON.stringify(doc);
      this.proto = encodeV2(doc);
    }
    return protobuf
      ? { body: this.proto, contentType: OPENAPI_V2_PROTOBUF }
      : { body: this.json, contentType: 'application/json' };
  }
}
