// cilium-agent: `cilium-agent --config-dir=/tmp/cilium/config-map [--kubeconfig PATH]
//   [--socket-path PATH] [--state-dir DIR] [--bpf-root DIR] [--node-name NAME] [--key=value …]`
// Node name from K8S_NODE_NAME (the DaemonSet sets it from spec.nodeName).
import { Agent } from '../controllers/agent/agent.js';
import { agentOptions } from '../controllers/agent/config.js';
import { loadConfig } from '../controllers/framework/index.js';

const agent = new Agent(agentOptions(loadConfig(process.argv.slice(2))));
const stop = () => void agent.stop().then(() => process.exit(0), () => process.exit(1));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
try {
  await agent.start();
} catch (e) {
  agent.manager.log.fatal({ err: (e as Error).message }, 'cilium-agent failed to start');
  process.exit(1);
}
