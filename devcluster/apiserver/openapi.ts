// OpenAPI v3, as much as kubectl 1.32 needs: the index at /openapi/v3 with a hash per
// group-version that changes with its schema (kubectl caches GV documents by URL), and per-GV
// documents with a PATCH operation (carrying the fieldValidation parameter, so kubectl leaves
// validation to the server) for every kind, plus component schemas with
// x-kubernetes-group-version-kind so that `kubectl explain` finds our CRDs' fields.
import { createHash } from 'node:crypto';
import type { Registry, ResourceInfo } from './resources.js';
import type { JsonSchema } from './schema.js';

const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

function reversedGroup(group: string): string {
  if (!group) return 'io.k8s.api.core';
  if (!group.includes('.')) return `io.k8s.api.${group}`;
  return group.split('.').reverse().join('.');
}

export function schemaName(r: ResourceInfo): string {
  return `${reversedGroup(r.group)}.${r.version}.${r.kind}`;
}

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

function objectMetaSchema(): JsonSchema {
  const s = (d: string): JsonSchema => ({ type: 'string', description: d });
  return {
    type: 'object',
    description:
      'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.',
    properties: {
      name: s('Name must be unique within a namespace.'),
      namespace: s('Namespace defines the space within which each name must be unique.'),
      generateName: s(
        'GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.',
      ),
      uid: s('UID is the unique in time and space value for this object.'),
      resourceVersion: s('An opaque value that represents the internal version of this object.'),
      generation: {
        type: 'integer',
        format: 'int64',
        description: 'A sequence number representing a specific generation of the desired state.',
      },
      creationTimestamp: {
        type: 'string',
        format: 'date-time',
        description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
      },
      deletionTimestamp: {
        type: 'string',
        format: 'date-time',
        description: 'DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted.',
      },
      labels: {
        type: 'object',
        additionalProperties: { type: 'string' },
        description:
          'Map of string keys and values that can be used to organize and categorize (scope and select) objects.',
      },
      annotations: {
        type: 'object',
        additionalProperties: { type: 'string' },
        description: 'Annotations is an unstructured key value map stored with a resource.',
      },
      finalizers: {
        type: 'array',
        items: { type: 'string' },
        description: 'Must be empty before the object is deleted from the registry.',
      },
    },
  };
}

function kindSchema(r: ResourceInfo): JsonSchema {
  const gvk = [{ group: r.group, version: r.version, kind: r.kind }];
  if (r.schema) {
    const s = structuredClone(r.schema.schema);
    s.properties = {
      apiVersion: {
        type: 'string',
        description: 'APIVersion defines the versioned schema of this representation of an object.',
      },
      kind: {
        type: 'string',
        description: 'Kind is a string value representing the REST resource this object represents.',
      },
      ...(s.properties ?? {}),
      metadata: {
        allOf: [{ $ref: `#/components/schemas/${OBJECT_META}` }],
        description: "Standard object's metadata.",
      },
    };
    return { ...s, 'x-kubernetes-group-version-kind': gvk };
  }
  return {
    type: 'object',
    description: `${r.kind} (served by the cilium-ts devcluster; fields are not described).`,
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { allOf: [{ $ref: `#/components/schemas/${OBJECT_META}` }] },
    },
    'x-kubernetes-preserve-unknown-fields': true,
    'x-kubernetes-group-version-kind': gvk,
  };
}

function patchOp(r: ResourceInfo): unknown {
  const gvk = { group: r.group, version: r.version, kind: r.kind };
  const content: Record<string, unknown> = {
    'application/json-patch+json': {},
    'application/merge-patch+json': {},
    'application/apply-patch+yaml': {},
  };
  return {
    patch: {
      'x-kubernetes-group-version-kind': gvk,
      'x-kubernetes-action': 'patch',
      parameters: [
        { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
        { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
        { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
        { name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } },
      ],
      requestBody: { content },
      responses: {
        '200': {
          description: 'OK',
          content: { 'application/json': { schema: { $ref: `#/components/schemas/${schemaName(r)}` } } },
        },
      },
    },
  };
}

/** One group-version's document. */
export function gvDocument(reg: Registry, group: string, version: string): unknown | undefined {
  const rs = reg.all().filter((r) => r.group === group && r.version === version);
  if (!rs.length) return undefined;
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = { [OBJECT_META]: objectMetaSchema() };
  const base = `/${gvPath(group, version)}`;
  for (const r of rs) {
    const item = r.namespaced ? `${base}/namespaces/{namespace}/${r.plural}/{name}` : `${base}/${r.plural}/{name}`;
    paths[item] = patchOp(r);
    schemas[schemaName(r)] = kindSchema(r);
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.4' }, paths, components: { schemas } };
}

/** Caches documents and hashes per registry generation. */
export class OpenApi {
  private gen = -1;
  private docs = new Map<string, { body: string; hash: string }>();

  constructor(private readonly reg: Registry) {}

  private refresh(): void {
    if (this.gen === this.reg.generation) return;
    this.gen = this.reg.generation;
    this.docs.clear();
    for (const [group, versions] of this.reg.groups()) {
      for (const v of versions) {
        const doc = gvDocument(this.reg, group, v);
        if (!doc) continue;
        const body = JSON.stringify(doc);
        const hash = createHash('sha512').update(body).digest('hex').toUpperCase().slice(0, 128);
        this.docs.set(gvPath(group, v), { body, hash });
      }
    }
  }

  index(): unknown {
    this.refresh();
    const paths: Record<string, unknown> = {};
    for (const [p, d] of this.docs) paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${d.hash}` };
    return { paths };
  }

  /** The document for `api/v1` or `apis/<g>/<v>`. */
  document(path: string): string | undefined {
    this.refresh();
    return this.docs.get(path)?.body;
  }
}
