// cilium-operator: `cilium-operator --config-dir=/tmp/cilium/config-map [--kubeconfig PATH] [--key=value …]`
// A configuration value it cannot act on stops it at start-up with the key named; a key it does
// not know (and that the shared ConfigMap does not hold for the agent) is logged as a warning
// (upstream ignores unknown keys in the config dir).
import { CONFIG_KEYS } from '../config/cilium-config.js';
import { CRDS, buildCrd } from '../crds/index.js';
import {
  ConfigError,
  ConfigReader,
  ensureCrds,
  formatError,
  loadConfig,
  useApiServerEndpoint,
  type KubeObject,
} from '../controllers/framework/index.js';
import { OPERATOR_CONFIG_ERROR, operatorOptions, type OperatorOptions } from '../controllers/operator/config.js';
import { createOperator } from '../controllers/operator/operator.js';
import { OperatorKvstore } from '../controllers/operator/kvstore-duties.js';

const config = new ConfigReader(loadConfig(process.argv.slice(2)), OPERATOR_CONFIG_ERROR);
let options: OperatorOptions;
try {
  options = operatorOptions(config);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  process.stderr.write(`cilium-operator: invalid configuration: ${formatError(e)}\n`);
  process.exit(1);
}
// Before any client exists: the in-cluster configuration reads these.
useApiServerEndpoint(options.apiServer);
const operator = createOperator(options);
for (const key of config.unknownKeys(CONFIG_KEYS.map((k) => k.key)))
  operator.log.warn({ key }, 'unknown configuration key ignored');
// Upstream's operator registers the CRDs too (unless skip-crd-creation): whoever starts first installs them.
if (!options.skipCrdCreation) {
  await ensureCrds(
    operator.client,
    CRDS.map((d) => buildCrd(d) as KubeObject),
    operator.log,
  );
}
await operator.start();
// kvstore mode: the heartbeat and the kvstore identity GC (controllers/operator/kvstore-duties.ts).
const kvstore = options.kvstore
  ? new OperatorKvstore({
      kvstore: options.kvstore,
      identityGcIntervalMs: options.gc.identityGcIntervalMs,
      log: operator.log,
    })
  : undefined;
kvstore?.start();
operator.log.info(
  {
    pool: options.clusterPoolIpv4Cidr,
    mask: options.clusterPoolIpv4MaskSize,
    health: operator.healthAddress,
    metrics: operator.metricsAddress,
  },
  'cilium-operator started',
);
const stop = () => void Promise.all([operator.stop(), kvstore?.stop()]).then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
