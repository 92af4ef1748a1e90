// The API server as a process (the CLI's `up` runs it detached):
//   node build/devcluster/apiserver/main.js --etcd URL --port N --pki DIR [--token T | --token-file F]
//     [--no-enforce] [--token-min-seconds S] [--record-use FILE]
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ControllerManager } from '../controllers/manager.js';
import { ensureSigningKey } from './auth/token-issuer.js';
import { ApiServer } from './server.js';

const { values } = parseArgs({
  options: {
    etcd: { type: 'string' },
    port: { type: 'string' },
    pki: { type: 'string' },
    token: { type: 'string' },
    'kubelet-dir': { type: 'string' },
    'token-file': { type: 'string' },
    'no-enforce': { type: 'boolean' },
    'token-min-seconds': { type: 'string' },
    'record-use': { type: 'string' },
    quiet: { type: 'boolean' },
    'without-controllers': { type: 'boolean' },
  },
});
if (!values.etcd || !values.pki) {
  console.error('usage: main.ts --etcd URL --port N --pki DIR [--token T] [--kubelet-dir DIR]');
  process.exit(2);
}
const token = values.token ?? (values['token-file'] ? readFileSync(values['token-file'], 'utf8').trim() : undefined);
// etcd's client certificate (tls.ts ensureEtcdTls), when the cluster's pki has one
const etcdPki = join(values.pki, 'etcd');
const etcdTls = existsSync(join(etcdPki, 'apiserver-etcd-client.crt'))
  ? {
      ca: readFileSync(join(etcdPki, 'ca.crt'), 'utf8'),
      cert: readFileSync(join(etcdPki, 'apiserver-etcd-client.crt'), 'utf8'),
      key: readFileSync(join(etcdPki, 'apiserver-etcd-client.key'), 'utf8'),
    }
  : undefined;
const server = new ApiServer({
  etcdEndpoint: values.etcd,
  ...(etcdTls ? { etcdTls } : {}),
  port: Number(values.port ?? 6443),
  tlsCert: readFileSync(join(values.pki, 'server.crt'), 'utf8'),
  tlsKey: readFileSync(join(values.pki, 'server.key'), 'utf8'),
  ...(values['kubelet-dir'] ? { kubeletSocketDir: values['kubelet-dir'] } : {}),
  clientCa: readFileSync(join(values.pki, 'ca.crt'), 'utf8'),
  serviceAccountKey: ensureSigningKey(values.pki),
  ...(token ? { token } : {}),
  ...(values['no-enforce'] ? { enforce: false } : {}),
  ...(values['token-min-seconds'] ? { tokenMinExpirationSeconds: Number(values['token-min-seconds']) } : {}),
  ...(values['record-use'] ? { recordUseFile: values['record-use'] } : {}),
  ...(values.quiet ? {} : { log: (l: string) => console.log(`${new Date().toISOString()} ${l}`) }),
});
await server.start();
console.log(`${new Date().toISOString()} apiserver listening on ${server.url} (etcd ${values.etcd})`);
// kube-controller-manager's part: workload and EndpointSlice controllers, as a client of this server
const controllers = values['without-controllers']
  ? undefined
  : await ControllerManager.start({
      server: {
        url: server.url,
        caCert: readFileSync(join(values.pki, 'ca.crt'), 'utf8'),
        ...(token ? { token } : {}),
      },
    });
const shutdown = (): void => {
  void (controllers?.stop() ?? Promise.resolve())
    .catch(() => undefined)
    .then(() => server.stop())
    .then(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
