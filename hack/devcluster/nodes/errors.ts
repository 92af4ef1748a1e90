// Errors of the devcluster's nodes, with stable `KTS_ERR_NODES_…` codes (scripts and tests match
// the code, people read the message).

export const NodesErrorCode = {
  /** `up --nodes` before the API server is up, or exec/down without nodes. */
  NotUp: 'KTS_ERR_NODES_NOT_UP',
  /** A bad argument: --nodes out of range, exec without a command, a bad forwarder endpoint. */
  Usage: 'KTS_ERR_NODES_USAGE',
  /** No candidate range is free of the host's own prefixes. */
  NoFreeRange: 'KTS_ERR_NODES_NO_FREE_RANGE',
  /** A process of the nodes (daemon, forwarder) did not start. */
  Start: 'KTS_ERR_NODES_START',
  /** exec: the pod has no sandbox (not scheduled or not started yet). */
  NoSandbox: 'KTS_ERR_NODES_NO_SANDBOX',
} as const;
export type NodesErrorCode = (typeof NodesErrorCode)[keyof typeof NodesErrorCode];

export class NodesError extends Error {
  constructor(
    readonly code: NodesErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'NodesError';
  }
}
