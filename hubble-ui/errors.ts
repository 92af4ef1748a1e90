// The Hubble UI's errors: one class with stable codes, so the binary prints a code and the browser
// API answers with one (bad filter → 400, relay or API server unreachable → 502).

export const HubbleUiErrorCode = {
  /** A command-line flag or environment variable has a bad value. */
  BadArgs: 'HUBBLEUI_ERR_BAD_ARGS',
  /** A filter in the URL query is not one `hubble observe` accepts. */
  BadFilter: 'HUBBLEUI_ERR_BAD_FILTER',
  /** A request body (a flow to explain) is not JSON of the expected shape. */
  BadRequest: 'HUBBLEUI_ERR_BAD_REQUEST',
  /** hubble-relay does not answer. */
  RelayUnreachable: 'HUBBLEUI_ERR_RELAY_UNREACHABLE',
  /** The API server does not answer or refuses a list (namespaces, policies, endpoints). */
  ApiServer: 'HUBBLEUI_ERR_API_SERVER',
  /** The listen address is taken or invalid. */
  Listen: 'HUBBLEUI_ERR_LISTEN',
} as const;
export type HubbleUiErrorCode = (typeof HubbleUiErrorCode)[keyof typeof HubbleUiErrorCode];

export class HubbleUiError extends Error {
  constructor(
    readonly code: HubbleUiErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HubbleUiError';
  }
}

/** The HTTP status the browser API answers an error with. */
export function httpStatusOf(e: unknown): number {
  if (!(e instanceof HubbleUiError)) return 500;
  if (e.code === HubbleUiErrorCode.BadFilter || e.code === HubbleUiErrorCode.BadRequest) return 400;
  if (e.code === HubbleUiErrorCode.RelayUnreachable || e.code === HubbleUiErrorCode.ApiServer) return 502;
  return 500;
}
