// Typed errors of the devcluster API server. Every failure that reaches a client becomes a
// kube-apiserver-shaped Status body (apimachinery api/errors), so kubectl and client-node print
// and branch on them exactly as they do against a real cluster. `code` is our stable code, kept
// out of the wire body (kubectl would not know it) but logged and asserted in tests; `status` is the
// HTTP status (the body's `code`) and `reason` the Kubernetes StatusReason.

/** Stable error codes of the API server area. */
export const ApiServerErrorCode = {
  /** 404: the object (or its namespace) does not exist. */
  NotFound: 'APISERVER_ERR_NOT_FOUND',
  /** 404: no resource, API group or discovery document is served at the path. */
  UnknownPath: 'APISERVER_ERR_UNKNOWN_PATH',
  AlreadyExists: 'APISERVER_ERR_ALREADY_EXISTS',
  Conflict: 'APISERVER_ERR_CONFLICT',
  Invalid: 'APISERVER_ERR_INVALID',
  BadRequest: 'APISERVER_ERR_BAD_REQUEST',
  /** 413: the request body is larger than the server accepts. */
  TooLarge: 'APISERVER_ERR_TOO_LARGE',
  Expired: 'APISERVER_ERR_EXPIRED',
  UnsupportedMediaType: 'APISERVER_ERR_UNSUPPORTED_MEDIA_TYPE',
  MethodNotAllowed: 'APISERVER_ERR_METHOD_NOT_ALLOWED',
  Forbidden: 'APISERVER_ERR_FORBIDDEN',
  Unauthorized: 'APISERVER_ERR_UNAUTHORIZED',
  Timeout: 'APISERVER_ERR_TIMEOUT',
  Internal: 'APISERVER_ERR_INTERNAL',
  /** etcd did not start or become healthy. */
  EtcdStart: 'APISERVER_ERR_ETCD_START',
  /** openssl could not make the cluster's certificates. */
  Tls: 'APISERVER_ERR_TLS',
} as const;
export type ApiServerErrorCode = (typeof ApiServerErrorCode)[keyof typeof ApiServerErrorCode];

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

/** The API server's error: its HTTP status, Kubernetes reason, our stable code and the Status details. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly code: ApiServerErrorCode,
    readonly details?: StatusDetails,
    options?: { cause?: unknown },
  ) {
    super(message, options);
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
      code: this.status,
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
  return new ApiError(
    404,
    'NotFound',
    `${qualified(resource, group)} "${name}" not found`,
    ApiServerErrorCode.NotFound,
    {
      name,
      group,
      kind: resource,
    },
  );
}

export function alreadyExists(resource: string, group: string, name: string): ApiError {
  return new ApiError(
    409,
    'AlreadyExists',
    `${qualified(resource, group)} "${name}" already exists`,
    ApiServerErrorCode.AlreadyExists,
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
    ApiServerErrorCode.Conflict,
    { name, group, kind: resource },
  );
}

/** 422 with field causes; `kind` is the Kind (not the plural), as kube-apiserver does. */
export function invalid(kind: string, group: string, name: string, causes: StatusCause[]): ApiError {
  const texts = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const agg = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  return new ApiError(
    422,
    'Invalid',
    `${qualified(kind, group)} "${name}" is invalid: ${agg}`,
    ApiServerErrorCode.Invalid,
    {
      name,
      group,
      kind,
      causes,
    },
  );
}

/** 404 for a path that names no resource, group or discovery document (kube-apiserver's text). */
export function unknownPath(): ApiError {
  return new ApiError(
    404,
    'NotFound',
    'the server could not find the requested resource',
    ApiServerErrorCode.UnknownPath,
  );
}

/** 413 for a request body over the server's limit. */
export function tooLarge(): ApiError {
  return new ApiError(413, 'RequestEntityTooLarge', 'the request body is too large', ApiServerErrorCode.TooLarge);
}

export function badRequest(message: string, causes?: StatusCause[]): ApiError {
  return new ApiError(400, 'BadRequest', message, ApiServerErrorCode.BadRequest, causes ? { causes } : undefined);
}

export function expired(message: string): ApiError {
  return new ApiError(410, 'Expired', message, ApiServerErrorCode.Expired);
}

export function unsupportedMediaType(contentType: string, accepted: string[]): ApiError {
  return new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
    ApiServerErrorCode.UnsupportedMediaType,
    { causes: [{ reason: 'UnexpectedServerResponse', message: contentType }] },
  );
}

export function methodNotAllowed(method: string): ApiError {
  return new ApiError(
    405,
    'MethodNotAllowed',
    `the server does not allow this method on the requested resource (${method})`,
    ApiServerErrorCode.MethodNotAllowed,
  );
}

export function forbidden(message: string, details?: StatusDetails): ApiError {
  return new ApiError(403, 'Forbidden', message, ApiServerErrorCode.Forbidden, details);
}

/**
 * The 403 of a denied request, word for word as kube-apiserver writes it (apiserver
 * endpoints/handlers/responsewriters/errors.go forbiddenMessage, apimachinery errors.NewForbidden).
 */
export function forbiddenRequest(
  a: {
    user: { name: string };
    verb: string;
    isResourceRequest: boolean;
    path: string;
    apiGroup: string;
    resource: string;
    subresource: string;
    namespace: string;
    name: string;
  },
  reason: string,
): ApiError {
  let msg: string;
  const user = JSON.stringify(a.user.name);
  if (!a.isResourceRequest) msg = `User ${user} cannot ${a.verb} path ${JSON.stringify(a.path)}`;
  else {
    const res = JSON.stringify(a.subresource ? `${a.resource}/${a.subresource}` : a.resource);
    const scope = a.namespace ? `in the namespace ${JSON.stringify(a.namespace)}` : 'at the cluster scope';
    msg = `User ${user} cannot ${a.verb} resource ${res} in API group ${JSON.stringify(a.apiGroup)} ${scope}`;
  }
  if (reason) msg += `: ${reason}`;
  const gr = a.isResourceRequest ? qualified(a.resource, a.apiGroup) : '';
  const message = !gr
    ? `forbidden: ${msg}`
    : a.name
      ? `${gr} ${JSON.stringify(a.name)} is forbidden: ${msg}`
      : `${gr} is forbidden: ${msg}`;
  // Go's omitempty: empty fields are left out (a non-resource denial has `details: {}`).
  const details: StatusDetails = {};
  if (a.name) details.name = a.name;
  if (a.isResourceRequest && a.apiGroup) details.group = a.apiGroup;
  if (a.isResourceRequest && a.resource) details.kind = a.resource;
  return forbidden(message, details);
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized', ApiServerErrorCode.Unauthorized);
}

export function timeout(message: string): ApiError {
  return new ApiError(504, 'Timeout', message, ApiServerErrorCode.Timeout);
}

/**
 * kube-apiserver's answer when its watch cache did not reach a client's resourceVersion within its
 * wait (NewTooLargeResourceVersionError): a Timeout naming both revisions, with the cause
 * ResourceVersionTooLarge and a retry after 1 s, the cacher's.
 */
export function tooLargeResourceVersion(rv: number, current: number): ApiError {
  return new ApiError(
    504,
    'Timeout',
    `Timeout: Too large resource version: ${rv}, current: ${current}`,
    ApiServerErrorCode.Timeout,
    { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 },
  );
}

export function internal(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new ApiError(500, 'InternalError', `Internal error occurred: ${msg}`, ApiServerErrorCode.Internal, undefined, {
    cause: err,
  });
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
