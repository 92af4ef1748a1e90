// Errors of the devcluster's nodes, with stable `NODES_ERR_…` codes (scripts and tests match the
// code, people read the message; the code is never part of the message).
import type { CniOutcome } from './cni-runtime.js';

export const NodesErrorCode = {
  /** `up --nodes` before the API server is up, or exec/down without nodes. */
  NotUp: 'NODES_ERR_NOT_UP',
  /** A bad argument: --nodes out of range, exec without a command, a bad forwarder endpoint. */
  Usage: 'NODES_ERR_USAGE',
  /** No candidate range is free of the host's own prefixes. */
  NoFreeRange: 'NODES_ERR_NO_FREE_RANGE',
  /** A process of the nodes (daemon, forwarder) did not start. */
  Start: 'NODES_ERR_START',
  /** exec: the pod has no sandbox (not scheduled or not started yet). */
  NoSandbox: 'NODES_ERR_NO_SANDBOX',
  /** A pod on the pod network waits: the node has no CNI configuration yet (its agent pod writes it). */
  NetworkNotReady: 'NODES_ERR_NETWORK_NOT_READY',
  /** A CNI plugin call (ADD, DEL) failed; the outcome holds its exit status and error result. */
  CniCall: 'NODES_ERR_CNI_CALL',
  /**
   * A pod's one-shot command (`ip netns`, a CNI plugin process) did not start or failed, or the
   * daemon's spawner helper (spawner.ts) that runs them is closed or died with commands running.
   */
  Spawner: 'NODES_ERR_SPAWNER',
  /** A kubelet server request (container logs, exec) that cannot be served; it carries the HTTP status. */
  KubeletRequest: 'NODES_ERR_KUBELET_REQUEST',
} as const;
export type NodesErrorCode = (typeof NodesErrorCode)[keyof typeof NodesErrorCode];

/** The base of the nodes' errors. */
export class NodesError extends Error {
  constructor(
    readonly code: NodesErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NodesError';
  }
}

/** A CNI plugin exited non-zero; the message carries the plugin's `msg` and its numeric CNI code. */
export class CniCallError extends NodesError {
  constructor(
    readonly outcome: CniOutcome,
    what: string,
  ) {
    super(
      NodesErrorCode.CniCall,
      `${what}: ${String(outcome.json?.msg ?? outcome.stderr.trim() ?? 'failed')} (code ${String(outcome.json?.code ?? outcome.exitCode)})`,
    );
    this.name = 'CniCallError';
  }
}

/** A request to a node's kubelet server that it refuses; `status` and `reason` go out as a metav1.Status. */
export class KubeletRequestError extends NodesError {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(NodesErrorCode.KubeletRequest, message);
    this.name = 'KubeletRequestError';
  }
}
