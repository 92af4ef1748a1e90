// What the kvstore client needs to know, from upstream's configuration: cilium-config `kvstore`
// (etcd), `kvstore-opt` (a JSON map: `etcd.config` names an etcd config file, `etcd.address` an
// endpoint), `kvstore-lease-ttl`; and the etcd config file itself (YAML: `endpoints`,
// `trusted-ca-file`, `key-file`, `cert-file`), as in Cilium's `Documentation/kvstore.rst` and
// `k8s-install-external-etcd.rst`. Defaults live here, once.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { KvstoreError, KvstoreErrorCode } from './errors.js';

export interface KvstoreTls {
  /** PEM of the CA that signed etcd's serving certificate (`trusted-ca-file`). */
  ca: Buffer;
  /** This client's certificate and key (`cert-file`, `key-file`), when etcd asks for one. */
  cert?: Buffer;
  key?: Buffer;
}

export interface KvstoreOptions {
  /** etcd client URLs (`http://…` or `https://…`). */
  endpoints: string[];
  tls?: KvstoreTls;
  /**
   * `kvstore-lease-ttl` in seconds (upstream default 15 min): the session lease that owns this
   * process's keys (ipcache, node, identity references). A dead agent's keys vanish within it;
   * shorter means faster cleanup but more keepalive traffic (one keepalive every TTL/3).
   */
  leaseTtlSeconds: number;
  /** TTL of the lease behind distributed locks (upstream: 25 s): a crashed holder frees the lock after it. */
  lockLeaseTtlSeconds: number;
  /** How long one request may wait for etcd before it fails as unavailable. */
  requestTimeoutMs: number;
  /** The operator writes `cilium/.heartbeat` this often (upstream: 1 min). */
  heartbeatIntervalMs: number;
  /**
   * A heartbeat older than this (by the agent's own clock, from when it saw the last update) is a
   * quorum error (upstream: 2 min). Tests shorten it.
   */
  heartbeatStaleMs: number;
  /** Quorum errors in a row before the kvstore is reported failed (upstream: 2). */
  maxConsecutiveQuorumErrors: number;
}

export const KVSTORE_DEFAULTS: Omit<KvstoreOptions, 'endpoints' | 'tls'> = {
  leaseTtlSeconds: 15 * 60,
  lockLeaseTtlSeconds: 25,
  requestTimeoutMs: 15_000,
  heartbeatIntervalMs: 60_000,
  heartbeatStaleMs: 2 * 60_000,
  maxConsecutiveQuorumErrors: 2,
};

/** The etcd config file's fields that matter here (upstream's etcd client config YAML). */
export interface EtcdConfigFile {
  endpoints: string[];
  trustedCaFile?: string;
  keyFile?: string;
  certFile?: string;
}

function configError(message: string, cause?: unknown): KvstoreError {
  return new KvstoreError(KvstoreErrorCode.Config, message, cause === undefined ? undefined : { cause });
}

/** Parses the etcd config YAML; relative file names are taken relative to the file's directory. */
export function parseEtcdConfig(text: string, baseDir = '/'): EtcdConfigFile {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw configError(`etcd config is not YAML: ${(e as Error).message}`, e);
  }
  if (!doc || typeof doc !== 'object') throw configError('etcd config must be a YAML map with `endpoints`');
  const d = doc as Record<string, unknown>;
  const endpoints = d.endpoints;
  if (!Array.isArray(endpoints) || endpoints.length === 0 || !endpoints.every((e) => typeof e === 'string'))
    throw configError('etcd config: `endpoints` must be a non-empty list of URLs');
  for (const e of endpoints as string[])
    if (!/^https?:\/\/[^/]+/.test(e))
      throw configError(`etcd config: endpoint ${JSON.stringify(e)} is not http(s)://host:port`);
  const file = (k: string): string | undefined => {
    const v = d[k];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw configError(`etcd config: \`${k}\` must be a file name`);
    return isAbsolute(v) ? v : join(baseDir, v);
  };
  return {
    endpoints: endpoints as string[],
    trustedCaFile: file('trusted-ca-file'),
    keyFile: file('key-file'),
    certFile: file('cert-file'),
  };
}

/** Parses `kvstore-opt` (a JSON object of strings; upstream also accepts `k=v,k=v`). */
export function parseKvstoreOpt(text: string): Record<string, string> {
  const t = text.trim();
  if (!t) return {};
  if (t.startsWith('{')) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch (e) {
      throw configError(`kvstore-opt is not JSON: ${(e as Error).message}`, e);
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw configError('kvstore-opt must be a JSON object');
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) {
      if (typeof x !== 'string') throw configError(`kvstore-opt ${k} must be a string`);
      out[k] = x;
    }
    return out;
  }
  const out: Record<string, string> = {};
  for (const part of t.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) throw configError(`kvstore-opt: ${JSON.stringify(part)} is not key=value`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw configError(`cannot read the etcd ${what} ${path}: ${(e as Error).message}`, e);
  }
}

/**
 * The client options from cilium-config's `kvstore-opt` (`etcd.config` file or `etcd.address`),
 * with `overrides` (lease TTL and heartbeat limits from other keys) on top of the defaults.
 */
export function kvstoreOptionsFrom(kvstoreOpt: string, overrides: Partial<KvstoreOptions> = {}): KvstoreOptions {
  const opt = parseKvstoreOpt(kvstoreOpt);
  let endpoints: string[] = [];
  let tls: KvstoreTls | undefined;
  const configPath = opt['etcd.config'];
  if (configPath) {
    const cfg = parseEtcdConfig(readFile(configPath, 'config file').toString('utf8'), dirname(configPath));
    endpoints = cfg.endpoints;
    if (cfg.trustedCaFile)
      tls = {
        ca: readFile(cfg.trustedCaFile, 'CA'),
        ...(cfg.certFile ? { cert: readFile(cfg.certFile, 'client certificate') } : {}),
        ...(cfg.keyFile ? { key: readFile(cfg.keyFile, 'client key') } : {}),
      };
  } else if (opt['etcd.address']) {
    endpoints = opt['etcd.address'].split(',').map((e) => (/^https?:\/\//.test(e) ? e : `http://${e}`));
  } else {
    throw configError('kvstore: etcd needs kvstore-opt `etcd.config` (an etcd config file) or `etcd.address`');
  }
  if (endpoints.some((e) => e.startsWith('https://')) && !tls)
    throw configError('an https etcd endpoint needs `trusted-ca-file` in the etcd config file');
  return { ...KVSTORE_DEFAULTS, endpoints, ...(tls ? { tls } : {}), ...overrides };
}
