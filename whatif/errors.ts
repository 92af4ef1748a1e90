// What-if's errors: one class with stable codes, so the CLI prints a code and a clear message
// and a caller (the CLI, later the Hubble UI) can tell bad input from an unreachable cluster.

export const WhatIfErrorCode = {
  /** A proposed policy fails the CRD schema or upstream's semantic checks (as `kubectl apply` reports). */
  InvalidPolicy: 'WHATIF_ERR_INVALID_POLICY',
  /** A proposed object is not a policy kind what-if understands, or a file does not parse. */
  BadInput: 'WHATIF_ERR_BAD_INPUT',
  /** `--delete` names a policy the cluster does not have, or more than one. */
  NotFound: 'WHATIF_ERR_NOT_FOUND',
  /** A saved flow file line is not a Hubble flow in JSON. */
  BadFlows: 'WHATIF_ERR_BAD_FLOWS',
} as const;
export type WhatIfErrorCode = (typeof WhatIfErrorCode)[keyof typeof WhatIfErrorCode];

export class WhatIfError extends Error {
  constructor(
    readonly code: WhatIfErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'WhatIfError';
  }
}
