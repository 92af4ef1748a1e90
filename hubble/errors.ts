// Hubble's errors: one class, stable codes, and the gRPC status each maps to when it reaches a
// client (so `hubble observe` prints the code and a clear message, never a stack). The code is a
// field; `formatError` writes `CODE: message` for stderr and the gRPC status details.
import { status } from '@grpc/grpc-js';

export const HubbleErrorCode = {
  BadFilter: 'HUBBLE_ERR_BAD_FILTER',
  BadRequest: 'HUBBLE_ERR_BAD_REQUEST',
  BadCapacity: 'HUBBLE_ERR_BAD_CAPACITY',
  BadMetric: 'HUBBLE_ERR_BAD_METRIC',
  BadAddress: 'HUBBLE_ERR_BAD_ADDRESS',
  Listen: 'HUBBLE_ERR_LISTEN',
  Unavailable: 'HUBBLE_ERR_UNAVAILABLE',
  BadArgs: 'HUBBLE_ERR_BAD_ARGS',
  Tls: 'HUBBLE_ERR_TLS',
  TooManyStreams: 'HUBBLE_ERR_TOO_MANY_STREAMS',
} as const;
export type HubbleErrorCode = (typeof HubbleErrorCode)[keyof typeof HubbleErrorCode];

const GRPC_STATUS: Record<HubbleErrorCode, status> = {
  HUBBLE_ERR_BAD_FILTER: status.INVALID_ARGUMENT,
  HUBBLE_ERR_BAD_REQUEST: status.INVALID_ARGUMENT,
  HUBBLE_ERR_BAD_CAPACITY: status.INVALID_ARGUMENT,
  HUBBLE_ERR_BAD_METRIC: status.INVALID_ARGUMENT,
  HUBBLE_ERR_BAD_ADDRESS: status.INVALID_ARGUMENT,
  HUBBLE_ERR_LISTEN: status.UNAVAILABLE,
  HUBBLE_ERR_UNAVAILABLE: status.UNAVAILABLE,
  HUBBLE_ERR_BAD_ARGS: status.INVALID_ARGUMENT,
  HUBBLE_ERR_TLS: status.UNAVAILABLE,
  HUBBLE_ERR_TOO_MANY_STREAMS: status.RESOURCE_EXHAUSTED,
};

export class HubbleError extends Error {
  constructor(
    readonly code: HubbleErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HubbleError';
  }
  get grpcStatus(): status {
    return GRPC_STATUS[this.code];
  }
}

/** `CODE: message` for a HubbleError (stderr, gRPC details), else the error's message. */
export function formatError(e: unknown): string {
  if (e instanceof HubbleError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

/** A gRPC ServiceError-shaped object for a callback or stream.destroy(); the details start with the code. */
export function toGrpcError(e: unknown): Error & { code: status; details: string } {
  const he =
    e instanceof HubbleError
      ? e
      : new HubbleError(HubbleErrorCode.BadRequest, e instanceof Error ? e.message : String(e), { cause: e });
  const details = formatError(he);
  return Object.assign(new Error(details), { code: he.grpcStatus, details });
}
