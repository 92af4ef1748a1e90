// The API server as a process (the CLI's `up` runs it detached):
//   node build/devcluster/apiserver/main.js --etcd URL --port N --pki DIR [--token T | --token-file F]
//     [--no-enforce] [--token-min-seconds S] [--record-use FILE]
import { existsSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
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
/**
 * The request log, one write per event-loop turn: a line per request written synchronously to the
 * log file (console.log) was 2.6% of the server's CPU at scale (npm run bench:scale, 10,000 pods).
 */
function bufferedLog(): (line: string) => void {
  let pending: string[] = [];
  const flush = (): void => {
    if (!pending.length) return;
    const text = pending.join('');
    pending = [];
    try {
      writeSync(1, text);
    } catch {
      process.stdout.write(text); // a non-blocking pipe (EAGAIN): the stream queues it
    }
  };
  process.on('exit', flush);
  return (line) => {
    if (!pending.length) setImmediate(flush);
    pending.push(`${new Date().toISOString()} ${line}\n`);
  };
}
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
  ...(values.quiet ? {} : { log: bufferedLog() }),
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
// SIGUSR2 starts a V8 CPU profile and the next one writes it (to the temp dir, path logged): how the
// scale harness's churn is profiled without restarting the server (`node --cpu-prof` only writes at
// exit, and a whole run's profile is mostly the load).
let profiling: Session | undefined;
process.on('SIGUSR2', () => {
  void (async () => {
    if (!profiling) {
      profiling = new Session();
      profiling.connect();
      await profiling.post('Profiler.enable');
      await profiling.post('Profiler.start');
      console.log(`${new Date().toISOString()} cpu profile started (SIGUSR2 again writes it)`);
      return;
    }
    const s = profiling;
    profiling = undefined;
    const { profile } = await s.post('Profiler.stop');
    s.disconnect();
    const file = join(tmpdir(), `kts-apiserver-${process.pid}-${Date.now()}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    console.log(`${new Date().toISOString()} cpu profile written to ${file}`);
  })().catch((e: unknown) => console.error(`cpu profile: ${String(e)}`));
});
