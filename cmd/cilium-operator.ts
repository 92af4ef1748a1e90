// cilium-operator: `cilium-operator --config-dir=/tmp/cilium/config-map [--kubeconfig PATH] [--key=value …]`
import { CRDS, buildCrd } from '../crds/index.js';
import { ensureCrds, loadConfig, type KubeObject } from '../controllers/framework/index.js';
import { createOperator, operatorOptions } from '../controllers/operator/operator.js';

const options = operatorOptions(loadConfig(process.argv.slice(2)));
const operator = createOperator(options);
// Upstream's operator registers the CRDs too (unless skip-crd-creation): whoever starts first installs them.
if (loadConfig(process.argv.slice(2))['skip-crd-creation'] !== 'true') {
  await ensureCrds(operator.client, CRDS.map((d) => buildCrd(d) as KubeObject), operator.log);
}
await operator.start();
operator.log.info({ pool: options.clusterPoolIpv4Cidr, mask: options.clusterPoolIpv4MaskSize, health: operator.healthAddress }, 'cilium-operator started');
const stop = () => void operator.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
