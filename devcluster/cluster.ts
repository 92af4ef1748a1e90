// The devcluster as a library: start etcd and the API server (in this process, or detached as
// the CLI does), write the kubeconfig, restart either part, stop and clean up. Tests, benchmarks
// and the CLI all go through here, so they share one contract.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join, resolve } from 'node:path';
import { compiledEntry, PACKAGE_ROOT, PINNED_NODE } from '../cdk8s/process-launch.js';
import { startEtcd, freePort, type EtcdHandle } from './apiserver/etcd.js';
import { writeKubeconfig } from './apiserver/kubeconfig.js';
import type { ApiServerOptions } from './apiserver/options.js';
import { ensureSigningKey } from './apiserver/auth/token-issuer.js';
import { ApiServer } from './apiserver/server.js';
import { ensureEtcdTls, ensureTls, type EtcdTls, type TlsMaterial } from './apiserver/tls.js';
import { ControllerManager } from './controllers/manager.js';

export interface DevclusterOptions {
  /** Directory for etcd data, pki, logs and the kubeconfig (created if missing). */
  dir: string;
  /** API server port; 0 (default) picks a free one. */
  port?: number;
  /** The admin's bearer token (written into the kubeconfig); default: a random one per cluster. */
  token?: string;
  /** Extra API server options (watch history, bookmark interval, compaction...). */
  server?: Partial<Omit<ApiServerOptions, 'etcdEndpoint' | 'tlsCert' | 'tlsKey' | 'port' | 'token'>>;
  /** Run the workload and EndpointSlice controllers (controllers/manager.ts) in this process too. */
  controllers?: boolean;
}

/** A running devcluster whose API server lives in this process (tests, benchmarks). */
export class Devcluster {
  apiserver: ApiServer;
  controllers?: ControllerManager;

  private constructor(
    readonly dir: string,
    public etcd: EtcdHandle,
    readonly tls: TlsMaterial,
    readonly etcdTls: EtcdTls,
    apiserver: ApiServer,
    private readonly o: DevclusterOptions,
  ) {
    this.apiserver = apiserver;
  }

  get kubeconfig(): string {
    return join(this.dir, 'kubeconfig');
  }

  get url(): string {
    return this.apiserver.url;
  }

  static async start(o: DevclusterOptions): Promise<Devcluster> {
    const dir = resolve(o.dir);
    mkdirSync(dir, { recursive: true });
    const tls = ensureTls(dir);
    o = { ...o, token: o.token ?? randomBytes(16).toString('hex') };
    const etcdTls = ensureEtcdTls(dir);
    const etcd = await startEtcd({ dir, tls: etcdTls });
    let server: ApiServer | undefined;
    try {
      server = await Devcluster.startServer(etcd.endpoint, tls, etcdTls, o, o.port ?? 0);
    } catch (e) {
      await etcd.stop();
      throw e;
    }
    const c = new Devcluster(dir, etcd, tls, etcdTls, server, o);
    writeKubeconfig(c.kubeconfig, { server: server.url, caCert: tls.caCert, ...(o.token ? { token: o.token } : {}) });
    if (o.controllers) c.controllers = await ControllerManager.start({ kubeconfig: c.kubeconfig });
    return c;
  }

  private static async startServer(
    etcdEndpoint: string,
    tls: TlsMaterial,
    etcdTls: EtcdTls,
    o: DevclusterOptions,
    port: number,
  ): Promise<ApiServer> {
    const s = new ApiServer({
      // the nodes daemon's kubelet servers, when nodes run on this cluster (nodes/kubelet-server.ts)
      kubeletSocketDir: join(resolve(o.dir), 'nodes'),
      ...o.server,
      etcdEndpoint,
      etcdTls: { ca: etcdTls.caCert, cert: etcdTls.clientCert, key: etcdTls.clientKey },
      tlsCert: tls.cert,
      tlsKey: tls.key,
      clientCa: tls.caCert,
      ...(process.env[RECORD_USE_ENV] && !o.server?.recordUseFile
        ? { recordUseFile: process.env[RECORD_USE_ENV] }
        : {}),
      serviceAccountKey: ensureSigningKey(join(resolve(o.dir), 'pki')),
      port,
      ...(o.token ? { token: o.token } : {}),
    });
    await s.start();
    return s;
  }

  /** Stops and starts the API server on the same port (clients keep their kubeconfig). */
  async restartApiServer(): Promise<void> {
    const port = this.apiserver.port;
    await this.apiserver.stop();
    this.apiserver = await Devcluster.startServer(this.etcd.endpoint, this.tls, this.etcdTls, this.o, port);
  }

  /** Stops etcd and starts it again on the same endpoint and data; the API server reconnects. */
  async restartEtcd(): Promise<void> {
    const clientPort = this.etcd.clientPort;
    await this.etcd.stop();
    this.etcd = await startEtcd({ dir: this.dir, clientPort, tls: this.etcdTls });
  }

