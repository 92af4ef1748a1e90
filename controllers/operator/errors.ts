// The operator's errors, with stable `OPERATOR_ERR_…` codes (the code is a field; the message says
// what is wrong and what to change).

export const OperatorErrorCode = {
  /** The cluster pool has no free node CIDR left. */
  PoolExhausted: 'OPERATOR_ERR_IPAM_POOL_EXHAUSTED',
  /** cluster-pool-ipv4-cidr or cluster-pool-ipv4-mask-size cannot be used. */
  PoolBadConfig: 'OPERATOR_ERR_IPAM_BAD_CONFIG',
  /** A cilium-config value the operator cannot use (a ConfigError; the operator does not start). */
  Config: 'OPERATOR_ERR_CONFIG',
} as const;
export type OperatorErrorCode = (typeof OperatorErrorCode)[keyof typeof OperatorErrorCode];

/** The base of the operator's errors. */
export class OperatorError extends Error {
  constructor(
    readonly code: OperatorErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OperatorError';
  }
}

/** Cluster-pool IPAM cannot carve or hand out a node CIDR. */
export class PoolError extends OperatorError {
  constructor(code: typeof OperatorErrorCode.PoolExhausted | typeof OperatorErrorCode.PoolBadConfig, message: string) {
    super(code, message);
    this.name = 'PoolError';
  }
}
