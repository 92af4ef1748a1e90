import { describe, expect, it } from '@jest/globals';
import { ciliumConfigData } from '../../cdk8s/cilium-config.js';
import { CONFIG_KEYS, configKeysOf } from '../../config/cilium-config.js';
import { DEFAULT_VALUES, resolveValues, valueLeaves } from '../../cdk8s/values.js';

describe('install values', () => {
  it('defaults follow upstream where upstream has the value', () => {
    expect(DEFAULT_VALUES.ipam).toEqual({
      mode: 'cluster-pool',
      operator: { clusterPoolIPv4PodCIDRList: ['10.0.0.0/8'], clusterPoolIPv4MaskSize: 24 },
    });
    expect(DEFAULT_VALUES.operator.replicas).toBe(2);
    expect(DEFAULT_VALUES.identityAllocationMode).toBe('crd');
    expect(DEFAULT_VALUES.bpf.ctTcpMax).toBe(524288);
    expect(DEFAULT_VALUES.bpf.policyMapMax).toBe(16384);
    expect(DEFAULT_VALUES.hubble.eventBufferCapacity).toBe(4095);
    expect([
      DEFAULT_VALUES.healthPort,
      DEFAULT_VALUES.prometheus.port,
      DEFAULT_VALUES.operator.healthPort,
      DEFAULT_VALUES.operator.prometheus.port,
    ]).toEqual([9879, 9962, 9234, 9963]);
    expect([DEFAULT_VALUES.hubble.peerService.targetPort, DEFAULT_VALUES.hubble.relay.listenPort]).toEqual([
      4244, 4245,
    ]);
  });

  it('every value has a description and a default', () => {
    for (const { path, schema } of valueLeaves()) {
      expect({ path, description: typeof schema.description }).toEqual({ path, description: 'string' });
      expect({ path, hasDefault: schema.default !== undefined }).toEqual({ path, hasDefault: true });
    }
  });

  it('an override is deep-merged and arrays are replaced', () => {
    const v = resolveValues({
      operator: { replicas: 3 },
      ipam: { operator: { clusterPoolIPv4PodCIDRList: ['10.200.0.0/16', '10.201.0.0/16'] } },
    });
    expect(v.operator.replicas).toBe(3);
    expect(v.operator.prometheus.port).toBe(9963);
    expect(v.ipam.operator.clusterPoolIPv4PodCIDRList).toEqual(['10.200.0.0/16', '10.201.0.0/16']);
    expect(v.ipam.operator.clusterPoolIPv4MaskSize).toBe(24);
    expect(DEFAULT_VALUES.operator.replicas).toBe(2);
  });

  it('a bad value is refused with the path and the reason', () => {
    expect(() => resolveValues({ operator: { replicas: 0 } })).toThrow(/\/operator\/replicas/);
    expect(() => resolveValues({ identityAllocationMode: 'etcd' } as never)).toThrow(/identityAllocationMode/);
    expect(() => resolveValues({ healthPort: 70000 })).toThrow(/healthPort/);
    expect(() => resolveValues({ operator: { identityGCInterval: 'soon' } })).toThrow(/identityGCInterval/);
    expect(() => resolveValues({ nope: 1 } as never)).toThrow(/invalid install values/);
  });
});

describe('cilium-config', () => {
  it('has upstream key names with values derived from the defaults', () => {
    expect(ciliumConfigData(DEFAULT_VALUES)).toMatchObject({
      'cluster-name': 'default',
      'identity-allocation-mode': 'crd',
      ipam: 'cluster-pool',
      'cluster-pool-ipv4-cidr': '10.0.0.0/8',
      'cluster-pool-ipv4-mask-size': '24',
      'enable-hubble': 'true',
      'hubble-listen-address': ':4244',
      'hubble-metrics': '',
      'prometheus-serve-addr': ':9962',
      'operator-prometheus-serve-addr': ':9963',
      'enable-policy': 'default',
      'bpf-ct-global-tcp-max': '524288',
    });
  });

  it('switches and lists change exactly their keys', () => {
    const base = ciliumConfigData(DEFAULT_VALUES);
    const changed = ciliumConfigData(
      resolveValues({
        prometheus: { enabled: false },
        hubble: { metrics: { enabled: ['dns', 'drop'] } },
        ipam: { operator: { clusterPoolIPv4PodCIDRList: ['10.1.0.0/16', '10.2.0.0/16'] } },
      }),
    );
    const diff = Object.keys(base).filter((k) => base[k] !== changed[k]);
    expect(diff.sort()).toEqual([
      'cluster-pool-ipv4-cidr',
      'hubble-metrics',
      'hubble-metrics-server',
      'ipv4-native-routing-cidr', // defaults to the pool's first CIDR
      'prometheus-serve-addr',
    ]);
    expect(changed['ipv4-native-routing-cidr']).toBe('10.1.0.0/16');
    expect(changed['prometheus-serve-addr']).toBe('');
    expect(changed['hubble-metrics']).toBe('dns drop');
    expect(changed['hubble-metrics-server']).toBe(':9965');
    expect(changed['cluster-pool-ipv4-cidr']).toBe('10.1.0.0/16 10.2.0.0/16');
  });

  it('every key is read by the agent or the operator, and keys are unique', () => {
    const keys = CONFIG_KEYS.map((k) => k.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set([...configKeysOf('agent'), ...configKeysOf('operator')])).toEqual(new Set(keys));
    expect(configKeysOf('operator')).toEqual(
      expect.arrayContaining(['cluster-pool-ipv4-cidr', 'identity-gc-interval', 'operator-prometheus-serve-addr']),
    );
    expect(configKeysOf('agent')).not.toContain('cluster-pool-ipv4-cidr');
  });
});
