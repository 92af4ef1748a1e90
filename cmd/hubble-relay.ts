// hubble-relay: `hubble-relay [serve] [--listen-address :4245] [--peer-service ADDR]
//   [--static-peer NAME=ADDR …] [--sort-buffer-len-max 100] [--sort-buffer-drain-timeout MS]
//   [--cluster-name NAME] [--tls-hubble-client-cert-file F --tls-hubble-client-key-file F
//    --tls-hubble-server-ca-files F…] [--disable-client-tls]`
// Finds nodes through an agent's Peer service (upstream: the hubble-peer Service) and serves the
// merged Observer API. Config may also come from HUBBLE_RELAY_* environment variables. As
// upstream, relay talks mTLS to the nodes unless --disable-client-tls (or
// HUBBLE_RELAY_DISABLE_CLIENT_TLS=true) says otherwise; then the three TLS files are required.
import { parseArgs } from 'node:util';
import { HubbleErrorCode, formatError } from '../hubble/errors.js';
import { HubbleRelay } from '../hubble/relay.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'listen-address': { type: 'string', default: process.env.HUBBLE_RELAY_LISTEN_ADDRESS ?? ':4245' },
    'peer-service': { type: 'string', default: process.env.HUBBLE_RELAY_PEER_SERVICE },
    'static-peer': { type: 'string', multiple: true, default: [] },
    'sort-buffer-len-max': { type: 'string' },
    'sort-buffer-drain-timeout': { type: 'string' },
    'cluster-name': { type: 'string', default: process.env.HUBBLE_RELAY_CLUSTER_NAME ?? 'default' },
    'tls-hubble-client-cert-file': { type: 'string' },
    'tls-hubble-client-key-file': { type: 'string' },
    'tls-hubble-server-ca-files': { type: 'string', multiple: true, default: [] },
    'disable-client-tls': { type: 'boolean' },
  },
});
// upstream's binary takes a `serve` subcommand (the install's manifests pass it); nothing else
if (positionals.length > 1 || (positionals[0] !== undefined && positionals[0] !== 'serve')) {
  process.stderr.write(
    `${HubbleErrorCode.BadArgs}: unknown command "${positionals.join(' ')}" (hubble-relay [serve] [flags])\n`,
  );
  process.exit(2);
}
const staticPeers = (values['static-peer'] ?? []).map((p) => {
  const i = p.indexOf('=');
  if (i <= 0) {
    process.stderr.write(`${HubbleErrorCode.BadArgs}: --static-peer wants NAME=ADDRESS, got "${p}"\n`);
    process.exit(2);
  }
  return { name: p.slice(0, i), address: p.slice(i + 1) };
});
if (!values['peer-service'] && !staticPeers.length) {
  process.stderr.write(
    `${HubbleErrorCode.BadArgs}: give --peer-service ADDR (an agent's Hubble address) or --static-peer NAME=ADDR\n`,
  );
  process.exit(2);
}
const disableTls =
  values['disable-client-tls'] ?? /^(true|1|yes)$/i.test(process.env.HUBBLE_RELAY_DISABLE_CLIENT_TLS ?? '');
const caFiles = values['tls-hubble-server-ca-files']!.flatMap((f) => f.split(',')).filter(Boolean);
if (
  !disableTls &&
  (!values['tls-hubble-client-cert-file'] || !values['tls-hubble-client-key-file'] || !caFiles.length)
) {
  process.stderr.write(
    `${HubbleErrorCode.BadArgs}: TLS to the nodes needs --tls-hubble-client-cert-file, --tls-hubble-client-key-file and --tls-hubble-server-ca-files (or --disable-client-tls)\n`,
  );
  process.exit(2);
}
const relay = new HubbleRelay({
  clusterName: values['cluster-name']!,
  ...(disableTls
    ? {}
    : {
        tls: {
          certFile: values['tls-hubble-client-cert-file']!,
          keyFile: values['tls-hubble-client-key-file']!,
          caFiles,
        },
      }),
  peerService: values['peer-service'],
  staticPeers,
  ...(values['sort-buffer-len-max'] ? { sortBufferSize: Number(values['sort-buffer-len-max']) } : {}),
  ...(values['sort-buffer-drain-timeout'] ? { sortBufferDrainMs: Number(values['sort-buffer-drain-timeout']) } : {}),
});
const addr = values['listen-address']!;
try {
  if (addr.startsWith('unix:')) await relay.listen({ unixSocket: addr.replace(/^unix:(\/\/)?/, '') });
  else await relay.listen({ tcp: addr });
} catch (e) {
  process.stderr.write(`${formatError(e)}\n`);
  process.exit(1);
}
process.stderr.write(
  `hubble-relay listening on ${relay.tcpAddress ?? addr} (to the nodes: ${disableTls ? 'plaintext' : 'mutual TLS'})\n`,
);
const stop = () => void relay.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
