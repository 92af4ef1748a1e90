// `k8s-service-host` / `k8s-service-port` (Helm k8sServiceHost / k8sServicePort): the API server
// address the agent and the operator use instead of the kubelet-injected ClusterIP, which nothing
// translates before the agent runs on a cluster without kube-proxy.
import { describe, expect, it } from '@jest/globals';
import { CONFIG_DEFAULTS } from '../../../config/cilium-config.js';
import { agentOptions } from '../../../controllers/agent/config.js';
import { operatorOptions } from '../../../controllers/operator/config.js';
import {
  ConfigError,
  ConfigReader,
  apiServerEndpoint,
  useApiServerEndpoint,
} from '../../../controllers/framework/index.js';

const reader = (config: Record<string, string>) =>
  new ConfigReader(config, 'TEST_ERR_CONFIG').withKeyDefaults(CONFIG_DEFAULTS);

describe('k8s-service-host / k8s-service-port', () => {
  it.each([
    [{}, undefined],
    [
      { 'k8s-service-host': '172.18.0.2', 'k8s-service-port': '6443' },
      { host: '172.18.0.2', port: 6443 },
    ],
    [{ 'k8s-service-host': 'api.example.internal' }, { host: 'api.example.internal', port: 443 }],
  ])('%j → %j', (config, expected) => {
    expect(apiServerEndpoint(reader(config))).toEqual(expected);
  });

  it.each([
    [{ 'k8s-service-port': '6443' }, 'k8s-service-port'],
    [{ 'k8s-service-host': 'https://10.0.0.1' }, 'k8s-service-host'],
    [{ 'k8s-service-host': '10.0.0.1', 'k8s-service-port': '70000' }, 'k8s-service-port'],
  ])('%j is refused, naming %s', (config, key) => {
    expect(() => apiServerEndpoint(reader(config))).toThrow(ConfigError);
    expect(() => apiServerEndpoint(reader(config))).toThrow(key);
  });

  it('both the agent and the operator read it', () => {
    const config = { 'k8s-service-host': '172.18.0.2', 'k8s-service-port': '6443', 'cluster-name': 'c' };
    expect(agentOptions(config, { K8S_NODE_NAME: 'n1' }).apiServer).toEqual({ host: '172.18.0.2', port: 6443 });
    expect(operatorOptions(config, {}).apiServer).toEqual({ host: '172.18.0.2', port: 6443 });
  });

  it('replaces the kubelet-injected KUBERNETES_SERVICE_HOST/PORT the in-cluster client reads', () => {
    const env: NodeJS.ProcessEnv = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    useApiServerEndpoint(undefined, env);
    expect(env).toEqual({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' });
    useApiServerEndpoint({ host: '172.18.0.2', port: 6443 }, env);
    expect(env).toEqual({ KUBERNETES_SERVICE_HOST: '172.18.0.2', KUBERNETES_SERVICE_PORT: '6443' });
  });
});
