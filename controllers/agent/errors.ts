// The agent's errors: stable codes and an HTTP status for the REST API.

export const AgentErrorCode = {
  BadRequest: 'KTS_ERR_AGENT_BAD_REQUEST',
  NotFound: 'KTS_ERR_AGENT_NOT_FOUND',
  NotReady: 'KTS_ERR_AGENT_NOT_READY',
  PodNotFound: 'KTS_ERR_AGENT_POD_NOT_FOUND',
  Ipam: 'KTS_ERR_AGENT_IPAM',
  Datapath: 'KTS_ERR_AGENT_DATAPATH',
  Internal: 'KTS_ERR_AGENT_INTERNAL',
} as const;
export type AgentErrorCode = (typeof AgentErrorCode)[keyof typeof AgentErrorCode];

const STATUS: Record<AgentErrorCode, number> = {
  KTS_ERR_AGENT_BAD_REQUEST: 400,
  KTS_ERR_AGENT_NOT_FOUND: 404,
  KTS_ERR_AGENT_NOT_READY: 503,
  KTS_ERR_AGENT_POD_NOT_FOUND: 404,
  KTS_ERR_AGENT_IPAM: 503,
  KTS_ERR_AGENT_DATAPATH: 500,
  KTS_ERR_AGENT_INTERNAL: 500,
};

export class AgentError extends Error {
  constructor(
    readonly code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AgentError';
  }
  get status(): number {
    return STATUS[this.code];
  }
}
