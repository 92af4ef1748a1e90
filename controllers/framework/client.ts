// A small typed client for the Kubernetes REST API over node:https, configured from a
// kubeconfig (@kubernetes/client-node's KubeConfig loads it). Streaming watches, every patch
// type, subresources, and errors that carry the API server's Status.
import { KubeConfig } from '@kubernetes/client-node';
import https from 'node:https';
import http from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { realClock } from './clock.js';
import { FrameworkError, FrameworkErrorCode, apiErrorFromStatus } from './errors.js';
import { ListDecoder } from './list-decoder.js';
import { TokenBucket } from './queue.js';
import { inClusterTokenFile, kubeconfigTokenFile, TokenFile } from './token-file.js';
import type { KubeObject, ListMeta, ObjectList, WatchEventRaw } from './types.js';

/** Which resource a call addresses (a GVR plus scope). */
export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface WatchOptions extends ListOptions {
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface WriteOptions {
  /** Names the writer in managedFields; required for server-side apply. */
  fieldManager?: string;
  /** Server-side apply: take ownership of conflicting fields (controllers usually want this). */
  force?: boolean;
  /** `status` writes the status subresource. */
  subresource?: 'status';
  dryRun?: boolean;
}

export interface ClientOptions {
  /** A loaded KubeConfig; default: loaded from $KUBECONFIG or ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** Per-request timeout for non-watch calls (ms). Watches use the watcher's inactivity timeout. */
  requestTimeoutMs?: number;
  /**
   * A file holding the bearer token, re-read every `tokenRefreshMs` (client-go's `tokenFile`); set
   * from the kubeconfig's user by fromFile() and the default loader. It wins over the kubeconfig's
   * other credentials for the Authorization header.
   */
  tokenFile?: string;
  /** How often the token file is re-read (ms). Default 60 000, as client-go. */
  tokenRefreshMs?: number;
  /**
   * client-go's client-side rate limit (rest.Config QPS/Burst): every request but a watch's
   * stream waits for a token. Absent = none. Upstream's operator uses 100/200
   * (`operator-k8s-client-qps`/`-burst`), its agent 10/20: a garbage collector with thousands of
   * deletes to make then cannot flood the API server.
   */
  rateLimit?: { qps: number; burst: number };
}

export function resourcePath(res: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  const base = res.group === '' ? `/api/${res.version}` : `/apis/${res.group}/${res.version}`;
  const ns = res.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const n = name ? `/${encodeURIComponent(name)}` : '';
  const sub = subresource ? `/${subresource}` : '';
  return `${base}${ns}/${res.plural}${n}${sub}`;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

function loadDefaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

/** The tokenFile of $KUBECONFIG's first file (what loadFromDefault reads first). */
function defaultTokenFile(): string | undefined {
  const first = process.env.KUBECONFIG?.split(':').find(Boolean);
  return first ? kubeconfigTokenFile(first) : undefined;
}

/** The error of a non-2xx answer whose body is streamed (a list's or a watch's): its Status, read whole. */
async function statusError(response: http.IncomingMessage, what: string): Promise<Error> {
  const chunks: Buffer[] = [];
  for await (const c of response) chunks.push(c as Buffer);
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    body = undefined;
  }
  return apiErrorFromStatus(response.statusCode ?? 0, body, what);
}

export class KubeClient {
  readonly kubeConfig: KubeConfig;
  private readonly server: URL;
  private httpsOptions: Promise<https.RequestOptions>;
  private readonly agent: http.Agent;
  private readonly requestTimeoutMs: number;
  private readonly tokenFile?: TokenFile;
  /** Requests sent, by verb (tests count writes with it). */
  readonly sent = new Map<string, number>();
  private readonly limiter?: TokenBucket;

  constructor(options: ClientOptions = {}) {
    this.kubeConfig = options.kubeConfig ?? loadDefaultKubeConfig();
    const tokenFile =
      options.tokenFile ?? (options.kubeConfig ? undefined : defaultTokenFile()) ?? inClusterTokenFile(this.kubeConfig);
    if (tokenFile)
      this.tokenFile = new TokenFile(tokenFile, {
        ...(options.tokenRefreshMs !== undefined ? { refreshMs: options.tokenRefreshMs } : {}),
      });
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw new FrameworkError(FrameworkErrorCode.Api, 'the kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    if (options.rateLimit) {
      const { qps, burst } = options.rateLimit;
      if (!(qps > 0) || !(burst >= 1))
        throw new FrameworkError(
          FrameworkErrorCode.Invalid,
          `client rate limit needs qps > 0 and burst ≥ 1 (got ${qps}/${burst})`,
        );
      this.limiter = new TokenBucket(qps, burst, realClock);
    }
    this.agent =
      this.server.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 32 })
        : new http.Agent({ keepAlive: true });
    const kc = this.kubeConfig;
    this.httpsOptions = (async () => {
      const o: https.RequestOptions = {};
      await kc.applyToHTTPSOptions(o);
      return o;
    })();
  }

  static fromFile(path: string, options: Omit<ClientOptions, 'kubeConfig'> = {}): KubeClient {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    const tokenFile = options.tokenFile ?? kubeconfigTokenFile(path);
    return new KubeClient({ ...options, kubeConfig: kc, ...(tokenFile ? { tokenFile } : {}) });
  }

  /** Closes pooled connections. */
  close(): void {
    this.agent.destroy();
  }

  private async open(
    method: string,
    path: string,
    body: unknown,
    contentType: string | undefined,
    signal?: AbortSignal,
    timeoutMs?: number,
  ) {
    this.sent.set(method, (this.sent.get(method) ?? 0) + 1);
    const base = await this.httpsOptions;
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string> = { ...(base.headers as Record<string, string>), accept: 'application/json' };
    if (this.tokenFile) headers.Authorization = `Bearer ${this.tokenFile.get()}`;
    if (payload !== undefined) {
      headers['content-type'] = contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const mod = this.server.protocol === 'https:' ? https : http;
    const attempt = (retryOnStale: boolean) =>
      new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = mod.request(
          {
            ...base,
            agent: this.agent,
            method,
            hostname: this.server.hostname,
            port: this.server.port,
            path,
            headers,
            signal,
            timeout: timeoutMs,
          },
          (res) => {
            // A rotated token may have been read just before the rotation: read the file afresh next time.
            if (res.statusCode === 401) this.tokenFile?.invalidate();
            resolve(res);
          },
        );
        req.on('timeout', () =>
          req.destroy(
            new FrameworkError(FrameworkErrorCode.Timeout, `${method} ${path}: no answer within ${timeoutMs} ms`),
          ),
        );
        req.on('error', (e) => {
          // A pooled keep-alive socket the server closed while it sat idle (its keep-alive timeout)
          // fails at once, before the server read anything: send again on a fresh socket, once, as
          // Node's http docs advise (`request.reusedSocket`).
          const code = (e as NodeJS.ErrnoException).code;
          if (retryOnStale && req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE') && !signal?.aborted) {
            attempt(false).then(resolve, reject);
            return;
          }
          reject(
            FrameworkError.is(e)
              ? e
              : new FrameworkError(FrameworkErrorCode.Network, `${method} ${path}: ${(e as Error).message}`, {
                  cause: e,
                }),
          );
        });
        if (payload !== undefined) req.write(payload);
        req.end();
      });
    return attempt(true);
  }

  /** One request; parses JSON; throws ApiError for a non-2xx answer. */
  async request<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const wait = this.limiter?.reserve() ?? 0;
    if (wait > 0) await realClock.sleep(wait);
    const res = await this.open(method, path, body, contentType, undefined, this.requestTimeoutMs);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = { message: text.slice(0, 200) };
    }
    if ((res.statusCode ?? 0) >= 300) throw apiErrorFromStatus(res.statusCode ?? 0, parsed, `${method} ${path}`);
    return parsed as T;
  }

  get<T extends KubeObject>(res: ResourceRef, name: string, namespace?: string): Promise<T> {
    return this.request('GET', resourcePath(res, namespace, name));
  }

  list<T extends KubeObject>(res: ResourceRef, o: ListOptions = {}): Promise<ObjectList<T>> {
    const { namespace, ...rest } = o;
    return this.request('GET', resourcePath(res, namespace) + query({ ...rest }));
  }

  /**
   * A list whose items are decoded one by one as the body arrives (ListDecoder), yielded as the
   * batch each chunk of the body completed (one event per batch, not per item, for the store); returns the list's metadata once the body ended. A consumer that stops early closes the
   * response.
   */
  async *listItems<T extends KubeObject>(res: ResourceRef, o: ListOptions = {}): AsyncGenerator<T[], ListMeta> {
    const wait = this.limiter?.reserve() ?? 0;
    if (wait > 0) await realClock.sleep(wait);
    const { namespace, ...rest } = o;
    const path = resourcePath(res, namespace) + query({ ...rest });
    const response = await this.open('GET', path, undefined, undefined, undefined, this.requestTimeoutMs);
    try {
      if ((response.statusCode ?? 0) >= 300) throw await statusError(response, `GET ${path}`);
      const decoder = new ListDecoder();
      try {
        for await (const chunk of response) {
          const items = decoder.write(chunk as Buffer);
          if (items.length) yield items as T[];
        }
      } catch (e) {
        if (FrameworkError.is(e)) throw e;
        throw new FrameworkError(FrameworkErrorCode.Network, `GET ${path}: ${(e as Error).message}`, { cause: e });
      }
      return (decoder.end().metadata ?? {}) as ListMeta;
    } finally {
      if (!response.complete) response.destroy();
    }
  }

  create<T extends KubeObject>(res: ResourceRef, obj: T, o: WriteOptions = {}): Promise<T> {
    return this.request(
      'POST',
      resourcePath(res, obj.metadata?.namespace) +
        query({ fieldManager: o.fieldManager, dryRun: o.dryRun ? 'All' : undefined }),
      obj,
    );
  }

  replace<T extends KubeObject>(res: ResourceRef, obj: T, o: WriteOptions = {}): Promise<T> {
    const path = resourcePath(res, obj.metadata?.namespace, obj.metadata?.name, o.subresource);
    return this.request('PUT', path + query({ fieldManager: o.fieldManager }), obj);
  }

  patch<T extends KubeObject>(
    res: ResourceRef,
    name: string,
    namespace: string | undefined,
    body: unknown,
    type: PatchType,
    o: WriteOptions = {},
  ): Promise<T> {
    if (type === 'apply' && !o.fieldManager) {
      throw new FrameworkError(FrameworkErrorCode.Invalid, 'server-side apply needs a fieldManager');
    }
    const path =
      resourcePath(res, namespace, name, o.subresource) +
      query({
        fieldManager: o.fieldManager,
        force: type === 'apply' ? o.force : undefined,
        dryRun: o.dryRun ? 'All' : undefined,
      });
    return this.request('PATCH', path, body, PATCH_CONTENT_TYPE[type]);
  }

  /**
   * Deletes an object. `preconditions` make the delete conditional (409 Conflict when the object
   * changed meanwhile): how garbage collectors avoid deleting what was just reclaimed.
   */
  delete(
    res: ResourceRef,
    name: string,
    namespace?: string,
    o: {
      propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
      preconditions?: { uid?: string; resourceVersion?: string };
    } = {},
  ): Promise<unknown> {
    const body =
      o.propagationPolicy || o.preconditions
        ? {
            apiVersion: 'v1',
            kind: 'DeleteOptions',
            ...(o.propagationPolicy ? { propagationPolicy: o.propagationPolicy } : {}),
            ...(o.preconditions ? { preconditions: o.preconditions } : {}),
          }
        : undefined;
    return this.request('DELETE', resourcePath(res, namespace, name), body);
  }

  /**
   * Streams watch events. Ends when the server closes the stream or `signal` aborts. A line that is
   * not JSON is surfaced as an ERROR event (never silently dropped).
   */
  async *watch<T extends KubeObject>(
    res: ResourceRef,
    o: WatchOptions,
    signal: AbortSignal,
  ): AsyncGenerator<WatchEventRaw<T>> {
    const { namespace, ...rest } = o;
    const path = resourcePath(res, namespace) + query({ ...rest, watch: true });
    const response = await this.open('GET', path, undefined, undefined, signal);
    if ((response.statusCode ?? 0) >= 300) throw await statusError(response, `WATCH ${path}`);
    // A chunk may end inside a multi-byte character: the decoder keeps the partial bytes for the next.
    const decoder = new StringDecoder('utf8');
    let buffered = '';
    try {
      for await (const chunk of response) {
        buffered += decoder.write(chunk as Buffer);
        // Lines are cut from a moving start; the rest is kept once per chunk, not once per line.
        let start = 0;
        let nl: number;
        const lines: string[] = [];
        while ((nl = buffered.indexOf('\n', start)) >= 0) {
          lines.push(buffered.slice(start, nl).trim());
          start = nl + 1;
        }
        buffered = buffered.slice(start);
        for (const line of lines) {
          if (!line) continue;
          try {
            yield JSON.parse(line) as WatchEventRaw<T>;
          } catch {
            yield {
              type: 'ERROR',
              object: { kind: 'Status', code: 500, message: `unparsable watch line: ${line.slice(0, 120)}` },
            } as unknown as WatchEventRaw<T>;
          }
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      throw new FrameworkError(FrameworkErrorCode.Network, `WATCH ${path}: ${(e as Error).message}`, { cause: e });
    }
  }
}
