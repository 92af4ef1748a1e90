// hubble-ui: `hubble-ui [--listen-address :8081] [--relay ADDR] [--kubeconfig FILE] [--base-url /]`
// The service map and flow table in the browser, fed by hubble-relay (gRPC) and the API server.
// Environment (upstream's names where it has them): FLOWS_API_ADDR (relay), HUBBLE_UI_LISTEN_ADDRESS,
// HUBBLE_UI_BASE_URL, KUBECONFIG.
import { parseArgs } from 'node:util';
import { KubeClient } from '../controllers/framework/index.js';
import { ClusterReader } from '../hubble-ui/cluster-state.js';
import { HubbleUiErrorCode } from '../hubble-ui/errors.js';
import { defaultHubbleUiOptions } from '../hubble-ui/options.js';
import { HubbleUiServer } from '../hubble-ui/server.js';

const USAGE = `usage: hubble-ui [flags]
  --listen-address ADDR   where the page is served (default $HUBBLE_UI_LISTEN_ADDRESS, else ${defaultHubbleUiOptions.listen})
  --relay ADDR            hubble-relay, host:port or unix:///path (default $FLOWS_API_ADDR, else ${defaultHubbleUiOptions.relayAddress})
  --kubeconfig FILE       the API server (default $KUBECONFIG, else in-cluster)
  --base-url PATH         serve under a sub-path (default $HUBBLE_UI_BASE_URL, else /)`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      'listen-address': { type: 'string', default: process.env.HUBBLE_UI_LISTEN_ADDRESS },
      relay: { type: 'string', default: process.env.FLOWS_API_ADDR },
      kubeconfig: { type: 'string', default: process.env.KUBECONFIG },
      'base-url': { type: 'string', default: process.env.HUBBLE_UI_BASE_URL },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (e) {
  process.stderr.write(`${HubbleUiErrorCode.BadArgs}: ${(e as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const baseUrl = values['base-url'] ? `/${values['base-url'].replace(/^\/+|\/+$/g, '')}/`.replace('//', '/') : '/';

let cluster: ClusterReader | undefined;
try {
  const client = values.kubeconfig ? KubeClient.fromFile(values.kubeconfig) : new KubeClient();
  cluster = new ClusterReader(client, defaultHubbleUiOptions.clusterStateTtlMs);
} catch (e) {
  process.stderr.write(`hubble-ui: no API server (${(e as Error).message}): no namespaces list, no explanations\n`);
}
const server = new HubbleUiServer(cluster, {
  ...(values['listen-address'] ? { listen: values['listen-address'] } : {}),
  ...(values.relay ? { relayAddress: values.relay } : {}),
  baseUrl,
});
try {
  const url = await server.listen();
  process.stderr.write(`hubble-ui listening on ${url} (relay ${server.options.relayAddress})\n`);
} catch (e) {
  const code = (e as { code?: string }).code ?? HubbleUiErrorCode.Listen;
  process.stderr.write(`${code}: ${(e as Error).message}\n`);
  process.exit(1);
}
const stop = (): void => void server.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
