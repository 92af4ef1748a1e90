// Hubble's mutual TLS (upstream: Documentation/observability/hubble/configuration/tls.rst): every
// agent serves :4244 with a certificate for `*.<cluster>.hubble-grpc.cilium.io` and accepts only
// clients whose certificate its CA signed; relay presents its client certificate and checks that
// each node's certificate names `<node>.<cluster>.hubble-grpc.cilium.io`. The files come from
// Kubernetes Secrets mounted into the pods, which the kubelet may replace at any time, so they are
// re-read while the process runs (a renewed certificate is used without a restart) and may be
// missing at start-up (handshakes fail until they appear; the server still listens).
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { HubbleError, HubbleErrorCode } from './errors.js';

/** The suffix of every Hubble server name (upstream pkg/hubble/peer/types TLSServerName). */
export const HUBBLE_GRPC_DOMAIN = 'hubble-grpc.cilium.io';

/**
 * The name a node's Hubble server certificate must carry: `<node>.<cluster>.hubble-grpc.cilium.io`
 * with every dot of the node and cluster names replaced by a dash (so one wildcard certificate
 * `*.<cluster>.hubble-grpc.cilium.io` covers every node).
 */
export function hubbleServerName(node: string, cluster: string): string {
  const label = (s: string) => s.replace(/\./g, '-');
  return `${label(node)}.${label(cluster)}.${HUBBLE_GRPC_DOMAIN}`;
}

/** The files of one side of the mTLS connection (PEM). */
export interface TlsFiles {
  /** this side's certificate chain */
  certFile: string;
  /** its private key */
  keyFile: string;
  /** the CAs the other side's certificate must chain to (concatenated, any one suffices) */
  caFiles: readonly string[];
}

export interface TlsWatchOptions {
  /**
   * How often the files are read again, ms; default 5000. A Secret update reaches a pod's volume
   * within the kubelet's sync period (about a minute), so a few seconds here is never the slow part.
   */
  refreshMs: number;
}

export const defaultTlsWatchOptions: TlsWatchOptions = { refreshMs: 5000 };

type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

/**
 * A grpc-js certificate provider over a certificate, a key and any number of CA files. It reads
 * them while someone listens, tells listeners when their bytes change, and reports `null` while a
 * file is missing or unreadable (grpc-js then refuses handshakes instead of using stale material).
 */
export class TlsFileWatcher implements grpc.experimental.CertificateProvider {
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private timer?: NodeJS.Timeout;
  private ca: grpc.experimental.CaCertificateUpdate | null = null;
  private identity: grpc.experimental.IdentityCertificateUpdate | null = null;
  private caText = '';
  private identityText = '';
  private reading?: Promise<void>;
  /** the last reason the files could not be used, for logs; undefined while they are fine */
  lastError?: string;

  constructor(
    readonly files: TlsFiles,
    private readonly options: TlsWatchOptions = defaultTlsWatchOptions,
  ) {
    if (!files.certFile || !files.keyFile || files.caFiles.length === 0)
      throw new HubbleError(
        HubbleErrorCode.Tls,
        'TLS needs a certificate file, a key file and at least one CA file (or disable TLS explicitly)',
      );
  }

  /** Reads the files now and tells listeners of any change; resolves when done. */
  refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<void> {
    const text = (f: string) => readFile(f, 'utf8');
    const [cert, key, cas] = await Promise.allSettled([
      text(this.files.certFile),
      text(this.files.keyFile),
      Promise.all(this.files.caFiles.map(text)),
    ]);
    const failed = [cert, key, cas].find((r) => r.status === 'rejected');
    this.lastError = failed ? String((failed.reason as Error).message) : undefined;
    const identityText = cert.status === 'fulfilled' && key.status === 'fulfilled' ? cert.value + key.value : '';
    if (identityText !== this.identityText) {
      this.identityText = identityText;
      this.identity =
        cert.status === 'fulfilled' && key.status === 'fulfilled'
          ? { certificate: Buffer.from(cert.value), privateKey: Buffer.from(key.value) }
          : null;
      for (const l of this.identityListeners) l(this.identity);
    }
    const caText = cas.status === 'fulfilled' ? cas.value.join('\n') : '';
    if (caText !== this.caText) {
      this.caText = caText;
      this.ca = caText ? { caCertificate: Buffer.from(caText) } : null;
      for (const l of this.caListeners) l(this.ca);
    }
  }

