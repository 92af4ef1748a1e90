// The devcluster's TLS material: a self-signed CA and a server certificate for 127.0.0.1 and
// localhost, made with the openssl CLI (hack/setup.sh installs it). client-node 2.x refuses
// plain http, and a CA in the kubeconfig is what users of a real cluster have too.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError, ApiServerErrorCode } from './errors.js';

export interface TlsMaterial {
  caCert: string;
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new ApiError(500, 'InternalError', `openssl ${args[0]} failed: ${msg}`, ApiServerErrorCode.Tls);
  }
}

/** etcd's own CA, server certificate and the API server's client certificate (PEM), under pki/etcd. */
export interface EtcdTls {
  dir: string;
  caCert: string;
  clientCert: string;
  clientKey: string;
}

/** A key and a certificate signed by the CA in `dir` (ca.crt, ca.key). */
function issue(dir: string, name: string, subject: string, ext: string): void {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
  openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '3650',
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
}

/**
 * etcd's TLS material, as kubeadm lays it out: a CA of its own (so no certificate of the cluster
 * CA, which users get, opens etcd), a server certificate for 127.0.0.1 and the API server's client
 * certificate (apiserver-etcd-client). Made once and reused across restarts.
 */
export function ensureEtcdTls(dir: string): EtcdTls {
  const pki = join(dir, 'pki', 'etcd');
  mkdirSync(pki, { recursive: true });
  const need = ['ca.crt', 'server.crt', 'server.key', 'apiserver-etcd-client.crt', 'apiserver-etcd-client.key'];
  if (!need.every((f) => existsSync(join(pki, f)))) {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], pki);
    openssl(
      ['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '3650', '-subj', '/CN=etcd-ca', '-out', 'ca.crt'],
      pki,
    );
    issue(
      pki,
      'server',
      '/CN=etcd-server',
      'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
    );
    issue(
      pki,
      'apiserver-etcd-client',
      '/CN=kube-apiserver-etcd-client',
      'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
    );
  }
  const read = (f: string): string => readFileSync(join(pki, f), 'utf8');
  return {
    dir: pki,
    caCert: read('ca.crt'),
    clientCert: read('apiserver-etcd-client.crt'),
    clientKey: read('apiserver-etcd-client.key'),
  };
}

/** Creates (or reuses, so restarts keep the kubeconfig valid) the CA and server cert under dir/pki. */
export function ensureTls(dir: string): TlsMaterial {
  const pki = join(dir, 'pki');
  mkdirSync(pki, { recursive: true });
  const files = ['ca.crt', 'server.crt', 'server.key'].map((f) => join(pki, f));
  if (!files.every((f) => existsSync(f))) {
    // EC P-256 keys: generating them takes milliseconds, RSA would take noticeably longer.
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], pki);
    openssl(
      [
        'req',
        '-x509',
        '-new',
        '-key',
        'ca.key',
        '-sha256',
        '-days',
        '3650',
        '-subj',
        '/CN=devcluster-ca',
        '-out',
        'ca.crt',
      ],
      pki,
    );
    issue(
      pki,
      'server',
      '/CN=kube-apiserver',
      'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n',
    );
  }
  const [caCert, cert, key] = files.map((f) => readFileSync(f, 'utf8')) as [string, string, string];
  return { caCert, cert, key };
}
