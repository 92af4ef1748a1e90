// The devcluster API server: HTTPS on loopback in front of etcd, wiring the watch cache, the
// object operations, the CRD controller, the garbage collector, discovery, OpenAPI and health.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { CrdController } from './crds.js';
import {
  aggregated,
  AGGREGATED_CT,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  wantsAggregated,
} from './discovery.js';
import { AccessControl } from './auth/access-control.js';
import { selfSubjectAccessReview, selfSubjectReview, subjectAccessReview, type ReviewBody } from './auth/reviews.js';
import { createToken, type TokenRequestBody } from './auth/token-request.js';
import type { Attributes } from './auth/attributes.js';
import type { UserInfo } from './auth/user.js';
import { ApiError, forbiddenRequest, internal, methodNotAllowed, notFound, unknownPath } from './errors.js';
import { GarbageCollector } from './gc.js';
import { NamespaceLifecycle } from './nslifecycle.js';
import { handleResource } from './handlers.js';
import { KubeletProxy, KUBELET_SUBRESOURCES, refuseUpgrade } from './kubelet-proxy.js';
import { decodeBody, readBody, sendError, sendJson } from './http.js';
import { Objects } from './objects.js';
import { OpenApi } from './openapi.js';
import { OpenApiV2 } from './openapi-v2.js';
import { nowIso } from './patch.js';
import { KUBERNETES_SERVICE_IP } from './services.js';
import { KUBE_VERSION, resolveOptions, type ApiServerOptions, type ResolvedOptions } from './options.js';
import { RequestMetrics } from './request-metrics.js';
import { Registry, type ResourceInfo } from './resources.js';
import { route } from './router.js';
import { Store } from './store.js';
import { WatchCache } from './watchcache.js';

