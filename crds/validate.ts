// Validators for the cilium.io/v2 kinds, compiled once, on first use: the OpenAPI schema of each CRD (what an
// API server enforces, with kubectl's strict unknown-field check) plus upstream's semantic
// checks for policies (what the `Valid` condition reports).
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { CRDS, buildCrd } from './definitions.js';
import { isCidr } from './cidr.js';
import { CrdError, CrdErrorCode, CrdValidationException, pointerToField, type CrdValidationError } from './errors.js';
import { MESSAGE_KEY } from './schema-kit.js';
import { policySemanticErrors } from './semantics.js';
import type { Rule } from './policy-rule.js';

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  a: Ajv,
) => Ajv;

type JsonSchema = Record<string, unknown>;

export interface ValidateOptions {
  /**
   * `error` (kubectl's default `--validate=strict`): a field the schema does not know is an error,
   * which catches typos such as `fromEndpoint`. `ignore`: unknown fields are left to pruning.
   */
  unknownFields?: 'error' | 'ignore';
  /** Also run upstream's semantic policy checks (default true). */
  semantic?: boolean;
}

const DEFAULTS: Required<ValidateOptions> = { unknownFields: 'error', semantic: true };

function makeAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true, verbose: true });
  addFormats(ajv);
  ajv.addFormat('cidr', { type: 'string', validate: isCidr });
  ajv.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
  });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addKeyword({
    keyword: 'x-kubernetes-int-or-string',
    schemaType: 'boolean',
    validate: (on: boolean, data: unknown) => !on || typeof data === 'string' || Number.isInteger(data),
    errors: false,
  });
  ajv.addKeyword({ keyword: 'x-kubernetes-preserve-unknown-fields', schemaType: 'boolean' });
  ajv.addKeyword({ keyword: MESSAGE_KEY, schemaType: 'string' });
  return ajv;
}

interface Compiled {
  schema: JsonSchema;
  validate: ValidateFunction;
}

let ajv: Ajv | undefined;
const compiled = new Map<string, Compiled>();

/**
 * The kind's validator, compiled on first use: compiling every kind's schema at import took
 * seconds of an agent's start (the policy schemas most), and a process validates few kinds.
 */
function compiledFor(kind: string): Compiled | undefined {
  const done = compiled.get(kind);
  if (done) return done;
  const def = CRDS.find((d) => d.kind === kind);
  if (!def) return undefined;
  const crd = buildCrd(def) as { spec: { versions: { schema: { openAPIV3Schema: JsonSchema } }[] } };
  const openApi = crd.spec.versions[0]!.schema.openAPIV3Schema;
  // Validate against the schema with its user messages (the CRD copy has them stripped).
  const withMessages = { ...(JSON.parse(JSON.stringify(def.schema)) as JsonSchema), required: openApi.required };
  ajv ??= makeAjv();
  const entry = { schema: withMessages, validate: ajv.compile(withMessages) };
  compiled.set(kind, entry);
  return entry;
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function ajvToError(e: ErrorObject): CrdValidationError {
  const field = pointerToField(e.instancePath);
  const custom = (e.parentSchema as JsonSchema | undefined)?.[MESSAGE_KEY] as string | undefined;
  const at = (f: string, message: string): CrdValidationError => ({
    code: CrdErrorCode.Schema,
    field: f,
    message,
    stage: 'schema',
  });
  switch (e.keyword) {
    case 'required': {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      return at(field ? `${field}.${missing}` : missing, 'Required value');
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(show).join(', ');
      return at(field, `Unsupported value: ${show(e.data)}: supported values: ${allowed}`);
    }
    case 'type':
      return at(field, `Invalid value: ${show(e.data)}: must be of type ${(e.params as { type: string }).type}`);
    case 'pattern':
    case 'format':
      return at(field, `Invalid value: ${show(e.data)}: ${custom ?? e.message ?? 'invalid'}`);
    case 'x-kubernetes-int-or-string':
      return at(field, `Invalid value: ${show(e.data)}: must be an integer or a string`);
    case 'maxItems':
      return at(
        field,
        `Too many: ${(e.data as unknown[]).length}: must have at most ${(e.params as { limit: number }).limit} items`,
      );
    default:
      return at(field, `Invalid value: ${show(e.data)}: ${e.message ?? e.keyword}`);
  }
}

/** Fields present in `data` that the structural schema does not declare (kubectl strict validation). */
function unknownFields(
  schema: JsonSchema | undefined,
  data: unknown,
  pointer: string,
  out: CrdValidationError[],
): void {
  if (!schema || data === null || typeof data !== 'object') return;
  if (schema['x-kubernetes-preserve-unknown-fields']) return;
  if (Array.isArray(data)) {
    data.forEach((item, i) => unknownFields(schema.items as JsonSchema | undefined, item, `${pointer}/${i}`, out));
    return;
  }
  const props = schema.properties as Record<string, JsonSchema> | undefined;
  const additional = schema.additionalProperties as JsonSchema | boolean | undefined;
  for (const [key, value] of Object.entries(data)) {
    const child = `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (props?.[key]) unknownFields(props[key], value, child, out);
    else if (typeof additional === 'object') unknownFields(additional, value, child, out);
    else if (props && additional === undefined) {
      out.push({
        code: CrdErrorCode.Schema,
        field: pointerToField(child),
        message: `unknown field ${JSON.stringify(key)}`,
        stage: 'schema',
      });
    }
  }
}

/** All validation errors of a cilium.io/v2 object of `kind`; an empty list means valid. */
export function validateObject(kind: string, obj: unknown, options: ValidateOptions = {}): CrdValidationError[] {
  const opts = { ...DEFAULTS, ...options };
  const entry = compiledFor(kind);
  if (!entry)
    throw new CrdError(
      CrdErrorCode.UnknownKind,
      `${kind} is not a cilium.io/v2 kind (known: ${CRDS.map((d) => d.kind).join(', ')})`,
    );
  const errors: CrdValidationError[] = [];
  if (!entry.validate(obj)) errors.push(...(entry.validate.errors ?? []).map(ajvToError));
  if (opts.unknownFields === 'error') unknownFields(entry.schema, obj, '', errors);
  const isPolicy = kind === 'CiliumNetworkPolicy' || kind === 'CiliumClusterwideNetworkPolicy';
  // Semantic checks assume the shape is right; a schema error already says what to fix first.
  if (opts.semantic && isPolicy && errors.length === 0) {
    errors.push(
      ...policySemanticErrors(obj as { spec?: Rule; specs?: Rule[] }, kind === 'CiliumClusterwideNetworkPolicy'),
    );
  }
  return dedupe(errors);
}

function dedupe(errors: CrdValidationError[]): CrdValidationError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.field}\0${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Throws a CrdValidationException naming every invalid field. */
export function assertValid(kind: string, obj: unknown, options: ValidateOptions = {}): void {
  const errors = validateObject(kind, obj, options);
  if (errors.length) {
    const name = (obj as { metadata?: { name?: string } } | null)?.metadata?.name;
    throw new CrdValidationException(kind, name, errors);
  }
}

export const validateCiliumNetworkPolicy = (obj: unknown, o?: ValidateOptions) =>
  validateObject('CiliumNetworkPolicy', obj, o);
export const validateCiliumClusterwideNetworkPolicy = (obj: unknown, o?: ValidateOptions) =>
  validateObject('CiliumClusterwideNetworkPolicy', obj, o);
