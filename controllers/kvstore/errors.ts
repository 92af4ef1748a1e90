// The kvstore's errors, with stable `KVSTORE_ERR_…` codes (the code is a field; the message says
// what is wrong and, where it helps, what to change).

export const KvstoreErrorCode = {
  /** `kvstore`, `kvstore-opt` or the etcd config file cannot be used. */
  Config: 'KVSTORE_ERR_CONFIG',
  /** etcd did not answer (down, no quorum, or the request timed out). */
  Unavailable: 'KVSTORE_ERR_UNAVAILABLE',
  /** A distributed lock was not acquired in time. */
  LockTimeout: 'KVSTORE_ERR_LOCK_TIMEOUT',
  /** Every identity of the cluster's range is taken. */
  IdentityExhausted: 'KVSTORE_ERR_IDENTITY_EXHAUSTED',
  /** A value under a cilium key is not in the layout it should have. */
  Decode: 'KVSTORE_ERR_DECODE',
  /** The client was closed. */
  Closed: 'KVSTORE_ERR_CLOSED',
} as const;
export type KvstoreErrorCode = (typeof KvstoreErrorCode)[keyof typeof KvstoreErrorCode];

/** The base of the kvstore's errors; `cause` keeps the etcd client's error. */
export class KvstoreError extends Error {
  constructor(
    readonly code: KvstoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KvstoreError';
  }
}
