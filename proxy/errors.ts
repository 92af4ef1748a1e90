// The L7 proxy's errors: one class with stable codes, so the agent can log a code and tell a
// bad rule from a socket it could not open or a cache file it could not read.

export const ProxyErrorCode = {
  /** A `rules.http` entry whose method, path or host is not a valid RE2 regular expression. */
  BadHttpRule: 'PROXY_ERR_BAD_HTTP_RULE',
  /** An option out of its range (HttpProxyOptions.workers, or workers with a given fd). */
  BadOption: 'PROXY_ERR_BAD_OPTION',
  /** A listener could not bind its address (in use, no permission). */
  Listen: 'PROXY_ERR_LISTEN',
  /** The FQDN cache file exists but is not one this version wrote. */
  BadCacheFile: 'PROXY_ERR_BAD_CACHE_FILE',
  /** Writing the FQDN cache file failed (the previous file is left in place). */
  CacheWrite: 'PROXY_ERR_CACHE_WRITE',
  /** A client's HTTP request the proxy refuses (malformed, smuggling-prone or too large); answered, then closed. */
  BadHttpRequest: 'PROXY_ERR_BAD_HTTP_REQUEST',
  /** An HTTP body whose framing is broken (chunk sizes, CRLFs, trailer section too large). */
  BadHttpBody: 'PROXY_ERR_BAD_HTTP_BODY',
} as const;
export type ProxyErrorCode = (typeof ProxyErrorCode)[keyof typeof ProxyErrorCode];

export class ProxyError extends Error {
  constructor(
    readonly code: ProxyErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProxyError';
  }
}

/** A request the parser refuses: `status` is what the proxy answers before closing the connection. */
export class HttpRequestError extends ProxyError {
  constructor(
    readonly status: 400 | 431 | 501,
    message: string,
  ) {
    super(ProxyErrorCode.BadHttpRequest, message);
    this.name = 'HttpRequestError';
  }
}

/** A body whose framing is broken; `tooLarge`: its trailer section passed the limit. */
export class BodyFramingError extends ProxyError {
  constructor(
    readonly tooLarge: boolean,
    message: string,
  ) {
    super(ProxyErrorCode.BadHttpBody, message);
    this.name = 'BodyFramingError';
  }
}
