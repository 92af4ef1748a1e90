// Every tunable of the devcluster API server in one place, with its default and why.

/** Options of the API server process (etcd is started separately, see etcd.ts). */
export interface ApiServerOptions {
  /** etcd client endpoint, e.g. `https://127.0.0.1:23790`. */
  etcdEndpoint: string;
  /** etcd's CA and the API server's client certificate and key (PEM), for an https endpoint. */
  etcdTls?: { ca: string; cert: string; key: string };
  /** Address to listen on. Only loopback: the devcluster never exposes itself. Default `127.0.0.1`. */
  host?: string;
  /** TCP port; 0 picks a free one (tests run several servers at once). Default 0. */
  port?: number;
  /** PEM server certificate and key; the server always speaks HTTPS (client-node refuses plain http). */
  tlsCert: string;
  tlsKey: string;
  /**
   * The admin's static bearer token (user devcluster-admin, group system:masters), as in the
   * kubeconfig the devcluster writes. Without one, only client certificates and ServiceAccount
   * tokens authenticate.
   */
  token?: string;
  /**
   * Authentication and RBAC authorization of every request, as kube-apiserver does. Default true.
   * false: every request is served as the admin, credentials or not (the benchmark's baseline).
   */
  enforce?: boolean;
  /** PEM of the CA whose client certificates authenticate (CN = user, O = groups); default: none. */
  clientCa?: string;
  /**
   * PEM private key (EC P-256) that signs ServiceAccount tokens. Keep it in a file (tls.ts's
   * pki/sa.key) so tokens outlive a server restart; default: a key made for this process only.
   */
  serviceAccountKey?: string;
  /**
   * Shortest TokenRequest lifetime accepted (kube-apiserver: 600 s). Lower it only to test token
   * rotation quickly (a 2-minute soak). Default 600.
   */
  tokenMinExpirationSeconds?: number;
  /** Longest token lifetime handed out; longer requests get this (--service-account-max-token-expiration). Default 2^32 s. */
  tokenMaxExpirationSeconds?: number;
  /**
   * Append one JSON line per distinct (user, verb, resource, subresource, decision) to this file:
   * the recorded use that test/install compares with each component's role. Default: no record.
   */
  recordUseFile?: string;
  /**
   * How many etcd events the watch cache keeps (and preloads from etcd on start) for watches that
   * resume from a resourceVersion. Older resourceVersions get 410 Expired, as from kube-apiserver's
   * watch cache. Default 25 000: the 10 000-object benchmark replays fully, and memory stays around
   * 100 MB even when every event carries a large object and its previous state.
   */
  watchHistory?: number;
  /**
   * Interval of BOOKMARK events on watches that ask for them. client-node 2.x aborts a watch after
   * 30 s without bytes, so this must stay well below 30 s. Default 10 000 ms.
   */
  bookmarkIntervalMs?: number;
  /**
   * Period of etcd compaction (kube-apiserver: 5 min). Each run compacts to the revision seen at the
   * previous run, so clients keep at least one period of history. 0 disables. Default 300 000 ms.
   */
  compactionIntervalMs?: number;
  /** Server-side watch timeout when the client sets none (kube picks 30–60 min). Default 1800 s. */
  defaultWatchTimeoutSeconds?: number;
  /** How long a watch from a future resourceVersion waits for the cache before 504. Default 3000 ms. */
  futureRvWaitMs?: number;
  /**
   * Directory of the nodes' kubelet servers (`<dir>/<node>/kubelet.sock`, the nodes daemon's
   * `nodes/` directory), to which `pods/log` and `pods/exec` are proxied. Unset: those answer 503.
   */
  kubeletSocketDir?: string;
  /** Where request logs go; default: nowhere (tests stay quiet). */
  log?: (line: string) => void;
}

/** Options with every default filled in. */
type Unset = 'token' | 'log' | 'clientCa' | 'serviceAccountKey' | 'recordUseFile' | 'etcdTls' | 'kubeletSocketDir';
export type ResolvedOptions = Required<Omit<ApiServerOptions, Unset>> & Pick<ApiServerOptions, Unset>;

export function resolveOptions(o: ApiServerOptions): ResolvedOptions {
  return {
    etcdEndpoint: o.etcdEndpoint,
    etcdTls: o.etcdTls,
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 0,
    tlsCert: o.tlsCert,
    tlsKey: o.tlsKey,
    token: o.token,
    enforce: o.enforce ?? true,
    clientCa: o.clientCa,
    serviceAccountKey: o.serviceAccountKey,
    tokenMinExpirationSeconds: o.tokenMinExpirationSeconds ?? 600,
    tokenMaxExpirationSeconds: o.tokenMaxExpirationSeconds ?? 2 ** 32,
    recordUseFile: o.recordUseFile,
    watchHistory: o.watchHistory ?? 25_000,
    bookmarkIntervalMs: o.bookmarkIntervalMs ?? 10_000,
    compactionIntervalMs: o.compactionIntervalMs ?? 300_000,
    defaultWatchTimeoutSeconds: o.defaultWatchTimeoutSeconds ?? 1800,
    futureRvWaitMs: o.futureRvWaitMs ?? 3000,
    log: o.log,
    kubeletSocketDir: o.kubeletSocketDir,
  };
}

/** The Kubernetes version the server claims; the kubectl dispatcher picks kubectl 1.32 from it. */
export const KUBE_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.4',
  gitCommit: '59526cd4867447956156ae3a602fcbac10f2c3ca',
  gitTreeState: 'clean',
  buildDate: '2025-04-22T16:02:27Z',
  goVersion: 'go1.23.6',
  compiler: 'gc',
  platform: 'linux/amd64',
} as const;
