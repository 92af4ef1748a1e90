// Projected ServiceAccount tokens for the processes the devcluster runs, as the kubelet keeps them
// (https://kubernetes.io/docs/concepts/storage/projected-volumes/#serviceaccounttoken): a
// TokenRequest for the ServiceAccount, the token written atomically (to a file by write + rename,
// or by the caller's `write`: a pod's projected volume, nodes/atomic-writer.ts), and a new one
// requested once 80 % of the lifetime has passed or the token is 24 h old (the kubelet's token
// manager, pkg/kubelet/token/token_manager.go). Clients re-read the file (client-go, the framework's
// TokenFile), so a long-running process keeps working across rotations.
//
//   const t = await ProjectedToken.start({ client: admin, namespace: 'kube-system',
//     serviceAccount: 'cilium', path: '/…/cilium/token' });
//   …
//   t.stop();
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import type { KubeClient } from '../controllers/framework/index.js';
import { writeKubeconfig } from './apiserver/kubeconfig.js';
import { applyInstallObjects, serviceAccountOf } from './install-rbac.js';

export interface ProjectedTokenOptions {
  /** A client allowed to create serviceaccounts/token (the devcluster's admin, as the kubelet's node identity). */
  client: KubeClient;
  namespace: string;
  serviceAccount: string;
  /** The file to keep the token in (its directory is created); or give `write`. */
  path?: string;
  /** Called with every new token instead of writing `path` (must write it atomically). */
  write?: (token: string) => void;
  /** Default: the API server's own audience. */
  audiences?: string[];
  /**
   * Requested lifetime. Default 600 s: the shortest kube-apiserver accepts, so rotation is exercised
   * in every run longer than 8 minutes (the API server's tokenMinExpirationSeconds may allow less).
   */
  expirationSeconds?: number;
  /** Bind the token to this Pod: it stops authenticating once the Pod is gone. */
  boundPod?: { name: string; uid: string };
  /** Rotation failures (the previous token stays until it expires; retried with backoff). */
  onError?: (e: unknown) => void;
}

/** Refresh when this fraction of the lifetime has passed (the kubelet's token manager: 80 %). */
export const REFRESH_FRACTION = 0.8;
/**
 * Clients re-read a token file about once a minute (client-go, the framework's TokenFile), so a
 * token must stay valid that long after its successor is written. Kube's 10-minute minimum lifetime
 * guarantees it at 80 %; for the shorter lifetimes of a rotation soak the refresh comes earlier.
 */
export const CLIENT_REREAD_MS = 60_000;
/** A token older than this is refreshed whatever its lifetime (the kubelet's maxTTL). */
export const MAX_TOKEN_AGE_MS = 24 * 3600_000;

/**
 * How long after its issue a token of `lifetimeMs` is replaced: at 80 % of the lifetime or at 24 h,
 * but early enough that clients re-reading once a minute pick the successor before expiry.
 */
export function refreshDelayMs(lifetimeMs: number): number {
  return Math.max(
    1000,
    Math.min(lifetimeMs * REFRESH_FRACTION, MAX_TOKEN_AGE_MS, lifetimeMs - CLIENT_REREAD_MS - 10_000),
  );
}

interface TokenRequestStatus {
  status?: { token?: string; expirationTimestamp?: string };
}

export class ProjectedToken {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private failures = 0;
  /** When the current token expires (ms since the epoch). */
  expiresAt = 0;
  /** How many tokens were written so far (the first included). */
  rotations = 0;

  private constructor(private readonly o: ProjectedTokenOptions) {}

