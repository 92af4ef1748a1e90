// The framework's errors: stable `KTS_ERR_…` codes, API errors shaped after kube-apiserver's
// Status reasons, the two reconcile outcomes (temporary: retry with backoff; permanent: stop) and
// the refusal of a configuration value. The code is a field, never part of the message:
// `formatError` prints `CODE: message` for logs and stderr.

const BRAND = Symbol.for('cilium-ts.framework.error');

export const FrameworkErrorCode = {
  /** The API server answered 404 Not Found. */
  NotFound: 'KTS_ERR_NOT_FOUND',
  Conflict: 'KTS_ERR_CONFLICT',
  AlreadyExists: 'KTS_ERR_ALREADY_EXISTS',
  Gone: 'KTS_ERR_GONE',
  Invalid: 'KTS_ERR_INVALID',
  Forbidden: 'KTS_ERR_FORBIDDEN',
  Unauthorized: 'KTS_ERR_UNAUTHORIZED',
  TooManyRequests: 'KTS_ERR_TOO_MANY_REQUESTS',
  /** A request to the API server got no answer in time (or the server answered 504). */
  Timeout: 'KTS_ERR_TIMEOUT',
  Api: 'KTS_ERR_API',
  Network: 'KTS_ERR_NETWORK',
  Temporary: 'KTS_ERR_RECONCILE_TEMPORARY',
  Permanent: 'KTS_ERR_RECONCILE_PERMANENT',
  Shutdown: 'KTS_ERR_SHUTDOWN',
  /** A store lookup names an indexer the store was not built with. */
  NoIndex: 'KTS_ERR_NO_INDEX',
  /** The testing kit's `waitFor` gave up: the condition never held. */
  WaitTimeout: 'KTS_ERR_WAIT_TIMEOUT',
} as const;
export type FrameworkErrorCode = (typeof FrameworkErrorCode)[keyof typeof FrameworkErrorCode];

/** The code of a refused configuration value: one per process, e.g. `AGENT_ERR_CONFIG`. */
export type ConfigErrorCode = `${string}_ERR_CONFIG`;

/** The base of every framework error; `C` widens the code for ConfigError, which carries its process's code. */
export class FrameworkError<C extends string = FrameworkErrorCode> extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly code: C,
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
  static is(e: unknown): e is FrameworkError<string> {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** A non-2xx answer of the API server, with its HTTP status, Status reason and body. */
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

/** A configuration value a process cannot use, naming the key, the value and what it accepts. */
export class ConfigError extends FrameworkError<ConfigErrorCode> {
  constructor(
    /** The process's stable code, e.g. `AGENT_ERR_CONFIG`. */
    code: ConfigErrorCode,
    readonly key: string,
    readonly value: string | undefined,
    reason: string,
  ) {
    super(code, `${key}=${JSON.stringify(value ?? '')}: ${reason}`);
    this.name = 'ConfigError';
  }
}

export const isNotFound = (e: unknown) => FrameworkError.is(e) && e.code === FrameworkErrorCode.NotFound;
export const isConflict = (e: unknown) => FrameworkError.is(e) && e.code === FrameworkErrorCode.Conflict;
export const isGone = (e: unknown) => FrameworkError.is(e) && e.code === FrameworkErrorCode.Gone;

/** `CODE: message` for an error with a string code (logs, stderr), else its message. */
export function formatError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && code ? `${code}: ${e.message}` : e.message;
}
