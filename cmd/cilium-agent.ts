// cilium-agent: `cilium-agent --config-dir=/tmp/cilium/config-map [--kubeconfig PATH]
//   [--socket-path PATH] [--state-dir DIR] [--bpf-root DIR] [--node-name NAME] [--key=value …]`
// Node name from K8S_NODE_NAME (the DaemonSet sets it from spec.nodeName). The Hubble observer is
// embedded here: hubble/ sits above controllers/ in the layering, so the wiring lives in cmd/.
// A configuration value it cannot act on stops it at start-up with the key named; a key neither
// the agent nor Hubble reads (and that the shared ConfigMap does not hold for the operator) is
// logged as a warning (upstream ignores unknown keys in the config dir).
import { CONFIG_KEYS } from '../config/cilium-config.js';
import { Agent } from '../controllers/agent/agent.js';
import { AGENT_CONFIG_ERROR, agentOptions, type AgentOptions } from '../controllers/agent/config.js';
import { readProcess } from '../controllers/agent/startup-stages.js';
import {
  ConfigError,
  ConfigReader,
  formatError,
  loadConfig,
  useApiServerEndpoint,
} from '../controllers/framework/index.js';
import { HubbleError } from '../hubble/errors.js';
import { hubbleConfig, type HubbleConfig } from '../hubble/options.js';
import { HubbleServer } from '../hubble/server.js';
import { hubbleServerName } from '../hubble/tls.js';
import { AgentHubbleResolver, watchNodes } from './cilium-agent/hubble-views.js';

// the bundle has loaded and evaluated: the first reading of the start-up's clocks
const loaded = readProcess();
const config = new ConfigReader(loadConfig(process.argv.slice(2)), AGENT_CONFIG_ERROR);
let options: AgentOptions;
let hc: HubbleConfig;
try {
  options = agentOptions(config);
  hc = hubbleConfig(config.view);
} catch (e) {
  if (!(e instanceof ConfigError) && !(e instanceof HubbleError)) throw e;
  process.stderr.write(`cilium-agent: invalid configuration: ${formatError(e)}\n`);
  process.exit(1);
}
// Before any client exists: the in-cluster configuration reads these.
useApiServerEndpoint(options.apiServer);
const agent = new Agent(options);
for (const key of config.unknownKeys(CONFIG_KEYS.map((k) => k.key)))
  agent.manager.log.warn({ key }, 'unknown configuration key ignored');
if (hc.unsupportedMetrics.length)
  agent.manager.log.warn(
    { metrics: hc.unsupportedMetrics },
    'hubble-metrics: these metrics are not served by cilium-ts',
  );
const hubble = new HubbleServer({
  nodeName: agent.o.nodeName,
  resolver: new AgentHubbleResolver(agent),
  ringCapacity: hc.ringCapacity,
  metrics: hc.metricsSpec,
  lostEventsSource: () => {
    const l = agent.datapath.lostEvents();
    return l.rateLimited + l.ringFull;
  },
});
agent.datapath.onEvent((e) => hubble.observe(e));
// the L7 proxy's requests and responses: L7 flows, and the dns/http/httpV2 metrics they count
agent.l7.onEvent((e) => hubble.observer.observeL7(e));

const stop = () =>
  void Promise.allSettled([hubble.close(), agent.stop()]).then(
    () => process.exit(0),
    () => process.exit(1),
  );
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
try {
  await agent.start(loaded);
  if (hc.enabled) {
    await hubble.listen(hc.listen);
    const port = (hc.listen.tcp ?? ':4244').split(':').at(-1) || '4244';
    // with TLS, each peer's server name tells relay what that node's certificate must say
    const tls = (name: string) =>
      hc.listen.tls ? { tls: { server_name: hubbleServerName(name, agent.o.clusterName) } } : {};
    watchNodes(agent, (nodes) =>
      hubble.setPeers(nodes.map((n) => ({ name: n.name, address: `${n.ip}:${port}`, ...tls(n.name) }))),
    );
    agent.manager.log.info(
      { socket: hc.listen.unixSocket, tcp: hc.listen.tcp, tls: hc.listen.tls ? 'mutual' : 'disabled' },
      'hubble observer listening',
    );
    const watcher = hubble.tlsWatcher;
    if (watcher) {
      await watcher.refresh();
      // the Secret may come after the pod: handshakes fail until the files are there
      if (watcher.lastError)
        agent.manager.log.warn(
          { err: watcher.lastError, files: watcher.files },
          'hubble TLS certificates not readable yet: TCP clients are refused until they are',
        );
    }
  }
} catch (e) {
  agent.manager.log.fatal({ err: formatError(e) }, 'cilium-agent failed to start');
  process.exit(1);
}