  /** Stops everything; removes the directory unless keep is set. */
  async stop(o: { keep?: boolean } = {}): Promise<void> {
    try {
      await this.controllers?.stop();
    } catch {
      // the server and etcd go regardless
    }
    try {
      await this.apiserver.stop();
    } finally {
      await this.etcd.stop();
      if (!o.keep) rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

// ---- detached mode (the CLI) ----------------------------------------------------------------

export interface DetachedState {
  dir: string;
  url: string;
  port: number;
  etcdEndpoint: string;
  etcdPid: number;
  apiserverPid: number;
  startedAt: string;
}

const STATE = 'state.json';

export function readState(dir: string): DetachedState | undefined {
  const p = join(dir, STATE);
  if (!existsSync(p)) return undefined;
  return JSON.parse(readFileSync(p, 'utf8')) as DetachedState;
}

/** GET /readyz with the cluster's CA; true when the server answers ok. */
export function ready(url: string, caCert: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const req = request(`${url}/readyz`, { agent: new Agent({ ca: caCert }), timeout: 2000 }, (res) => {
      res.resume();
      resolvePromise(res.statusCode === 200);
    });
    req.on('error', () => resolvePromise(false));
    req.on('timeout', () => {
      req.destroy();
      resolvePromise(false);
    });
    req.end();
  });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts etcd and the API server as background processes that outlive the caller. */
export interface DetachedOptions {
  dir: string;
  port?: number;
  /** The admin's bearer token; default: a random one, kept in pki/admin.token. */
  token?: string;
  /** false: no authentication or RBAC (ApiServerOptions.enforce). */
  enforce?: boolean;
  tokenMinExpirationSeconds?: number;
  /** Record what each user used (ApiServerOptions.recordUseFile); default $KTS_DEVCLUSTER_RECORD_USE. */
  recordUseFile?: string;
}

/**
 * When set, every devcluster started (in-process or detached) appends its API server's recorded
 * use to this file: how the recorded-use test collects what the components did across e2e runs.
 */
export const RECORD_USE_ENV = 'KTS_DEVCLUSTER_RECORD_USE';

export async function upDetached(o: DetachedOptions): Promise<DetachedState> {
  const dir = resolve(o.dir);
  const existing = readState(dir);
  if (existing && alive(existing.apiserverPid)) return existing;
  mkdirSync(dir, { recursive: true });
  const tls = ensureTls(dir);
  // The token goes to the server in a file, not on its command line (ps shows that to everyone).
  const tokenFile = join(dir, 'pki', 'admin.token');
  const token =
    o.token ?? (existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : randomBytes(16).toString('hex'));
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const recordUse = o.recordUseFile ?? process.env[RECORD_USE_ENV];
  const etcd = await startEtcd({ dir, detached: true, tls: ensureEtcdTls(dir) });
  let port = o.port ?? 6443;
  if (port === 0 || !(await portFree(port))) port = await freePort();
  // Its compiled JavaScript (`npm run build`) on the pinned Node 24: the project's runtime, whoever calls us.
  const main = compiledEntry('devcluster/apiserver/main.ts');
  if (!existsSync(main)) throw new Error(`${main} is not built: run \`npm run build\``);
  const nodeBin = existsSync(PINNED_NODE) ? PINNED_NODE : process.execPath;
  const logFd = openSync(join(dir, 'apiserver.log'), 'a');
  const args = [
    // A young generation of at most 4 MiB per semi-space: the server keeps most of what it allocates
    // (its watch cache), so a scavenge's pause grows with the young generation. With V8's default
    // (up to 16 MiB) its scavenges paused it for 15.7 ms at the median and up to 145 ms while a
    // benchmark ran, and one on a create call made the slowest round; at 4 MiB, 3.3 ms and up to 34.5 ms
    // (more of them, 3.0 s of scavenging instead of 1.2 s over the same run; BENCHMARKS.md, session 18).
    '--max-semi-space-size=4',
    main,
    '--etcd',
    etcd.endpoint,
    '--port',
    String(port),
    '--pki',
    join(dir, 'pki'),
    '--kubelet-dir',
    join(dir, 'nodes'),
    '--token-file',
    tokenFile,
    ...(o.enforce === false ? ['--no-enforce'] : []),
    ...(o.tokenMinExpirationSeconds ? ['--token-min-seconds', String(o.tokenMinExpirationSeconds)] : []),
    ...(recordUse ? ['--record-use', resolve(recordUse)] : []),
  ];
  const child = spawn(nodeBin, args, { detached: true, stdio: ['ignore', logFd, logFd], cwd: PACKAGE_ROOT });
  closeSync(logFd);
  child.unref();
  const url = `https://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (!(await ready(url, tls.caCert))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      for (const pid of [child.pid ?? 0, etcd.pid]) {
        try {
          if (pid) process.kill(pid, 'SIGTERM');
        } catch {
          /* gone */
        }
      }
      throw new Error(`the API server did not become ready; see ${join(dir, 'apiserver.log')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  writeKubeconfig(join(dir, 'kubeconfig'), { server: url, caCert: tls.caCert, token });
  const state: DetachedState = {
    dir,
    url,
    port,
    etcdEndpoint: etcd.endpoint,
    etcdPid: etcd.pid,
    apiserverPid: child.pid ?? 0,
    startedAt: new Date().toISOString(),
  };
  writeFileSync(join(dir, STATE), JSON.stringify(state, null, 2));
  return state;
}

async function portFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  return new Promise((r) => {
    const s = createServer();
    s.once('error', () => r(false));
    s.listen(port, '127.0.0.1', () => s.close(() => r(true)));
  });
}

async function stopPid(pid: number): Promise<void> {
  if (!pid || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** Stops what upDetached started (API server first, then etcd), keeping the directory and its data. */
export async function stopDetached(dirIn: string): Promise<void> {
  const st = readState(resolve(dirIn));
  if (st) {
    await stopPid(st.apiserverPid);
    await stopPid(st.etcdPid);
  }
}

/** Stops what upDetached started (API server first, then etcd) and removes the directory. */
export async function downDetached(dirIn: string): Promise<boolean> {
  const dir = resolve(dirIn);
  await stopDetached(dir);
  const had = existsSync(dir);
  rmSync(dir, { recursive: true, force: true });
  return had;
}
