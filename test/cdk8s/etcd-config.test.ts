// The external etcd in the install (etcd.enabled): the cilium-etcd-config ConfigMap's etcd.config
// is what the agent's own parser reads (endpoints, and with etcd.ssl the Secret's files), and the
// agent and the operator mount it and cilium-etcd-secrets where cilium-config's kvstore-opt says.
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { ETCD_CONFIG_FILE } from '../../cdk8s/cilium-config.js';
import { installManifests } from '../../cdk8s/install-chart.js';
import { parseEtcdConfig, parseKvstoreOpt } from '../../controllers/kvstore/options.js';

type Obj = { kind: string; metadata: { name: string }; data?: Record<string, string>; spec?: unknown };
interface PodSpec {
  securityContext?: { fsGroup?: number };
  containers: { name: string; volumeMounts: { name: string; mountPath: string }[] }[];
  volumes: { name: string; configMap?: { name: string }; secret?: { secretName: string; defaultMode: number } }[];
}
const find = (objs: Obj[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name);
const podSpec = (o: Obj | undefined) => (o?.spec as { template: { spec: PodSpec } }).template.spec;

describe('etcd.enabled in the install', () => {
  const on = installManifests({
    identityAllocationMode: 'kvstore',
    etcd: { enabled: true, endpoints: ['https://10.0.0.5:2379', 'https://10.0.0.6:2379'], ssl: true },
  }).map((m) => m.object as unknown as Obj);
  const off = installManifests().map((m) => m.object as unknown as Obj);

  it('cilium-etcd-config holds the etcd config file the agent parses', () => {
    const cm = find(on, 'ConfigMap', 'cilium-etcd-config');
    const cfg = parseEtcdConfig(cm!.data!['etcd.config']!);
    expect(cfg).toEqual({
      endpoints: ['https://10.0.0.5:2379', 'https://10.0.0.6:2379'],
      trustedCaFile: '/var/lib/etcd-secrets/etcd-client-ca.crt',
      keyFile: '/var/lib/etcd-secrets/etcd-client.key',
      certFile: '/var/lib/etcd-secrets/etcd-client.crt',
    });
    const config = find(on, 'ConfigMap', 'cilium-config')!.data!;
    expect([config.kvstore, parseKvstoreOpt(config['kvstore-opt']!), config['identity-allocation-mode']]).toEqual([
      'etcd',
      { 'etcd.config': ETCD_CONFIG_FILE },
      'kvstore',
    ]);
  });

  it('without etcd.ssl the file names no certificates; without etcd.enabled there is no ConfigMap', () => {
    const plain = installManifests({ etcd: { enabled: true, endpoints: ['http://10.0.0.5:2379'] } }).map(
      (m) => m.object as unknown as Obj,
    );
    const text = find(plain, 'ConfigMap', 'cilium-etcd-config')!.data!['etcd.config']!;
    expect(parse(text)).toEqual({ endpoints: ['http://10.0.0.5:2379'] });
    expect(find(off, 'ConfigMap', 'cilium-etcd-config')).toBeUndefined();
  });

  it('the agent and the operator mount the config and the Secret where kvstore-opt points', () => {
    for (const [kind, name, container, mode] of [
      ['DaemonSet', 'cilium', 'cilium-agent', 0o400],
      ['Deployment', 'cilium-operator', 'cilium-operator', 0o440],
    ] as const) {
      const spec = podSpec(find(on, kind, name));
      const mounts = spec.containers.find((c) => c.name === container)!.volumeMounts;
      const at = (path: string) => spec.volumes.find((v) => v.name === mounts.find((m) => m.mountPath === path)?.name);
      expect(at('/var/lib/etcd-config')?.configMap?.name).toBe('cilium-etcd-config');
      expect(at('/var/lib/etcd-secrets')?.secret).toMatchObject({
        secretName: 'cilium-etcd-secrets',
        defaultMode: mode,
      });
    }
    // the operator's non-root user reads the key through its group
    expect(podSpec(find(on, 'Deployment', 'cilium-operator')).securityContext?.fsGroup).toBe(65532);
  });
});