  /** Requests and writes the first token (throws if that fails), then keeps it fresh. */
  static async start(o: ProjectedTokenOptions): Promise<ProjectedToken> {
    const t = new ProjectedToken(o);
    await t.refresh();
    t.schedule();
    return t;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Requests a new token now and writes it. */
  async refresh(): Promise<void> {
    const o = this.o;
    const path = `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/serviceaccounts/${encodeURIComponent(o.serviceAccount)}/token`;
    const spec: Record<string, unknown> = { expirationSeconds: o.expirationSeconds ?? 600 };
    if (o.audiences) spec.audiences = o.audiences;
    if (o.boundPod) spec.boundObjectRef = { kind: 'Pod', apiVersion: 'v1', ...o.boundPod };
    const out = await o.client.request<TokenRequestStatus>('POST', path, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec,
    });
    const token = out.status?.token;
    if (!token) throw new Error(`TokenRequest for ${o.namespace}/${o.serviceAccount} returned no token`);
    if (o.write) o.write(token);
    else if (o.path) writeAtomically(o.path, token);
    else throw new Error('ProjectedToken needs a path or a write');
    this.expiresAt =
      Date.parse(out.status?.expirationTimestamp ?? '') || Date.now() + Number(spec.expirationSeconds) * 1000;
    this.rotations++;
  }

  private schedule(): void {
    if (this.stopped) return;
    const lifetime = this.expiresAt - Date.now();
    const delay = this.failures ? Math.min(1000 * 2 ** this.failures, 30_000) : refreshDelayMs(lifetime);
    this.timer = setTimeout(() => {
      this.refresh()
        .then(() => (this.failures = 0))
        .catch((e: unknown) => {
          this.failures++;
          this.o.onError?.(e);
        })
        .finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }
}

/** Writes a file so that readers see the old or the new content, never a part (rename is atomic). */
export function writeAtomically(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, path);
}

/** A kubeconfig whose user reads its token from `tokenFile` (client-go's field), for one process. */
export function writeTokenFileKubeconfig(path: string, k: { server: string; caCert: string; tokenFile: string }): void {
  writeKubeconfig(path, { server: k.server, caCert: k.caCert, tokenFile: k.tokenFile });
}

/**
 * The lifetime of the tokens the devcluster hands its components. Default 600 s (the shortest
 * kube-apiserver accepts); `KTS_DEVCLUSTER_TOKEN_SECONDS` shortens it for rotation soaks, together
 * with the API server's tokenMinExpirationSeconds (`up --token-seconds`).
 */
export function componentTokenSeconds(): number {
  return Number(process.env.KTS_DEVCLUSTER_TOKEN_SECONDS) || 600;
}

export interface ComponentCredentials {
  /** Kubeconfig paths by component, each reading its own rotated token file. */
  kubeconfig: Record<'agent' | 'operator' | 'relay', string>;
  tokens: ProjectedToken[];
  stop(): void;
}

/**
 * Applies the install's ServiceAccounts and RBAC, then keeps one projected token per component
 * (agent, operator, relay) under `dir/<serviceaccount>/token` with a kubeconfig next to it that
 * copies the admin kubeconfig's cluster and reads the token file. What the kubelet does for a pod's
 * `kube-api-access` volume, for processes that are not (yet) pods.
 */
export async function startComponentCredentials(
  admin: KubeClient,
  adminKubeconfig: string,
  dir: string,
  o: { expirationSeconds?: number; onError?: (e: unknown) => void } = {},
): Promise<ComponentCredentials> {
  await applyInstallObjects(admin);
  const doc = parse(readFileSync(adminKubeconfig, 'utf8')) as {
    clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
  };
  const cluster = doc.clusters[0]?.cluster;
  if (!cluster) throw new Error(`${adminKubeconfig} has no cluster`);
  const caCert = Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8');
  const tokens: ProjectedToken[] = [];
  const kubeconfig = {} as ComponentCredentials['kubeconfig'];
  try {
    for (const component of ['agent', 'operator', 'relay'] as const) {
      const sa = serviceAccountOf(component);
      const base = join(dir, sa.name);
      const tokenFile = join(base, 'token');
      tokens.push(
        await ProjectedToken.start({
          client: admin,
          namespace: sa.namespace,
          serviceAccount: sa.name,
          path: tokenFile,
          expirationSeconds: o.expirationSeconds ?? componentTokenSeconds(),
          ...(o.onError ? { onError: o.onError } : {}),
        }),
      );
      kubeconfig[component] = join(base, 'kubeconfig');
      writeTokenFileKubeconfig(kubeconfig[component], { server: cluster.server, caCert, tokenFile });
    }
  } catch (e) {
    for (const t of tokens) t.stop();
    throw e;
  }
  return { kubeconfig, tokens, stop: () => tokens.forEach((t) => t.stop()) };
}
