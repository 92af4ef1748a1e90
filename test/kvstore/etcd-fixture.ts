// A real etcd for the kvstore's tests (Debian's etcd-server, as the devcluster runs it) in a temp
// directory on a free port, and a TCP proxy in front of it that a test can cut and restore to
// take etcd away from the client under test while the test itself still writes to etcd.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdHandle } from '../../devcluster/apiserver/etcd.js';
import { ensureEtcdTls, type EtcdTls } from '../../devcluster/apiserver/tls.js';
import { KVSTORE_DEFAULTS, type KvstoreOptions } from '../../controllers/kvstore/options.js';

export interface EtcdFixture {
  dir: string;
  /** The running etcd (replaced by `restartEtcd`). */
  etcd: EtcdHandle;
  tls?: EtcdTls;
  /** A client straight to etcd, for the test's own reads and writes. */
  direct: Etcd3;
  /** Stops etcd (its data stays). */
  stopEtcd(): Promise<void>;
  /** Starts etcd again on the same endpoint with the same data. */
  restartEtcd(): Promise<void>;
  stop(): Promise<void>;
}

export async function startEtcdFixture(o: { tls?: boolean } = {}): Promise<EtcdFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'cilium-ts-kvstore-'));
  const tls = o.tls ? ensureEtcdTls(dir) : undefined;
  const etcd = await startEtcd({ dir, ...(tls ? { tls } : {}) });
  const direct = new Etcd3({
    hosts: etcd.endpoint,
    ...(tls
      ? {
          credentials: {
            rootCertificate: Buffer.from(tls.caCert),
            certChain: Buffer.from(tls.clientCert),
            privateKey: Buffer.from(tls.clientKey),
          },
        }
      : {}),
  });
  const fx: EtcdFixture = {
    dir,
    etcd,
    ...(tls ? { tls } : {}),
    direct,
    async stopEtcd() {
      await fx.etcd.stop();
    },
    async restartEtcd() {
      fx.etcd = await startEtcd({ dir, clientPort: fx.etcd.clientPort, ...(tls ? { tls } : {}) });
    },
    async stop() {
      direct.close();
      await fx.etcd.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return fx;
}

/** Client options for `endpoint` with short timings for tests. */
export function testOptions(endpoint: string, over: Partial<KvstoreOptions> = {}): KvstoreOptions {
  return { ...KVSTORE_DEFAULTS, endpoints: [endpoint], leaseTtlSeconds: 5, requestTimeoutMs: 3000, ...over };
}

/** A TCP proxy to `port` on loopback; `cut()` drops every connection and refuses new ones until `restore()`. */
export interface CuttableProxy {
  endpoint: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startProxy(target: number): Promise<CuttableProxy> {
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const cut = (): void => {
    open = false;
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    cut,
    restore() {
      open = true;
    },
    close() {
      cut();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** Polls `f` until it returns true or `ms` pass. */
export async function until(f: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
