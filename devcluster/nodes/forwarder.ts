// Reaching the API server from inside a node: 127.0.0.1 in a node's namespace is not the host's,
// but a pathname unix socket is reachable from every namespace. So each node runs a forwarder
// inside its namespace, listening on 127.0.0.1:<apiserver port> and forwarding to
// `nodes/apiserver.sock`, where a host-side forwarder (the bridge the nodes daemon starts) forwards
// to the real API server.
// The kubeconfig (https://127.0.0.1:<port>, its certificate names 127.0.0.1) works unchanged in a node.
//
//   node-side: node build/devcluster/nodes/forwarder.js tcp:127.0.0.1:6443 unix:/…/nodes/apiserver.sock
//   host-side: node build/devcluster/nodes/forwarder.js unix:/…/nodes/apiserver.sock tcp:127.0.0.1:6443
import { rmSync } from 'node:fs';
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { NodesError, NodesErrorCode } from './errors.js';

type Endpoint = { path: string } | { host: string; port: number };

export function parseEndpoint(spec: string): Endpoint {
  if (spec.startsWith('unix:')) return { path: spec.slice(5) };
  const m = /^tcp:(.+):(\d+)$/.exec(spec);
  if (!m)
    throw new NodesError(
      NodesErrorCode.Usage,
      `forwarder endpoint ${JSON.stringify(spec)}: expected unix:PATH or tcp:HOST:PORT`,
    );
  return { host: m[1]!, port: Number(m[2]) };
}

/** Listens on `listen` and pipes every connection to `to`; resolves once listening. */
export async function forward(listen: string, to: string): Promise<net.Server> {
  const from = parseEndpoint(listen);
  const target = parseEndpoint(to);
  const server = net.createServer((client) => {
    const upstream = 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host);
    client.pipe(upstream).pipe(client);
    // Either side closing or failing ends both: no half-open leftovers.
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  if ('path' in from) rmSync(from.path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if ('path' in from) server.listen(from.path, resolve);
    else server.listen(from.port, from.host, resolve);
  });
  return server;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [listen, to] = process.argv.slice(2);
  if (!listen || !to) {
    console.error('usage: forwarder.ts LISTEN TO   (unix:PATH | tcp:HOST:PORT)');
    process.exit(2);
  }
  await forward(listen, to);
  console.log(`forwarding ${listen} -> ${to}`);
  process.on('SIGTERM', () => process.exit(0));
}
