// Building blocks for CRD schemas that are valid Kubernetes *structural* schemas.
// TypeBox gives us the static types; these helpers avoid the JSON Schema constructs that an
// apiextensions.k8s.io/v1 openAPIV3Schema refuses (const, patternProperties, type arrays).
import { Type, type TSchema, type SchemaOptions } from '@sinclair/typebox';

/**
 * A user-facing message for a schema node, used by our validators instead of ajv's generic one.
 * Stripped from the CRD YAML (Kubernetes refuses unknown keys in openAPIV3Schema).
 */
export const MESSAGE_KEY = 'x-cilium-ts-message';

export interface KitOptions extends SchemaOptions {
  [MESSAGE_KEY]?: string;
}

/** A string restricted to a list of values (emitted as `enum`, never `const`/`anyOf`). */
export const StringEnum = <const T extends readonly string[]>(values: T, options: KitOptions = {}) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });

/** `map[string]string`, the shape of matchLabels, annotations and security-labels. */
export const StringMap = (options: KitOptions = {}) =>
  Type.Unsafe<Record<string, string>>({ type: 'object', additionalProperties: { type: 'string' }, ...options });

/** An IPv4 or IPv6 prefix such as `10.0.0.0/8` (Kubernetes knows `format: cidr`). */
export const Cidr = (options: KitOptions = {}) =>
  Type.String({
    format: 'cidr',
    [MESSAGE_KEY]: 'must be a CIDR such as 10.0.0.0/8 or fd00::/64',
    ...options,
  });

/** `x-kubernetes-int-or-string`: Kubernetes' IntOrString. */
export const IntOrString = (options: KitOptions = {}) =>
  Type.Unsafe<number | string>({ 'x-kubernetes-int-or-string': true, ...options });

/** An object whose unknown fields are kept as they are (free-form data). */
export const FreeForm = (options: KitOptions = {}) =>
  Type.Unsafe<Record<string, unknown>>({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true, ...options });

/** A list of items (a thin alias so schemas read like the Go types). */
export const List = <T extends TSchema>(item: T, options: KitOptions = {}) => Type.Array(item, options);

/**
 * The schema as plain JSON for a CRD: TypeBox's symbol keys and our own message keys removed.
 */
export function toOpenApi(schema: TSchema): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema, (key, value) => (key === MESSAGE_KEY ? undefined : value)));
}
