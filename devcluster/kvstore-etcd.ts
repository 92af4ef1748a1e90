// The etcd behind `up --kvstore`: a second etcd, apart from the API server's, that the install's
// agents and operator use as their kvstore (identity-allocation-mode kvstore, etcd.enabled), as a
// Cilium cluster with an external etcd has it. TLS with client certificates, from a CA of its own
// made the way the API server's etcd certificates are (apiserver/tls.ts); it listens on the host's
// 127.0.0.1 and every node reaches it through a forwarder in its namespace on the same address
// (nodes/processes.ts), so the certificate's 127.0.0.1 name holds inside the nodes too. Its pid is
// kept in `kvstore/etcd.json` so that `down` stops it.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstallObject } from '../cdk8s/process-launch.js';
import { startEtcd, type EtcdHandle } from './apiserver/etcd.js';
import { ensureEtcdTls, type EtcdTls } from './apiserver/tls.js';
import { alive } from './cluster.js';

/** What `down` and the tests need to find the kvstore etcd again. */
export interface KvstoreEtcdState {
  pid: number;
  /** `https://127.0.0.1:<port>`, the same inside every node. */
  endpoint: string;
  port: number;
}

export interface KvstoreEtcd extends KvstoreEtcdState {
  /** Its CA and the client certificate the install's Secret cilium-etcd-secrets carries. */
  tls: EtcdTls;
}

/** The kvstore etcd's directory (data, log, pki) inside a devcluster's directory. */
export const kvstoreEtcdDir = (dir: string): string => join(dir, 'kvstore');
const stateFile = (dir: string) => join(kvstoreEtcdDir(dir), 'etcd.json');

export function readKvstoreEtcd(dir: string): KvstoreEtcdState | undefined {
  const f = stateFile(dir);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as KvstoreEtcdState) : undefined;
}

/**
 * Starts the kvstore etcd detached (it outlives `up`), or returns the running one. `port` restarts
 * it on the endpoint it had (its data stays): the e2e tests take it away and bring it back.
 */
export async function upKvstoreEtcd(dir: string, port?: number): Promise<KvstoreEtcd> {
  const kvDir = kvstoreEtcdDir(dir);
  const tls = ensureEtcdTls(kvDir);
  const running = readKvstoreEtcd(dir);
  if (running && alive(running.pid)) return { ...running, tls };
  const etcd: EtcdHandle = await startEtcd({
    dir: kvDir,
    detached: true,
    tls,
    ...((port ?? running?.port) ? { clientPort: port ?? running!.port } : {}),
  });
  const state: KvstoreEtcdState = { pid: etcd.pid, endpoint: etcd.endpoint, port: etcd.clientPort };
  writeFileSync(stateFile(dir), `${JSON.stringify(state, null, 2)}\n`);
  return { ...state, tls };
}

/** Stops the kvstore etcd (its data stays until the directory goes); true if it was running. */
export async function downKvstoreEtcd(dir: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<boolean> {
  const s = readKvstoreEtcd(dir);
  if (!s || !alive(s.pid)) return false;
  process.kill(s.pid, signal);
  for (let i = 0; i < 100 && alive(s.pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (alive(s.pid)) process.kill(s.pid, 'SIGKILL');
  return true;
}

/** The Secret the install mounts at /var/lib/etcd-secrets (upstream's name and keys). */
export function etcdSecretObject(tls: EtcdTls, namespace = 'kube-system'): InstallObject {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'cilium-etcd-secrets', namespace },
    type: 'Opaque',
    data: {
      'etcd-client-ca.crt': b64(tls.caCert),
      'etcd-client.crt': b64(tls.clientCert),
      'etcd-client.key': b64(tls.clientKey),
    },
  };
}