  private watch(): void {
    if (this.timer || this.caListeners.size + this.identityListeners.size === 0) return;
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs);
    // a watcher alone never keeps the process alive
    this.timer.unref();
    void this.refresh();
  }

  private unwatchIfIdle(): void {
    if (this.caListeners.size + this.identityListeners.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  addCaCertificateListener(l: CaListener): void {
    this.caListeners.add(l);
    if (this.ca) l(this.ca);
    this.watch();
  }
  removeCaCertificateListener(l: CaListener): void {
    this.caListeners.delete(l);
    this.unwatchIfIdle();
  }
  addIdentityCertificateListener(l: IdentityListener): void {
    this.identityListeners.add(l);
    if (this.identity) l(this.identity);
    this.watch();
  }
  removeIdentityCertificateListener(l: IdentityListener): void {
    this.identityListeners.delete(l);
    this.unwatchIfIdle();
  }

  /** Stops reading the files (listeners stay registered but hear nothing more). */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Server credentials that require a client certificate signed by one of the CAs. */
export function serverTlsCredentials(watcher: TlsFileWatcher): grpc.ServerCredentials {
  return grpc.experimental.createCertificateProviderServerCredentials(watcher, watcher, true);
}

/**
 * Channel credentials presenting our certificate and trusting only the CAs. The name checked in
 * the server's certificate is the channel's `grpc.ssl_target_name_override` (see hubbleChannelOptions).
 */
export function clientTlsCredentials(watcher: TlsFileWatcher): grpc.ChannelCredentials {
  return grpc.experimental.createCertificateProviderChannelCredentials(watcher, watcher);
}

/** Channel options that make grpc-js send and verify `serverName` whatever address it dials. */
export function serverNameOptions(serverName: string): grpc.ChannelOptions {
  return { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName };
}

/** The `hubble` CLI's TLS flags (upstream hubble's names, without the leading `--`). */
export interface CliTlsOptions {
  /** --tls: talk TLS to the server */
  tls: boolean;
  /** --tls-allow-insecure: accept any server certificate (no chain or name check) */
  allowInsecure: boolean;
  /** --tls-ca-cert-files: the CAs the server's certificate must chain to; none: the system's roots */
  caCertFiles: readonly string[];
  /** --tls-client-cert-file / --tls-client-key-file: our certificate, for servers that require one (an agent's :4244) */
  clientCertFile?: string;
  clientKeyFile?: string;
  /** --tls-server-name: the name the server's certificate must carry (default: the address's host) */
  serverName?: string;
}

/**
 * The channel credentials and options for the CLI's TLS flags, reading the files once (a CLI run
 * is short; the long-lived relay uses TlsFileWatcher instead). Plaintext unless `tls` is set.
 */
export async function cliChannelTls(
  o: CliTlsOptions,
): Promise<{ credentials: grpc.ChannelCredentials; channelOptions: grpc.ChannelOptions }> {
  const tlsOnly = [
    o.allowInsecure && '--tls-allow-insecure',
    o.caCertFiles.length > 0 && '--tls-ca-cert-files',
    o.clientCertFile && '--tls-client-cert-file',
    o.clientKeyFile && '--tls-client-key-file',
    o.serverName && '--tls-server-name',
  ].filter(Boolean);
  if (!o.tls) {
    // a silently ignored CA or certificate would send flows in clear text to whoever answers
    if (tlsOnly.length)
      throw new HubbleError(HubbleErrorCode.Tls, `${tlsOnly.join(', ')} given without --tls (TLS is off)`);
    return { credentials: grpc.credentials.createInsecure(), channelOptions: {} };
  }
  if (!o.clientCertFile !== !o.clientKeyFile)
    throw new HubbleError(
      HubbleErrorCode.Tls,
      '--tls-client-cert-file and --tls-client-key-file go together (a client certificate needs its key)',
    );
  const read = async (flag: string, f: string): Promise<Buffer> => {
    try {
      return await readFile(f);
    } catch (e) {
      throw new HubbleError(HubbleErrorCode.Tls, `${flag} ${f}: ${(e as Error).message}`, { cause: e });
    }
  };
  const cas = await Promise.all(o.caCertFiles.map((f) => read('--tls-ca-cert-files', f)));
  const cert = o.clientCertFile ? await read('--tls-client-cert-file', o.clientCertFile) : undefined;
  const key = o.clientKeyFile ? await read('--tls-client-key-file', o.clientKeyFile) : undefined;
  const credentials = grpc.credentials.createSsl(
    cas.length ? Buffer.concat(cas.flatMap((c) => [c, Buffer.from('\n')])) : null,
    key ?? null,
    cert ?? null,
    o.allowInsecure ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {},
  );
  return { credentials, channelOptions: o.serverName ? serverNameOptions(o.serverName) : {} };
}
