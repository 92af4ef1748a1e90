// Kubernetes' rules for a *structural* openAPIV3Schema (apiextensions.k8s.io/v1): what the API
// server demands of every CRD before it serves it. Used by our tests and the devcluster.

type Schema = Record<string, unknown>;

/** The JSONSchemaProps fields of apiextensions.k8s.io/v1 (anything else is an unknown field). */
const KNOWN_KEYS = new Set([
  'id',
  '$schema',
  '$ref',
  'description',
  'type',
  'format',
  'title',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'multipleOf',
  'enum',
  'maxProperties',
  'minProperties',
  'required',
  'items',
  'allOf',
  'oneOf',
  'anyOf',
  'not',
  'properties',
  'additionalProperties',
  'patternProperties',
  'dependencies',
  'additionalItems',
  'definitions',
  'externalDocs',
  'example',
  'nullable',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-list-type',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);
/** Fields apiextensions v1 forbids in CRD schemas. */
const FORBIDDEN = ['id', '$schema', '$ref', 'patternProperties', 'dependencies', 'additionalItems', 'definitions'];
const JUNCTORS = ['allOf', 'anyOf', 'oneOf', 'not'] as const;
const NOT_IN_JUNCTORS = ['type', 'description', 'default', 'additionalProperties', 'nullable'];
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);

export interface StructuralViolation {
  path: string;
  message: string;
}

function checkJunctorBranch(branch: Schema, outer: Schema, path: string, out: StructuralViolation[]): void {
  for (const key of NOT_IN_JUNCTORS) {
    if (key in branch) out.push({ path, message: `${key} must not be set inside allOf/anyOf/oneOf/not` });
  }
  const outerProps = (outer.properties ?? {}) as Schema;
  for (const [name, sub] of Object.entries((branch.properties ?? {}) as Record<string, Schema>)) {
    if (!(name in outerProps))
      out.push({ path: `${path}.properties[${name}]`, message: 'must be specified outside allOf/anyOf/oneOf/not too' });
    else checkJunctorBranch(sub, outerProps[name] as Schema, `${path}.properties[${name}]`, out);
  }
  if (branch.items && outer.items)
    checkJunctorBranch(branch.items as Schema, outer.items as Schema, `${path}.items`, out);
}

function walk(schema: Schema, path: string, out: StructuralViolation[], isRoot: boolean): void {
  for (const key of Object.keys(schema)) {
    if (!KNOWN_KEYS.has(key)) out.push({ path, message: `unknown field ${JSON.stringify(key)}` });
  }
  for (const key of FORBIDDEN) if (key in schema) out.push({ path, message: `${key} is forbidden in CRD schemas` });
  if (schema.uniqueItems === true) out.push({ path, message: 'uniqueItems cannot be true' });
  const type = schema.type;
  const intOrString = schema['x-kubernetes-int-or-string'] === true;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (type === undefined && !intOrString && !preserve) out.push({ path, message: 'type must not be empty' });
  if (type !== undefined && (typeof type !== 'string' || !TYPES.has(type))) {
    out.push({ path, message: `type must be one of ${[...TYPES].join(', ')}` });
  }
  if (isRoot && type !== 'object') out.push({ path, message: 'the root must be of type object' });
  if (schema.properties && schema.additionalProperties !== undefined) {
    out.push({ path, message: 'properties and additionalProperties are mutually exclusive' });
  }
  if (type === 'array' && !schema.items) out.push({ path, message: 'items must be specified for arrays' });
  for (const j of JUNCTORS) {
    const v = schema[j];
    const branches = (Array.isArray(v) ? v : v ? [v] : []) as Schema[];
    branches.forEach((b, i) => checkJunctorBranch(b, schema, `${path}.${j}[${i}]`, out));
  }
  for (const [name, sub] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
    if (isRoot && name === 'metadata') {
      const extra = Object.keys(sub).filter((k) => k !== 'type' && k !== 'description' && k !== 'properties');
      if (extra.length)
        out.push({ path: `${path}.properties[metadata]`, message: 'only name and generateName may be restricted' });
      continue;
    }
    walk(sub, `${path}.properties[${name}]`, out, false);
  }
  if (schema.items && typeof schema.items === 'object') walk(schema.items as Schema, `${path}.items`, out, false);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    walk(schema.additionalProperties as Schema, `${path}.additionalProperties`, out, false);
  }
}

/** Every violation of the structural-schema rules; empty when the schema is structural. */
export function structuralViolations(openAPIV3Schema: Schema): StructuralViolation[] {
  const out: StructuralViolation[] = [];
  walk(openAPIV3Schema, 'openAPIV3Schema', out, true);
  return out;
}
