// cilium-operator: `cilium-operator --config-dir=/tmp/cilium/config-map [--kubeconfig PATH] [--key=value …]`
import { loadConfig } from '../controllers/framework/index.js';
import { createOperator, operatorOptions } from '../controllers/operator/operator.js';

const options = operatorOptions(loadConfig(process.argv.slice(2)));
const operator = createOperator(options);
await operator.start();
operator.log.info({ pool: options.clusterPoolIpv4Cidr, mask: options.clusterPoolIpv4MaskSize, health: operator.healthAddress }, 'cilium-operator started');
const stop = () => void operator.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
