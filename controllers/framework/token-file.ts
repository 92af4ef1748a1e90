// A bearer token kept in a file that someone else rotates (a projected ServiceAccount token the
// kubelet refreshes): client-go's `tokenFile` kubeconfig field, re-read periodically rather than
// once (client-go's cached file token source re-reads about every minute). @kubernetes/client-node
// reads only its own `token-file` spelling, and only once, so the framework reads the file itself.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export interface TokenFileOptions {
  /** How long a read is reused (ms). Default 60 000, as client-go. */
  refreshMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

export class TokenFile {
  private token = '';
  private readAt = -Infinity;
  private readonly refreshMs: number;
  private readonly now: () => number;

  constructor(
    readonly path: string,
    o: TokenFileOptions = {},
  ) {
    this.refreshMs = o.refreshMs ?? 60_000;
    this.now = o.now ?? Date.now;
  }

  /** The token, re-read when the last read is older than the refresh period (or was invalidated). */
  get(): string {
    const t = this.now();
    if (t - this.readAt >= this.refreshMs || !this.token) {
      try {
        this.token = readFileSync(this.path, 'utf8').trim();
        this.readAt = t;
      } catch {
        // a rotation in progress or a missing file: keep the last token, try again next time
      }
    }
    return this.token;
  }

  /** Forces the next get() to read the file (after a 401: the token may have been rotated). */
  invalidate(): void {
    this.readAt = -Infinity;
  }
}

/**
 * The current context's user's `tokenFile` in a kubeconfig file, when it has one and no inline
 * `token` (client-go: an inline token takes precedence).
 */
export function kubeconfigTokenFile(kubeconfigPath: string): string | undefined {
  let doc: {
    'current-context'?: string;
    contexts?: { name: string; context?: { user?: string } }[];
    users?: { name: string; user?: { token?: string; tokenFile?: string } }[];
  };
  try {
    doc = parse(readFileSync(kubeconfigPath, 'utf8')) as typeof doc;
  } catch {
    return undefined;
  }
  const ctx = doc.contexts?.find((c) => c.name === doc['current-context']);
  const user = doc.users?.find((u) => u.name === ctx?.context?.user)?.user;
  if (!user || user.token) return undefined;
  return user.tokenFile;
}

/**
 * The token file of an in-cluster configuration (@kubernetes/client-node's loadFromCluster: the
 * user's `tokenFile` auth provider on the ServiceAccount token). client-node applies that token
 * once per set of request options, which the client keeps for its lifetime, so the client reads
 * the file itself to follow the kubelet's rotations.
 */
export function inClusterTokenFile(kc: {
  getCurrentUser(): { authProvider?: { config?: Record<string, string> } } | null;
}): string | undefined {
  return kc.getCurrentUser()?.authProvider?.config?.tokenFile;
}
