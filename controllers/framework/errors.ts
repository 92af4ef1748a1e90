// The framework's errors: stable `KTS_ERR_…` codes, API errors shaped after kube-apiserver's
// Status reasons, and the two reconcile outcomes (temporary: retry with backoff; permanent: stop).

const BRAND = Symbol.for('cilium-ts.framework.error');

export const FrameworkErrorCode = {
  NotFound: 'KTS_ERR_NOT_FOUND',
  Conflict: 'KTS_ERR_CONFLICT',
  AlreadyExists: 'KTS_ERR_ALREADY_EXISTS',
  Gone: 'KTS_ERR_GONE',
  Invalid: 'KTS_ERR_INVALID',
  Forbidden: 'KTS_ERR_FORBIDDEN',
  Unauthorized: 'KTS_ERR_UNAUTHORIZED',
  TooManyRequests: 'KTS_ERR_TOO_MANY_REQUESTS',
  Timeout: 'KTS_ERR_TIMEOUT',
  Api: 'KTS_ERR_API',
  Network: 'KTS_ERR_NETWORK',
  Temporary: 'KTS_ERR_RECONCILE_TEMPORARY',
  Permanent: 'KTS_ERR_RECONCILE_PERMANENT',
  Shutdown: 'KTS_ERR_SHUTDOWN',
} as const;
export type FrameworkErrorCode = (typeof FrameworkErrorCode)[keyof typeof FrameworkErrorCode];

export class FrameworkError extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly code: FrameworkErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FrameworkError';
  }
  /** Whether retrying the same request later may succeed. */
  get retryable(): boolean {
    return (
      this.code === FrameworkErrorCode.Conflict ||
      this.code === FrameworkErrorCode.TooManyRequests ||
      this.code === FrameworkErrorCode.Timeout ||
      this.code === FrameworkErrorCode.Network ||
      this.code === FrameworkErrorCode.Gone ||
      this.code === FrameworkErrorCode.Temporary ||
      this.code === FrameworkErrorCode.Api
    );
  }
  static is(e: unknown): e is FrameworkError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** A non-2xx answer of the API server, with its Status body. */
export class ApiError extends FrameworkError {
  constructor(
    code: FrameworkErrorCode,
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly body?: unknown,
  ) {
    super(code, message);
    this.name = 'ApiError';
  }
}

const BY_STATUS: Record<number, FrameworkErrorCode> = {
  401: FrameworkErrorCode.Unauthorized,
  403: FrameworkErrorCode.Forbidden,
  404: FrameworkErrorCode.NotFound,
  409: FrameworkErrorCode.Conflict,
  410: FrameworkErrorCode.Gone,
  422: FrameworkErrorCode.Invalid,
  429: FrameworkErrorCode.TooManyRequests,
  504: FrameworkErrorCode.Timeout,
};

export function apiErrorFromStatus(status: number, body: unknown, what: string): ApiError {
  const s = (body ?? {}) as { reason?: string; message?: string };
  let code = BY_STATUS[status] ?? FrameworkErrorCode.Api;
  if (status === 409 && s.reason === 'AlreadyExists') code = FrameworkErrorCode.AlreadyExists;
  return new ApiError(
    code,
    status,
    s.reason ?? String(status),
    `${what}: ${status} ${s.reason ?? ''} ${s.message ?? ''}`.trim(),
    body,
  );
}

/** Thrown by a reconciler: retry after `delayMs` (or with the key's backoff when absent). */
export class TemporaryError extends FrameworkError {
  constructor(
    message: string,
    readonly delayMs?: number,
    options?: { cause?: unknown },
  ) {
    super(FrameworkErrorCode.Temporary, message, options);
    this.name = 'TemporaryError';
  }
}

/** Thrown by a reconciler: retrying cannot help; recorded as an Event and a condition, not retried. */
export class PermanentError extends FrameworkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(FrameworkErrorCode.Permanent, message, options);
    this.name = 'PermanentError';
  }
}

export const isNotFound = (e: unknown) => FrameworkError.is(e) && e.code === FrameworkErrorCode.NotFound;
export const isConflict = (e: unknown) => FrameworkError.is(e) && e.code === FrameworkErrorCode.Conflict;
export const isGone = (e: unknown) => FrameworkError.is(e) && e.code === FrameworkErrorCode.Gone;
