// The API server as a process (the CLI's `up` runs it detached):
//   node build/devcluster/apiserver/main.js --etcd URL --port N --pki DIR [--token T]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ControllerManager } from '../controllers/manager.js';
import { ApiServer } from './server.js';

const { values } = parseArgs({
  options: {
    etcd: { type: 'string' },
    port: { type: 'string' },
    pki: { type: 'string' },
    token: { type: 'string' },
    'kubelet-dir': { type: 'string' },
    quiet: { type: 'boolean' },
    'without-controllers': { type: 'boolean' },
  },
});
if (!values.etcd || !values.pki) {
  console.error('usage: main.ts --etcd URL --port N --pki DIR [--token T] [--kubelet-dir DIR]');
  process.exit(2);
}
const server = new ApiServer({
  etcdEndpoint: values.etcd,
  port: Number(values.port ?? 6443),
  tlsCert: readFileSync(join(values.pki, 'server.crt'), 'utf8'),
  tlsKey: readFileSync(join(values.pki, 'server.key'), 'utf8'),
  ...(values.token ? { token: values.token } : {}),
  ...(values['kubelet-dir'] ? { kubeletSocketDir: values['kubelet-dir'] } : {}),
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
        ...(values.token ? { token: values.token } : {}),
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
