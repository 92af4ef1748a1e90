// The etcd process under the devcluster: Debian's etcd-server (3.4), data under the cluster's
// directory, client and peer URLs on free loopback ports so that several clusters (a user's and
// every test run's) never collide. With TLS material (tls.ts ensureEtcdTls) clients must present a
// certificate of etcd's own CA (--client-cert-auth), as kube-apiserver does with kubeadm's etcd.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ApiError, ApiServerErrorCode } from './errors.js';
import type { EtcdTls } from './tls.js';

export const ETCD_BINARY = process.env.KTS_ETCD_BINARY ?? '/usr/bin/etcd';

/** A free TCP port on 127.0.0.1 (the kernel picks; we release it at once for the child to bind). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface EtcdOptions {
  /** Directory for data (`etcd-data/`) and the log (`etcd.log`). */
  dir: string;
  /** Client port; 0 picks a free one. Give the previous one to restart on the same endpoint. */
  clientPort?: number;
  /** Run detached from this process (the CLI's `up`) so it outlives it. */
  detached?: boolean;
  /** Serve clients over TLS and require client certificates of this CA. */
  tls?: EtcdTls;
}

export interface EtcdHandle {
  endpoint: string;
  clientPort: number;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function healthy(endpoint: string, tls?: EtcdTls): Promise<boolean> {
  if (tls) {
    return new Promise((resolve) => {
      const ca = tls.caCert;
      const req = request(
        `${endpoint}/health`,
        { ca, cert: tls.clientCert, key: tls.clientKey, timeout: 1000 },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve(/"health":\s*"true"/.test(text)));
        },
      );
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  }
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

/** Starts etcd and resolves once `/health` says true. */
export async function startEtcd(o: EtcdOptions): Promise<EtcdHandle> {
  mkdirSync(o.dir, { recursive: true });
  const clientPort = o.clientPort || (await freePort());
  const peerPort = await freePort();
  const endpoint = `${o.tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const tlsArgs = o.tls
    ? [
        '--cert-file',
        join(o.tls.dir, 'server.crt'),
        '--key-file',
        join(o.tls.dir, 'server.key'),
        '--trusted-ca-file',
        join(o.tls.dir, 'ca.crt'),
        '--client-cert-auth',
      ]
    : [];
  const logFd = openSync(join(o.dir, 'etcd.log'), 'a');
  const child = spawn(
    ETCD_BINARY,
    [
      '--name',
      'devcluster',
      '--data-dir',
      join(o.dir, 'etcd-data'),
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-cluster',
      `devcluster=http://127.0.0.1:${peerPort}`,
      '--log-level',
      'warn',
      '--logger',
      'zap',
      ...tlsArgs,
    ],
    { stdio: ['ignore', logFd, logFd], detached: o.detached ?? false },
  );
  closeSync(logFd);
  if (o.detached) child.unref();
  let exited = false;
  const exitP = new Promise<void>((r) =>
    child.once('exit', () => {
      exited = true;
      r();
    }),
  );
  const deadline = Date.now() + 20_000;
  while (!(await healthy(endpoint, o.tls))) {
    if (exited)
      throw new ApiError(
        500,
        'InternalError',
        `etcd exited during start; see ${join(o.dir, 'etcd.log')}`,
        ApiServerErrorCode.EtcdStart,
      );
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new ApiError(
        500,
        'InternalError',
        `etcd did not become healthy on ${endpoint}`,
        ApiServerErrorCode.EtcdStart,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    endpoint,
    clientPort,
    pid: child.pid ?? 0,
    child,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exitP;
      clearTimeout(t);
    },
  };
}
