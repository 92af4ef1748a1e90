// The CNI plugin's errors: the spec's well-known codes (CNI 1.1.0 "Error" section) plus our
// plugin-specific ones (100+), each with a stable string code. Every failure leaves the plugin as
// an error result `{cniVersion, code, msg, details}` on stdout and a non-zero exit status: `code`
// is the spec's number (`cniCode`), `details` starts with our string code.

/** Stable codes; `CNI_CODE` gives the number the runtime sees. */
export const CniErrorCode = {
  /** 1: the configuration's cniVersion is not one this plugin speaks. */
  IncompatibleVersion: 'CNI_ERR_INCOMPATIBLE_VERSION',
  /** 2: a field of the configuration is understood but not supported (e.g. a delegated ipam). */
  UnsupportedField: 'CNI_ERR_UNSUPPORTED_FIELD',
  /** 3: the container (its network namespace) is unknown or does not exist. */
  UnknownContainer: 'CNI_ERR_UNKNOWN_CONTAINER',
  /** 4: a required CNI_* environment variable is missing or invalid. */
  InvalidEnv: 'CNI_ERR_INVALID_ENV',
  /** 5: an I/O failure (creating links, addresses, routes). */
  Io: 'CNI_ERR_IO',
  /** 6: stdin is not decodable JSON. */
  Decode: 'CNI_ERR_DECODE',
  /** 7: the network configuration is invalid. */
  InvalidConfig: 'CNI_ERR_INVALID_CONFIG',
  /** 11: try again later (a transient condition, e.g. the agent is still starting). */
  TryAgain: 'CNI_ERR_TRY_AGAIN',
  /** 50: STATUS: the plugin cannot serve ADDs now (the agent is unreachable or unhealthy). */
  NotAvailable: 'CNI_ERR_NOT_AVAILABLE',
  /** 100: the agent refused a request (IPAM exhausted, endpoint rejected, …). */
  Agent: 'CNI_ERR_AGENT',
  /** 101: CHECK found the container's networking different from prevResult. */
  CheckMismatch: 'CNI_ERR_CHECK_MISMATCH',
  /** 102: an unknown CNI_COMMAND. */
  UnknownCommand: 'CNI_ERR_UNKNOWN_COMMAND',
} as const;
export type CniErrorCode = (typeof CniErrorCode)[keyof typeof CniErrorCode];

/** The numeric code of the error result. 1–99 are reserved by the spec; ours start at 100. */
export const CNI_CODE: Record<CniErrorCode, number> = {
  CNI_ERR_INCOMPATIBLE_VERSION: 1,
  CNI_ERR_UNSUPPORTED_FIELD: 2,
  CNI_ERR_UNKNOWN_CONTAINER: 3,
  CNI_ERR_INVALID_ENV: 4,
  CNI_ERR_IO: 5,
  CNI_ERR_DECODE: 6,
  CNI_ERR_INVALID_CONFIG: 7,
  CNI_ERR_TRY_AGAIN: 11,
  CNI_ERR_NOT_AVAILABLE: 50,
  CNI_ERR_AGENT: 100,
  CNI_ERR_CHECK_MISMATCH: 101,
  CNI_ERR_UNKNOWN_COMMAND: 102,
};

export class CniError extends Error {
  /** The spec's numeric code (the error result's `code`). */
  readonly cniCode: number;
  /** More detail for the error result's `details` (after the code). */
  readonly details: string;
  constructor(
    readonly code: CniErrorCode,
    message: string,
    options: { details?: string; cause?: unknown } = {},
  ) {
    super(message, options);
    this.name = 'CniError';
    this.cniCode = CNI_CODE[code];
    this.details = options.details ?? '';
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
      code: e.cniCode,
      msg: e.message,
      details: e.details ? `${e.code}: ${e.details}` : e.code,
    };
  const err = e as Error;
  // An unexpected failure is still an error result, never a stack trace on stdout.
  return {
    cniVersion,
    code: CNI_CODE[CniErrorCode.Io],
    msg: err?.message ?? String(e),
    details: `${CniErrorCode.Io}: unexpected failure`,
  };
}
