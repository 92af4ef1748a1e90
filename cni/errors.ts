// The CNI plugin's errors: the spec's well-known codes (CNI 1.1.0 "Error" section) plus our
// plugin-specific ones (100+), each with a stable symbolic name. Every failure leaves the plugin as
// an error result `{cniVersion, code, msg, details}` on stdout and a non-zero exit status.

/** Numeric codes as the runtime sees them. 1–99 are reserved by the spec. */
export const CniErrorCode = {
  /** 1: the configuration's cniVersion is not one this plugin speaks. */
  CNI_ERR_INCOMPATIBLE_VERSION: 1,
  /** 2: a field of the configuration is understood but not supported (e.g. a delegated ipam). */
  CNI_ERR_UNSUPPORTED_FIELD: 2,
  /** 3: the container (its network namespace) is unknown or does not exist. */
  CNI_ERR_UNKNOWN_CONTAINER: 3,
  /** 4: a required CNI_* environment variable is missing or invalid. */
  CNI_ERR_INVALID_ENV: 4,
  /** 5: an I/O failure (creating links, addresses, routes). */
  CNI_ERR_IO: 5,
  /** 6: stdin is not decodable JSON. */
  CNI_ERR_DECODE: 6,
  /** 7: the network configuration is invalid. */
  CNI_ERR_INVALID_CONFIG: 7,
  /** 11: try again later (a transient condition, e.g. the agent is still starting). */
  CNI_ERR_TRY_AGAIN: 11,
  /** 50: STATUS: the plugin cannot serve ADDs now (the agent is unreachable or unhealthy). */
  CNI_ERR_NOT_AVAILABLE: 50,
  /** 100: the agent refused a request (IPAM exhausted, endpoint rejected, …). */
  CNI_ERR_AGENT: 100,
  /** 101: CHECK found the container's networking different from prevResult. */
  CNI_ERR_CHECK_MISMATCH: 101,
  /** 102: an unknown CNI_COMMAND. */
  CNI_ERR_UNKNOWN_COMMAND: 102,
} as const;

export type CniErrorName = keyof typeof CniErrorCode;

export class CniError extends Error {
  readonly code: number;
  constructor(
    readonly name_: CniErrorName,
    message: string,
    readonly details = '',
  ) {
    super(message);
    this.name = 'CniError';
    this.code = CniErrorCode[name_];
  }

  static is(e: unknown): e is CniError {
    return e instanceof CniError;
  }
}

/** The error result the spec asks for (stdout, exit status non-zero). */
export interface CniErrorResult {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

export function errorResult(cniVersion: string, e: unknown): CniErrorResult {
  if (CniError.is(e))
    return {
      cniVersion,
      code: e.code,
      msg: e.message,
      ...(e.details ? { details: `${e.name_}: ${e.details}` } : { details: e.name_ }),
    };
  const err = e as Error;
  // An unexpected failure is still an error result, never a stack trace on stdout.
  return {
    cniVersion,
    code: CniErrorCode.CNI_ERR_IO,
    msg: err?.message ?? String(e),
    details: 'CNI_ERR_IO: unexpected failure',
  };
}
