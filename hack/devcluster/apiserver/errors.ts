// Typed errors of the devcluster API server. Every failure that reaches a client becomes a
// kube-apiserver-shaped Status body (apimachinery api/errors), so kubectl and client-node print
// and branch on them exactly as they do against a real cluster. `ktsCode` is our stable code,
// kept out of the wire body (kubectl would not know it) but logged and asserted in tests.

/** Stable error codes of the API server area. */
export type KtsErrorCode =
  | 'KTS_ERR_NOT_FOUND'
  | 'KTS_ERR_ALREADY_EXISTS'
  | 'KTS_ERR_CONFLICT'
  | 'KTS_ERR_INVALID'
  | 'KTS_ERR_BAD_REQUEST'
  | 'KTS_ERR_EXPIRED'
  | 'KTS_ERR_UNSUPPORTED_MEDIA_TYPE'
  | 'KTS_ERR_METHOD_NOT_ALLOWED'
  | 'KTS_ERR_FORBIDDEN'
  | 'KTS_ERR_UNAUTHORIZED'
  | 'KTS_ERR_TIMEOUT'
  | 'KTS_ERR_INTERNAL'
  | 'KTS_ERR_ETCD_START'
  | 'KTS_ERR_TLS'
  | 'KTS_ERR_NOT_ACCEPTABLE';

/** One field error, as in `details.causes[]`. */
export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

/** The `details` of a Status body. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** The wire form of metav1.Status. */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

/** An error that knows its HTTP code, Kubernetes reason and our stable code. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly ktsCode: KtsErrorCode,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toStatus(): Status {
    const s: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) s.details = this.details;
    return s;
  }
}

/** The "resource.group" qualifier kube-apiserver puts in messages (core resources have no group). */
export function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

export function notFound(resource: string, group: string, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, 'KTS_ERR_NOT_FOUND', {
    name,
    group,
    kind: resource,
  });
}

export function alreadyExists(resource: string, group: string, name: string): ApiError {
  return new ApiError(
    409,
    'AlreadyExists',
    `${qualified(resource, group)} "${name}" already exists`,
    'KTS_ERR_ALREADY_EXISTS',
    {
      name,
      group,
      kind: resource,
    },
  );
}

export function conflict(resource: string, group: string, name: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    'KTS_ERR_CONFLICT',
    { name, group, kind: resource },
  );
}

/** 422 with field causes; `kind` is the Kind (not the plural), as kube-apiserver does. */
export function invalid(kind: string, group: string, name: string, causes: StatusCause[]): ApiError {
  const texts = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const agg = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${qualified(kind, group)} "${name}" is invalid: ${agg}`, 'KTS_ERR_INVALID', {
    name,
    group,
    kind,
    causes,
  });
}

export function badRequest(message: string, causes?: StatusCause[]): ApiError {
  return new ApiError(400, 'BadRequest', message, 'KTS_ERR_BAD_REQUEST', causes ? { causes } : undefined);
}

export function expired(message: string): ApiError {
  return new ApiError(410, 'Expired', message, 'KTS_ERR_EXPIRED');
}

export function unsupportedMediaType(contentType: string, accepted: string[]): ApiError {
  return new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
    'KTS_ERR_UNSUPPORTED_MEDIA_TYPE',
    { causes: [{ reason: 'UnexpectedServerResponse', message: contentType }] },
  );
}

export function methodNotAllowed(method: string): ApiError {
  return new ApiError(
    405,
    'MethodNotAllowed',
    `the server does not allow this method on the requested resource (${method})`,
    'KTS_ERR_METHOD_NOT_ALLOWED',
  );
}

export function forbidden(message: string, details?: StatusDetails): ApiError {
  return new ApiError(403, 'Forbidden', message, 'KTS_ERR_FORBIDDEN', details);
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized', 'KTS_ERR_UNAUTHORIZED');
}

export function timeout(message: string): ApiError {
  return new ApiError(504, 'Timeout', message, 'KTS_ERR_TIMEOUT');
}

export function internal(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new ApiError(500, 'InternalError', `Internal error occurred: ${msg}`, 'KTS_ERR_INTERNAL');
}

/** Field error texts in the apimachinery field.Error format. */
export const fieldError = {
  required: (field: string): StatusCause => ({ reason: 'FieldValueRequired', message: 'Required value', field }),
  invalid: (field: string, value: unknown, detail: string): StatusCause => ({
    reason: 'FieldValueInvalid',
    message: `Invalid value: ${JSON.stringify(value)}: ${detail}`,
    field,
  }),
  typeInvalid: (field: string, value: unknown, detail: string): StatusCause => ({
    reason: 'FieldValueTypeInvalid',
    message: `Invalid value: ${JSON.stringify(value)}: ${detail}`,
    field,
  }),
  notSupported: (field: string, value: unknown, allowed: unknown[]): StatusCause => ({
    reason: 'FieldValueNotSupported',
    message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((a) => JSON.stringify(a)).join(', ')}`,
    field,
  }),
  forbidden: (field: string, detail: string): StatusCause => ({
    reason: 'FieldValueForbidden',
    message: `Forbidden: ${detail}`,
    field,
  }),
  duplicate: (field: string, value: unknown): StatusCause => ({
    reason: 'FieldValueDuplicate',
    message: `Duplicate value: ${JSON.stringify(value)}`,
    field,
  }),
  tooLong: (field: string, max: number): StatusCause => ({
    reason: 'FieldValueTooLong',
    message: `Too long: may not be longer than ${max}`,
    field,
  }),
  tooMany: (field: string, max: number): StatusCause => ({
    reason: 'FieldValueTooMany',
    message: `Too many: must have at most ${max} items`,
    field,
  }),
};
