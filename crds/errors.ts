// Validation errors of the CRDs: stable codes, the field path a user sees in kubectl, and a
// message that says what is wrong and what is allowed. Codes are fields, never part of a message.

/** Stable codes; tests, the API server and the agent's `Valid` condition rely on them. */
export const CrdErrorCode = {
  /** The object does not match the CRD's OpenAPI schema (type, enum, pattern, format, required). */
  Schema: 'CRD_ERR_SCHEMA',
  /** Neither `spec` nor `specs` holds a rule. */
  EmptyPolicy: 'CRD_ERR_POLICY_EMPTY',
  /** A rule has both or neither of endpointSelector and nodeSelector, or nodeSelector in a CNP. */
  Selector: 'CRD_ERR_POLICY_SELECTOR',
  /** A matchExpressions entry breaks the In/NotIn/Exists/DoesNotExist value rules. */
  SelectorRequirement: 'CRD_ERR_SELECTOR_REQUIREMENT',
  /** An `except` prefix lies outside its `cidr`, or a CIDR rule names several sources. */
  CidrRule: 'CRD_ERR_CIDR_RULE',
  /** A port range is reversed, or combined with what upstream refuses. */
  PortRange: 'CRD_ERR_PORT_RANGE',
  /** Fields upstream Cilium refuses to combine in one rule. */
  Exclusive: 'CRD_ERR_EXCLUSIVE_FIELDS',
  /** An ICMP type out of range or an unknown ICMP type name. */
  Icmp: 'CRD_ERR_ICMP',
  /** Several L7 protocols in one port rule. */
  L7: 'CRD_ERR_L7_RULES',
  /** A kind that is not one of the cilium.io/v2 CRDs. */
  UnknownKind: 'CRD_ERR_UNKNOWN_KIND',
  /** An object failed validation (assertValid); its `errors` carry the codes above. */
  InvalidObject: 'CRD_ERR_INVALID_OBJECT',
} as const;
export type CrdErrorCode = (typeof CrdErrorCode)[keyof typeof CrdErrorCode];

export interface CrdValidationError {
  code: CrdErrorCode;
  /** Kubernetes-style field path, as kubectl prints it: `spec.ingress[0].toPorts[0].ports[0].port`. */
  field: string;
  /** What is wrong and what is allowed. */
  message: string;
  /**
   * `schema`: refused by the API server (OpenAPI schema). `semantic`: upstream refuses it when the
   * agent parses the policy; the agent reports it in the `Valid` condition.
   */
  stage: 'schema' | 'semantic';
}

/** Converts a JSON pointer (`/spec/ingress/0/toPorts`) into a field path (`spec.ingress[0].toPorts`). */
export function pointerToField(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}

export function formatErrors(kind: string, name: string | undefined, errors: readonly CrdValidationError[]): string {
  const lines = errors.map((e) => `${e.field || '<root>'}: ${e.message}`);
  return `${kind} ${JSON.stringify(name ?? '')} is invalid: ${lines.join('; ')}`;
}

/** The base of the CRD layer's errors. */
export class CrdError extends Error {
  constructor(
    readonly code: CrdErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CrdError';
  }
}

/** An object of `kind` failed validation; the message names every invalid field. */
export class CrdValidationException extends CrdError {
  constructor(
    readonly kind: string,
    readonly objectName: string | undefined,
    readonly errors: readonly CrdValidationError[],
  ) {
    super(CrdErrorCode.InvalidObject, formatErrors(kind, objectName, errors));
    this.name = 'CrdValidationException';
  }
}
