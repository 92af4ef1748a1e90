import { describe, expect, it } from '@jest/globals';
import { CONFIG_DIR } from '../../cdk8s/cilium-config.js';
import { configKeysOf } from '../../config/cilium-config.js';
import { processLaunch } from '../../cdk8s/process-launch.js';

describe('process launch read back from the manifests', () => {
  it('the agent: its argv, its node name from the pod, and every key it reads in its config dir', () => {
    const l = processLaunch('cilium-agent');
    expect(l.argv).toEqual(['cilium-agent', `--config-dir=${CONFIG_DIR}`]);
    expect(l.configDir).toBe(CONFIG_DIR);
    expect(l.env.K8S_NODE_NAME).toEqual({ fieldPath: 'spec.nodeName' });
    expect(Object.keys(l.config)).toEqual(expect.arrayContaining(configKeysOf('agent')));
  });

  it('the operator reads the same ConfigMap, with the values given', () => {
    const l = processLaunch('cilium-operator', {
      operator: { identityGCInterval: '1m' },
      ipam: { operator: { clusterPoolIPv4PodCIDRList: ['10.10.0.0/16'] } },
    });
    expect(l.argv).toEqual(['cilium-operator', `--config-dir=${CONFIG_DIR}`]);
    expect(Object.keys(l.config)).toEqual(expect.arrayContaining(configKeysOf('operator')));
    expect(l.config).toMatchObject({ 'identity-gc-interval': '1m', 'cluster-pool-ipv4-cidr': '10.10.0.0/16' });
  });

  it('relay has no config dir, and a disabled relay has no launch', () => {
    const l = processLaunch('hubble-relay', {}, 'cilium');
    expect(l.argv).toEqual([
      'hubble-relay',
      'serve',
      '--peer-service=hubble-peer.cilium.svc.cluster.local:443',
      '--listen-address=:4245',
      '--cluster-name=default',
      // mutual TLS to the agents, with the Secret hubble-relay-client-certs mounted there
      '--tls-hubble-client-cert-file=/var/lib/hubble-relay/tls/client.crt',
      '--tls-hubble-client-key-file=/var/lib/hubble-relay/tls/client.key',
      '--tls-hubble-server-ca-files=/var/lib/hubble-relay/tls/hubble-server-ca.crt',
    ]);
    expect(l.configDir).toBeUndefined();
    expect(() => processLaunch('hubble-relay', { hubble: { relay: { enabled: false } } })).toThrow(
      /no hubble-relay container/,
    );
  });
});
