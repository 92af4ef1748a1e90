// cilium-l7proxy: `cilium-l7proxy --config-dir=/tmp/cilium/config-map [--socket-path PATH] [--l7proxy-health-port=9878] [--key=value …]`
// The node's L7 proxies (HTTP and DNS) in their own process, a second container of the agent's
// pod (docs/design.md decision 30), so they keep serving while the agent restarts. It reads the
// agent's cilium-config (the same keys: ports, bpf-root, socket-path), listens transparently on
// the proxy ports, and takes its rules from the agent over `<dir of socket-path>/l7proxy.sock`
// (controllers/agent/l7/agent-link.ts), keeping the last ones while the agent is away. The agent
// sets up the node routing the redirect needs; this process only holds the sockets.
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { AGENT_CONFIG_ERROR, agentOptions, pinRoot, type AgentOptions } from '../controllers/agent/config.js';
import { AgentLink } from '../controllers/agent/l7/agent-link.js';
import { L7_CHANNEL_SOCKET, L7_STATE_FILE } from '../controllers/agent/l7/l7-channel.js';
import { L7Proxies, reuseportAssign } from '../controllers/agent/l7/proxies.js';
import { ConfigError, ConfigReader, formatError, loadConfig } from '../controllers/framework/index.js';
import { ProxyMap } from '../datapath/proxy-map.js';

const log = pino({ name: 'cilium-l7proxy', level: process.env.LOG_LEVEL ?? 'info' });
const config = new ConfigReader(loadConfig(process.argv.slice(2)), AGENT_CONFIG_ERROR);
let options: AgentOptions;
try {
  options = agentOptions(config);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  process.stderr.write(`cilium-l7proxy: invalid configuration: ${formatError(e)}\n`);
  process.exit(1);
}
if (!options.l7Proxy || options.datapath !== 'kernel') {
  process.stderr.write(
    'cilium-l7proxy: enable-l7-proxy is false or the datapath is not the kernel one: nothing to serve\n',
  );
  process.exit(1);
}

// the last state is kept beside the socket (the hostPath run dir), for a restart while the agent is away
const link = new AgentLink(log, {
  socketPath: join(dirname(options.socketPath), L7_CHANNEL_SOCKET),
  stateFile: join(dirname(options.socketPath), L7_STATE_FILE),
});
// where redirected DNS datagrams were going: the pinned map the datapath writes, read here directly
const proxyMap = new ProxyMap(pinRoot(options));
const proxies = new L7Proxies(
  {
    log,
    endpointByIp: link.endpointByIp,
    identityOf: link.identityOf,
    l7Rules: link.l7Rules,
    dns: { udpOriginal: (source, port) => proxyMap.udpOriginal(source, port), beforeRelease: link.beforeRelease },
  },
  // the agent owns the routing; this process runs in the node's namespace (hostNetwork). The
  // agent listens on the same ports where the kernel allows a reuseport group (decision 34).
  { enabled: true, manageRouting: false, procfs: options.procfs, reuseport: reuseportAssign() },
);
proxies.onEvent(link.onL7Event);

// Readiness (the DaemonSet's probe, as upstream's cilium-envoy on 127.0.0.1:9878/healthz): 200
// once this process listens and holds rules from the agent. Its own port: the proxy ports answer
// for the agent's listeners too (one reuseport group), so a probe there could not tell them apart.
let listening = false;
const healthPort = config.int('l7proxy-health-port', 9878, { min: 0, max: 65535 });
const health = createServer((req, res) => {
  const ok = listening && link.stats.states > 0;
  res.writeHead(req.url === '/healthz' ? (ok ? 200 : 503) : 404, { 'content-type': 'text/plain' });
  res.end(ok ? 'ok\n' : listening ? 'no rules from the agent yet\n' : 'not listening yet\n');
});
health.on('error', (e) => log.error({ err: e.message, port: healthPort }, 'the health endpoint cannot listen'));
if (healthPort > 0) health.listen(healthPort, '127.0.0.1');

const stop = () => {
  health.close();
  link.close();
  void proxies.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// Rules first, then the sockets: a query answered before the first state would be refused (no
// rules: fail closed), one that finds no socket is dropped and sent again by the client. With no
// agent to send a state, serve anyway after a while (everything refused until one comes).
// A saved state (a restart while the agent is away) shortens the wait for the agent: a live agent
// sends its state within milliseconds, and the saved one may be older than its last change.
link.start();
const waitMs = link.stats.restored ? 2_000 : 10_000;
await Promise.race([link.ready, new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
await proxies.start();
const problem = proxies.problem();
if (problem) {
  log.fatal({ err: problem }, 'cilium-l7proxy could not listen');
  process.exit(1);
}
listening = true;
log.info({ socket: join(dirname(options.socketPath), L7_CHANNEL_SOCKET) }, 'cilium-l7proxy serving');
