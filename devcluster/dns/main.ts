// The cluster DNS server, as the container of the devcluster's kube-dns Deployment runs it
// (manifest.ts): in-cluster credentials (the pod's ServiceAccount token), UDP and TCP on
// `--listen-address` (default 0.0.0.0:53).
//
//   node build/devcluster/dns/main.js [--listen-address HOST:PORT] [--zone cluster.local]
import { parseArgs } from 'node:util';
import { KubeClient } from '../../controllers/framework/index.js';
import { CLUSTER_DNS_DEFAULTS, ClusterDns } from './cluster-dns.js';

const { values } = parseArgs({
  options: {
    'listen-address': { type: 'string', default: '0.0.0.0:53' },
    zone: { type: 'string', default: CLUSTER_DNS_DEFAULTS.zone },
  },
});
const addr = values['listen-address']!;
const i = addr.lastIndexOf(':');
const dns = new ClusterDns({
  client: new KubeClient(),
  host: addr.slice(0, i) || '0.0.0.0',
  port: Number(addr.slice(i + 1)),
  zone: values.zone!,
});
const port = await dns.start();
console.log(`cluster-dns serving ${values.zone} on ${addr.slice(0, i) || '0.0.0.0'}:${port} (udp, tcp)`);
const stop = () => void dns.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
