// The agent's errors: stable `AGENT_ERR_…` codes, the HTTP status each has on the REST API, and
// the errors its REST client throws (cilium-cni and cilium-dbg branch on their codes, never on
// message text). The code travels as a field (`{code, message}` on the wire), never in the message.

export const AgentErrorCode = {
  /** 400: the request is malformed (not JSON, a field missing). */
  BadRequest: 'AGENT_ERR_BAD_REQUEST',
  /** 413: the request body is larger than the API accepts. */
  TooLarge: 'AGENT_ERR_TOO_LARGE',
  /** 403: the address is not allocated to the caller (an endpoint claiming another pod's IP, a foreign release). */
  IpNotOwned: 'AGENT_ERR_IP_NOT_OWNED',
  /** 404: the endpoint, identity or policy map asked for does not exist. */
  NotFound: 'AGENT_ERR_NOT_FOUND',
  /** 404: the API has no route for the method and path. */
  NoRoute: 'AGENT_ERR_NO_ROUTE',
  /** 503: the agent is still starting. */
  NotReady: 'AGENT_ERR_NOT_READY',
  /** 404: the endpoint's pod does not exist in the API server. */
  PodNotFound: 'AGENT_ERR_POD_NOT_FOUND',
  /** 503: IPAM could not hand out an address (the IPAM error is the cause). */
  Ipam: 'AGENT_ERR_IPAM',
  /** 503: the node's pod CIDR has no free address. */
  IpamExhausted: 'AGENT_ERR_IPAM_EXHAUSTED',
  /** 503: the node has no pod CIDR yet (the operator has not allocated one). */
  IpamNotReady: 'AGENT_ERR_IPAM_NOT_READY',
  /** 500: programming the datapath failed. */
  Datapath: 'AGENT_ERR_DATAPATH',
  /** 500: anything unexpected. */
  Internal: 'AGENT_ERR_INTERNAL',
  /** 500: the cluster identity range has no free identity. */
  IdentityExhausted: 'AGENT_ERR_IDENTITY_EXHAUSTED',
  /** 500: a node sysctl could not be set (the agent is not Ready while it cannot). */
  Sysctl: 'AGENT_ERR_SYSCTL',
  /** 500: the tunnel device or its routes could not be set up (tunnel routing mode; not Ready meanwhile). */
  Tunnel: 'AGENT_ERR_TUNNEL',
  /** 500: `ip` could not run the batch of routes to the other nodes' pod CIDRs at all. */
  Routes: 'AGENT_ERR_ROUTES',
  /** 500: the L7 proxy's node routing (ip rule, table 2004, sysctls) or its listener could not be set up. */
  L7Proxy: 'AGENT_ERR_L7_PROXY',
  /** A cilium-config value the agent cannot use (a ConfigError; the agent does not start). */
  Config: 'AGENT_ERR_CONFIG',
  /** Client: the agent's socket does not exist or refuses connections. */
  Unreachable: 'AGENT_ERR_UNREACHABLE',
  /** Client: the agent accepted the request but did not answer within the client's timeout. */
  Timeout: 'AGENT_ERR_TIMEOUT',
  /** Client: the connection broke before the answer (ECONNRESET, EPIPE). */
  ConnectionLost: 'AGENT_ERR_CONNECTION_LOST',
  /** Client: the request failed in another way (the socket error is the cause). */
  Request: 'AGENT_ERR_REQUEST',
  /** Client: an error answer without an agent error code in its body. */
  UnexpectedAnswer: 'AGENT_ERR_UNEXPECTED_ANSWER',
} as const;
export type AgentErrorCode = (typeof AgentErrorCode)[keyof typeof AgentErrorCode];

const STATUS: Record<AgentErrorCode, number> = {
  AGENT_ERR_BAD_REQUEST: 400,
  AGENT_ERR_TOO_LARGE: 413,
  AGENT_ERR_IP_NOT_OWNED: 403,
  AGENT_ERR_NOT_FOUND: 404,
  AGENT_ERR_NO_ROUTE: 404,
  AGENT_ERR_NOT_READY: 503,
  AGENT_ERR_POD_NOT_FOUND: 404,
  AGENT_ERR_IPAM: 503,
  AGENT_ERR_IPAM_EXHAUSTED: 503,
  AGENT_ERR_IPAM_NOT_READY: 503,
  AGENT_ERR_DATAPATH: 500,
  AGENT_ERR_INTERNAL: 500,
  AGENT_ERR_IDENTITY_EXHAUSTED: 500,
  AGENT_ERR_SYSCTL: 500,
  AGENT_ERR_TUNNEL: 500,
  AGENT_ERR_ROUTES: 500,
  AGENT_ERR_L7_PROXY: 500,
  AGENT_ERR_CONFIG: 500,
  AGENT_ERR_UNREACHABLE: 503,
  AGENT_ERR_TIMEOUT: 504,
  AGENT_ERR_CONNECTION_LOST: 503,
  AGENT_ERR_REQUEST: 500,
  AGENT_ERR_UNEXPECTED_ANSWER: 502,
};

const CODES = new Set<string>(Object.values(AgentErrorCode));
export const isAgentErrorCode = (code: unknown): code is AgentErrorCode => typeof code === 'string' && CODES.has(code);

/** The base of the agent's errors; `status` is the HTTP status of the REST answer. */
export class AgentError extends Error {
  readonly status: number;
  constructor(
    readonly code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options);
    this.name = 'AgentError';
    this.status = options?.status ?? STATUS[code];
  }
}

/** Host-scope IPAM refused an allocation. */
export class IpamError extends AgentError {
  constructor(code: typeof AgentErrorCode.IpamExhausted | typeof AgentErrorCode.IpamNotReady, message: string) {
    super(code, message);
    this.name = 'IpamError';
  }
}

/** The agent answered a REST request with an error: its status, and the code and message of its body. */
export class AgentApiError extends AgentError {
  constructor(status: number, code: unknown, message: string) {
    super(isAgentErrorCode(code) ? code : AgentErrorCode.UnexpectedAnswer, message, { status });
    this.name = 'AgentApiError';
  }
}

/** The agent did not answer a REST request within the client's timeout. */
export class AgentTimeoutError extends AgentError {
  constructor(
    message: string,
    readonly timeoutMs: number,
  ) {
    super(AgentErrorCode.Timeout, message);
    this.name = 'AgentTimeoutError';
  }
}

/** The client could not get an answer: the agent is not running, restarting, or too slow; a retry may help. */
export const isAgentUnavailable = (e: unknown): boolean =>
  e instanceof AgentError &&
  (e.code === AgentErrorCode.Unreachable ||
    e.code === AgentErrorCode.Timeout ||
    e.code === AgentErrorCode.ConnectionLost);
