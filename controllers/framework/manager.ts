// The manager runs a process's controllers: shared client, logger, metrics and event recorder;
// optional leader election (controllers run only while leading); `/healthz`, `/readyz` (ready
// once every controller's cache has synced) and `/metrics`; graceful shutdown.
import http from 'node:http';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { KubeClient } from './client.js';
import { Controller, type ControllerOptions } from './controller.js';
import { EventRecorder } from './events.js';
import { LeaderElector, type LeaderElectionOptions } from './leader.js';
import { FrameworkMetrics } from './metrics.js';
import type { KubeObject } from './types.js';

export interface ManagerOptions {
  /** Names the process: event source, logs, default lease identity prefix. */
  name: string;
  client?: KubeClient;
  /** Path of a kubeconfig (used when `client` is absent). */
  kubeconfig?: string;
  /** The client's rate limit when the manager makes it (ClientOptions.rateLimit); absent = none. */
  clientRateLimit?: { qps: number; burst: number };
  log?: Logger;
  /** Level of the logger the manager creates when `log` is absent (default: `LOG_LEVEL`, else info). */
  logLevel?: string;
  /** Leader election; omit to run controllers unconditionally (one replica, or per-node agents). */
  leaderElection?: Omit<LeaderElectionOptions, 'identity'> & { identity?: string };
  /** Where `/healthz`, `/readyz` and `/metrics` are served; omit for none, port 0 for any free port. */
  health?: { host?: string; port: number };
  /**
   * A separate listener serving only `/metrics` (upstream's `prometheus-serve-addr`: host "" =
   * every interface, port 0 = any free one); omit for none. `/metrics` stays on the health server too.
   */
  metrics?: { host?: string; port: number };
  /** How long shutdown waits for in-flight reconciles. */
  shutdownTimeoutMs?: number;
  /** Why the process is not ready beyond unsynced caches (`/readyz` answers 503 with it); undefined = ready. */
  readiness?: () => string | undefined;
  /**
   * `/healthz` and `/livez` answer 503 while a reconcile has run longer than this (a stuck
   * controller: the kubelet's livenessProbe then restarts the process). Default 5 min.
   */
  stuckAfterMs?: number;
}

export class Manager {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly metrics = new FrameworkMetrics();
  readonly recorder: EventRecorder;
  readonly controllers: Controller<KubeObject>[] = [];
  readonly elector?: LeaderElector;
  private server?: http.Server;
  private metricsServer?: http.Server;
  private abort = new AbortController();
  private controllersAbort?: AbortController;
  private controllersDone?: Promise<unknown>;
  private done?: Promise<void>;
  private readonly ownsClient: boolean;

  constructor(readonly o: ManagerOptions) {
    this.ownsClient = !o.client;
    const rateLimit = o.clientRateLimit ? { rateLimit: o.clientRateLimit } : {};
    this.client = o.client ?? (o.kubeconfig ? KubeClient.fromFile(o.kubeconfig, rateLimit) : new KubeClient(rateLimit));
    this.log = o.log ?? pino({ name: o.name, level: o.logLevel ?? process.env.LOG_LEVEL ?? 'info' });
    this.recorder = new EventRecorder(this.client, { component: o.name, registry: this.metrics.registry });
    if (o.leaderElection) {
      const identity = o.leaderElection.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
      this.elector = new LeaderElector(this.client, { ...o.leaderElection, identity });
    }
  }

  add<T extends KubeObject>(options: ControllerOptions<T>): Controller<T> {
    const c = new Controller<T>(options, {
      client: this.client,
      log: this.log,
      metrics: this.metrics,
      recorder: this.recorder,
    });
    this.controllers.push(c as unknown as Controller<KubeObject>);
    return c;
  }

  get isLeader(): boolean {
    return this.elector ? this.elector.isLeader : true;
  }

  /** Ready: a standby candidate, or running controllers whose caches have all synced. */
  get ready(): boolean {
    if (this.elector && !this.elector.isLeader) return !this.abort.signal.aborted;
    return this.controllersAbort !== undefined && this.controllers.every((c) => c.store.ready);
  }

  /** `<controller>/<key>` of every reconcile running longer than `stuckAfterMs`. */
  stuck(): string[] {
    const limit = this.o.stuckAfterMs ?? 300_000;
    return this.controllers.flatMap((c) => c.runningLongerThan(limit).map((k) => `${c.o.name}/${k}`));
  }

  /** The address of the health server once started. */
  get healthAddress(): { host: string; port: number } | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
  }

  /** The address of the metrics server once started. */
  get metricsAddress(): { host: string; port: number } | undefined {
    const a = this.metricsServer?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
  }

  async start(): Promise<void> {
    if (this.o.health) this.server = await this.serve(this.o.health, true);
    if (this.o.metrics) this.metricsServer = await this.serve(this.o.metrics, false);
    const signal = this.abort.signal;
    if (!this.elector) {
      this.startControllers();
      this.done = Promise.resolve();
      return;
    }
    this.metrics.leader.set({ name: this.o.name }, 0);
    this.done = this.elector.run(
      signal,
      () => {
        this.log.info({ identity: this.o.leaderElection?.identity }, 'became leader');
        this.metrics.leader.set({ name: this.o.name }, 1);
        this.startControllers();
      },
      () => {
        this.log.warn('lost leadership; stopping controllers');
        this.metrics.leader.set({ name: this.o.name }, 0);
        void this.stopControllers();
      },
    );
  }

  private startControllers(): void {
    if (this.controllersAbort) return;
    const ac = new AbortController();
    this.controllersAbort = ac;
    this.controllersDone = Promise.all(this.controllers.map((c) => c.run(ac.signal)));
  }

  private async stopControllers(): Promise<void> {
    const ac = this.controllersAbort;
    if (!ac) return;
    ac.abort();
    const timeout = new Promise((r) => setTimeout(r, this.o.shutdownTimeoutMs ?? 30_000).unref());
    await Promise.race([this.controllersDone, timeout]);
    this.controllersAbort = undefined;
  }

  /** Stops controllers (waiting for in-flight reconciles), releases the lease, closes the server. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.stopControllers();
    await this.done;
    for (const server of [this.server, this.metricsServer]) {
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      server?.closeAllConnections?.();
    }
    if (this.ownsClient) this.client.close();
  }

  /** The health server (`/healthz`, `/livez`, `/readyz`, `/metrics`) or the metrics-only one. */
  private serve(h: { host?: string; port: number }, health: boolean): Promise<http.Server> {
    const server = http.createServer(async (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (health && (path === '/healthz' || path === '/livez')) {
        const stuck = this.stuck();
        return void res.writeHead(stuck.length ? 503 : 200).end(stuck.length ? `stuck: ${stuck.join(', ')}` : 'ok');
      }
      if (health && path === '/readyz') {
        const why = this.ready ? this.o.readiness?.() : 'caches not synced';
        return void res.writeHead(why ? 503 : 200).end(why ?? 'ok');
      }
      if (path === '/metrics') {
        res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
        return void res.end(await this.metrics.registry.metrics());
      }
      res.writeHead(404).end('not found');
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      // host "" (upstream's ":9962") listens on every interface
      server.listen(h.port, h.host === '' ? undefined : (h.host ?? '127.0.0.1'), () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }
}