const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export class ApiServer {
  readonly opts: ResolvedOptions;
  readonly registry = new Registry();
  readonly store: Store;
  readonly cache: WatchCache;
  readonly objects: Objects;
  readonly crds: CrdController;
  readonly gc: GarbageCollector;
  readonly access: AccessControl;
  /** apiserver_request_total and who asked, at /metrics */
  readonly requests = new RequestMetrics();
  private readonly openapi: OpenApi;
  private readonly openapiV2: OpenApiV2;
  private readonly namespaces: NamespaceLifecycle;
  private readonly kubelets: KubeletProxy;
  private server?: Server;
  private sockets = new Set<Socket>();
  private compactTimer?: NodeJS.Timeout;
  private lastCompactCandidate = 0;
  port = 0;

  constructor(options: ApiServerOptions) {
    this.opts = resolveOptions(options);
    this.store = new Store(this.opts.etcdEndpoint, this.opts.etcdTls);
    this.cache = new WatchCache(this.store, this.opts.watchHistory);
    this.objects = new Objects(this.store, this.registry);
    this.crds = new CrdController(this.objects, this.cache, this.registry, this.opts.log);
    this.gc = new GarbageCollector(this.objects, this.cache, this.registry, this.opts.log);
    this.openapi = new OpenApi(this.registry);
    this.openapiV2 = new OpenApiV2(this.registry);
    this.namespaces = new NamespaceLifecycle(this.cache);
    this.kubelets = new KubeletProxy(this.objects, this.opts.kubeletSocketDir);
    this.access = new AccessControl(
      {
        enforce: this.opts.enforce,
        ...(this.opts.token ? { adminToken: this.opts.token } : {}),
        ...(this.opts.serviceAccountKey ? { signingKey: this.opts.serviceAccountKey } : {}),
        ...(this.opts.recordUseFile ? { recordUseFile: this.opts.recordUseFile } : {}),
      },
      this.objects,
      this.registry,
      this.cache,
    );
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Starts the cache and controllers, creates the default namespaces, then listens. */
  async start(): Promise<void> {
    await this.cache.start();
    const nsInfo = this.registry.get('', 'v1', 'namespaces') as ResourceInfo;
    const nsList = await this.objects.list(nsInfo, undefined, { selector: { labels: [], fields: [] } });
    await this.cache.waitFor(Number(nsList.resourceVersion), 10_000);
    this.namespaces.start(nsList.items, Number(nsList.resourceVersion));
    this.objects.namespaces = this.namespaces;
    await this.crds.start();
    await this.gc.start();
    await this.access.start();
    const ns = this.registry.get('', 'v1', 'namespaces') as ResourceInfo;
    for (const name of DEFAULT_NAMESPACES) {
      try {
        await this.objects.create(ns, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 409)) throw e;
      }
    }
    // Client certificates are asked for, never required: tokens and anonymous requests come without one.
    this.server = createServer(
      {
        cert: this.opts.tlsCert,
        key: this.opts.tlsKey,
        ...(this.opts.clientCa ? { ca: this.opts.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
      },
      (req, res) => void this.handle(req, res),
    );
    this.server.on(
      'upgrade',
      (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.upgrade(req, socket, head),
    );
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    await this.ensureKubernetesService();
    if (this.opts.compactionIntervalMs > 0) {
      this.compactTimer = setInterval(() => void this.periodicCompaction(), this.opts.compactionIntervalMs);
      this.compactTimer.unref();
    }
  }

  /** The default/kubernetes Service (10.96.0.1:443 → this server's port), which in-cluster clients look for. */
  private async ensureKubernetesService(): Promise<void> {
    const svc = this.registry.get('', 'v1', 'services') as ResourceInfo;
    const body = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: {
        type: 'ClusterIP',
        clusterIP: KUBERNETES_SERVICE_IP,
        ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: this.port }],
      },
    };
    const exists = await this.store.get(Registry.key(svc, 'default', 'kubernetes'));
    if (exists) {
      // A restart on another port moves the target.
      const spec = exists.obj.spec as { ports?: { targetPort?: number }[] };
      if (spec.ports?.[0] && spec.ports[0].targetPort !== this.port) {
        spec.ports[0].targetPort = this.port;
        await this.store.update(exists.key, exists.obj, exists.modRev);
      }
      return;
    }
    // The allocator reserves .1 for this service, so create it with the address already set.
    const obj = structuredClone(body);
    await this.objects.store.create(Registry.key(svc, 'default', 'kubernetes'), {
      ...obj,
      metadata: {
        ...obj.metadata,
        namespace: 'default',
        uid: randomUUID(),
        creationTimestamp: nowIso(),
        generation: 1,
      },
      spec: {
        ...obj.spec,
        clusterIPs: [KUBERNETES_SERVICE_IP],
        ipFamilies: ['IPv4'],
        ipFamilyPolicy: 'SingleStack',
        sessionAffinity: 'None',
        internalTrafficPolicy: 'Cluster',
      },
    });
  }

  /** Like kube-apiserver: compact to the revision seen one interval ago. */
  private async periodicCompaction(): Promise<void> {
    const candidate = this.lastCompactCandidate;
    this.lastCompactCandidate = this.cache.lastRev;
    if (candidate > 0) {
      try {
        await this.store.compact(candidate);
        this.cache.floor = Math.max(this.cache.floor, candidate);
      } catch (e) {
        this.opts.log?.(`compaction: ${String(e)}`);
      }
    }
  }

  /** Compacts etcd to the current revision now (tests use it to provoke 410 Expired). */
  compact(): Promise<number> {
    return this.cache.compact();
  }

  async stop(): Promise<void> {
    if (this.compactTimer) clearInterval(this.compactTimer);
    this.crds.stop();
    this.gc.stop();
    this.namespaces.stop();
    this.access.stop();
    await this.cache.close();
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
    this.store.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'https://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    let code = 200;
    let detail = '';
    let attrs: Attributes | undefined;
    try {
      const admitted = await this.access.admit(req, path, url.searchParams);
      attrs = admitted.attrs;
      await this.dispatch(req, res, path, url.searchParams, admitted.user);
      code = res.statusCode;
    } catch (e) {
      const err = sendError(res, e);
      code = err.status;
      detail = ` ${err.code}: ${err.message}`;
    } finally {
      this.requests.observe(req, attrs, code);
      this.opts.log?.(`${req.method} ${req.url} ${code} ${Date.now() - started}ms${detail}`);
    }
  }

  /** Upgrade requests (pods/exec): checked here, then joined to the kubelet's connection. */
  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    let detail = ' upgraded';
    socket.on('error', () => socket.destroy());
    try {
      const { attrs } = await this.access.admit(req, path, url.searchParams);
      // kube-apiserver 1.32 (AuthorizePodWebsocketUpgradeCreatePermission, on by default) also wants
      // `create` on pods/exec for a WebSocket upgrade, as the SPDY POST always did.
      const create = { ...attrs, verb: 'create' };
      const d = this.access.authorize(create);
      if (!d.allowed) throw forbiddenRequest(create, d.reason);
      const rt = route(this.registry, path);
      if (!rt || !(rt.r.kind === 'Pod' && rt.r.builtin && rt.subresource && KUBELET_SUBRESOURCES.has(rt.subresource)))
        throw unknownPath();
      await this.kubelets.upgrade(req, socket, head, rt, url.searchParams);
    } catch (e) {
      const err = internal(e);
      detail = ` ${err.status} ${err.code}: ${err.message}`;
      refuseUpgrade(socket, err);
    } finally {
      this.opts.log?.(`${req.method} ${req.url} (upgrade ${req.headers.upgrade ?? ''})${detail}`);
    }
  }

  private async dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    q: URLSearchParams,
    user: UserInfo,
  ): Promise<void> {
    const accept = req.headers.accept;
    switch (path) {
      case '/healthz':
      case '/livez':
      case '/readyz': {
        if (path === '/readyz') await this.store.revision();
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        return void res.end('ok');
      }
      case '/version':
        return sendJson(res, 200, KUBE_VERSION);
      case '/metrics':
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
        return void res.end(this.requests.text());
      case '/api':
        if (wantsAggregated(accept))
          return sendJson(res, 200, aggregated(this.registry, true), { 'Content-Type': AGGREGATED_CT, Vary: 'Accept' });
        return sendJson(res, 200, apiVersions(`127.0.0.1:${this.port}`), { Vary: 'Accept' });
      case '/apis':
        if (wantsAggregated(accept))
          return sendJson(res, 200, aggregated(this.registry, false), {
            'Content-Type': AGGREGATED_CT,
            Vary: 'Accept',
          });
        return sendJson(res, 200, apiGroupList(this.registry), { Vary: 'Accept' });
      case '/openapi/v3':
        return sendJson(res, 200, this.openapi.index());
      case '/openapi/v2': {
        const { body, contentType } = this.openapiV2.get(/protobuf/.test(accept ?? ''));
        res.writeHead(200, { 'Content-Type': contentType, Vary: 'Accept' });
        return void res.end(body);
      }
      case '/api/v1': {
        return sendJson(res, 200, apiResourceList(this.registry, '', 'v1'));
      }
    }
    if (path.startsWith('/openapi/v3/')) {
      const doc = this.openapi.document(path.slice('/openapi/v3/'.length));
      if (!doc) throw notFound('', '', path);
      return sendJson(res, 200, doc, { 'Cache-Control': 'public, immutable' });
    }
    const parts = path.split('/').filter(Boolean);
    if (parts[0] === 'apis' && parts.length === 2) {
      const g = apiGroup(this.registry, parts[1] ?? '');
      if (!g) throw notFound('', '', path);
      return sendJson(res, 200, g);
    }
    if (parts[0] === 'apis' && parts.length === 3) {
      const l = apiResourceList(this.registry, parts[1] ?? '', parts[2] ?? '');
      if (!l) throw notFound('', '', path);
      return sendJson(res, 200, l);
    }
    if (parts[0] === 'apis' && parts.length === 4 && Registry.review(parts[1] ?? '', parts[3] ?? ''))
      return this.review(req, res, parts[3] ?? '', user);
    const rt = route(this.registry, path);
    if (!rt) throw unknownPath();
    if (rt.r.kind === 'Pod' && rt.r.builtin && rt.subresource && KUBELET_SUBRESOURCES.has(rt.subresource))
      return this.kubelets.serve(req, res, rt, q);
    if (rt.r.kind === 'ServiceAccount' && rt.r.builtin && rt.subresource === 'token') {
      if (req.method !== 'POST') throw methodNotAllowed(req.method ?? '');
      const body = decodeBody(req, await readBody(req)) as TokenRequestBody | undefined;
      const out = await createToken(
        {
          objects: this.objects,
          registry: this.registry,
          issuer: this.access.issuer,
          limits: {
            minSeconds: this.opts.tokenMinExpirationSeconds,
            maxSeconds: this.opts.tokenMaxExpirationSeconds,
            audiences: this.access.audiences,
          },
        },
        rt.namespace ?? '',
        rt.name ?? '',
        body,
      );
      return sendJson(res, 201, out);
    }
    await handleResource({ objects: this.objects, cache: this.cache, opts: this.opts }, req, res, rt, q);
  }

  /** The review APIs (auth/reviews.ts): create only, answered at once, nothing stored. */
  private async review(req: IncomingMessage, res: ServerResponse, plural: string, user: UserInfo): Promise<void> {
    if (req.method !== 'POST') throw methodNotAllowed(req.method ?? '');
    const body = (decodeBody(req, await readBody(req)) ?? {}) as ReviewBody;
    const authorize = this.access.authorize.bind(this.access);
    if (plural === 'selfsubjectaccessreviews')
      return sendJson(res, 201, selfSubjectAccessReview(user, body, authorize));
    if (plural === 'subjectaccessreviews') return sendJson(res, 201, subjectAccessReview(body, authorize));
    return sendJson(res, 201, selfSubjectReview(user));
  }
}
