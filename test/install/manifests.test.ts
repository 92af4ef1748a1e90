// dist/install.yaml: every object validates against the Kubernetes schemas, and the agent,
// operator and relay have the shape the design asks for.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type KubeObject, byKey, parseManifests, validateObject } from './kube-schema.js';
import { REPO } from './tools.js';

const objects = parseManifests(readFileSync(join(REPO, 'dist', 'install.yaml'), 'utf8'));
const get = (key: string): KubeObject => {
  const o = byKey(objects).get(key);
  if (!o) throw new Error(`dist/install.yaml has no ${key}`);
  return o;
};
type Container = {
  name: string;
  ports?: { name: string; containerPort: number }[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string }[];
  [k: string]: unknown;
};
type PodSpec = {
  containers: Container[];
  initContainers?: Container[];
  volumes: { name: string; hostPath?: { path: string } }[];
  [k: string]: unknown;
};
const podSpec = (o: KubeObject) => (o.spec as { template: { spec: PodSpec } }).template.spec;

describe('dist/install.yaml', () => {
  it('every object validates against the Kubernetes schemas', async () => {
    const models = new Set<string>();
    for (const o of objects) models.add(await validateObject(o));
    expect(objects.length).toBeGreaterThanOrEqual(24);
    expect([...models].sort()).toEqual(
      expect.arrayContaining([
        'apps/v1/DaemonSet',
        'apps/v1/Deployment',
        'v1/ConfigMap',
        'v1/Service',
        'policy/v1/PodDisruptionBudget',
        'apiextensions.k8s.io/v1/CustomResourceDefinition',
      ]),
    );
  });

  it('a broken object does not validate (the check can fail)', async () => {
    const ds = structuredClone(get('DaemonSet kube-system/cilium'));
    podSpec(ds).containers[0]!.ports![0]!.containerPort = 'health' as never;
    await expect(validateObject(ds)).rejects.toThrow(/containerPort must be integer/);
  });

  it('names and kinds are unique, namespaced objects are in kube-system', () => {
    expect(byKey(objects).size).toBe(objects.length);
    const clusterScoped = new Set(['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding']);
    for (const o of objects)
      expect({ k: o.kind, ns: o.metadata.namespace }).toEqual({
        k: o.kind,
        ns: clusterScoped.has(o.kind) ? undefined : 'kube-system',
      });
  });

  it('the agent DaemonSet: host network, capabilities not privileged, mounts, CNI init container, probes on 9879', () => {
    const spec = podSpec(get('DaemonSet kube-system/cilium'));
    expect(spec.hostNetwork).toBe(true);
    expect(spec.tolerations).toEqual([{ operator: 'Exists' }]);
    const agent = spec.containers.find((c) => c.name === 'cilium-agent')!;
    expect(agent.securityContext).toMatchObject({ privileged: false, capabilities: { drop: ['ALL'] } });
    expect((agent.securityContext!.capabilities as { add: string[] }).add).toEqual(
      expect.arrayContaining(['NET_ADMIN', 'SYS_ADMIN', 'BPF', 'PERFMON', 'SYS_RESOURCE', 'NET_RAW']),
    );
    expect(agent.volumeMounts!.map((m) => m.mountPath)).toEqual(
      expect.arrayContaining(['/sys/fs/bpf', '/var/run/cilium', '/host/etc/cni/net.d', '/tmp/cilium/config-map']),
    );
    expect(spec.volumes.filter((v) => v.hostPath).map((v) => v.hostPath!.path)).toEqual(
      expect.arrayContaining(['/sys/fs/bpf', '/var/run/cilium', '/opt/cni/bin', '/etc/cni/net.d']),
    );
    // liveness and start-up on /healthz (stuck controllers); readiness on /readyz (datapath programmed)
    for (const probe of ['livenessProbe', 'startupProbe'])
      expect(agent[probe]).toMatchObject({ httpGet: { host: '127.0.0.1', port: 9879, path: '/healthz' } });
    expect(agent.readinessProbe).toMatchObject({ httpGet: { host: '127.0.0.1', port: 9879, path: '/readyz' } });
    // the host's sysctls, writable through procfs=/host/proc
    expect(agent.volumeMounts!.map((m) => m.mountPath)).toEqual(
      expect.arrayContaining(['/host/proc/sys/net', '/host/proc/sys/kernel']),
    );
    // bpffs and cgroup2 mounted on the node by init containers, before the agent, as upstream
    expect(spec.initContainers!.map((c) => c.name)).toEqual(['mount-bpf-fs', 'mount-cgroup', 'install-cni']);
    for (const [name, type, path] of [
      ['mount-bpf-fs', 'bpf', '/sys/fs/bpf'],
      ['mount-cgroup', 'cgroup2', '/run/cilium/cgroupv2'],
    ] as const) {
      const c = spec.initContainers!.find((i) => i.name === name)!;
      expect(c.command).toEqual(['/usr/local/bin/mount-fs.sh', type, path]);
      expect(c.volumeMounts).toEqual([expect.objectContaining({ mountPath: path, mountPropagation: 'Bidirectional' })]);
    }
    expect(agent.resources).toMatchObject({ requests: { cpu: '100m', memory: '512Mi' } });
    expect(agent.args).toEqual(['--config-dir=/tmp/cilium/config-map']);
    const init = spec.initContainers!.find((c) => c.name === 'install-cni')!;
    expect(init.volumeMounts!.map((m) => m.mountPath).sort()).toEqual([
      '/host/etc/cni/net.d',
      '/host/opt/cni/bin',
      '/host/root',
    ]);
    // The host's / is there only for the host check (images/agent/install-cni.sh), read-only.
    expect(init.volumeMounts!.find((m) => m.mountPath === '/host/root')).toEqual({
      name: 'host-root',
      mountPath: '/host/root',
      readOnly: true,
    });
    expect(spec.volumes!.find((v) => v.name === 'host-root')).toEqual({
      name: 'host-root',
      hostPath: { path: '/', type: 'Directory' },
    });
    // The wrapper written into the host's CNI bin dir must point at host paths, not the container's.
    expect(init.env).toEqual(
      expect.arrayContaining([
        { name: 'CNI_BIN_DIR', value: '/host/opt/cni/bin' },
        { name: 'CNI_RUNTIME_DIR', value: '/opt/cni/bin' },
        { name: 'HOST_ROOT', value: '/host/root' },
      ]),
    );
    expect(get('DaemonSet kube-system/cilium').spec).toMatchObject({
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } },
    });
  });

  it('the operator: 2 replicas on different nodes, probes on 9234, a PodDisruptionBudget', () => {
    const dep = get('Deployment kube-system/cilium-operator');
    expect((dep.spec as { replicas: number }).replicas).toBe(2);
    const spec = podSpec(dep);
    expect(spec.affinity).toMatchObject({
      podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname' }] },
    });
    const c = spec.containers[0]!;
    expect(c.livenessProbe).toMatchObject({ httpGet: { port: 9234, path: '/healthz' } });
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(get('PodDisruptionBudget kube-system/cilium-operator').spec).toMatchObject({ maxUnavailable: 1 });
  });

  it('services: hubble-peer 443→4244, hubble-relay 4245, metrics 9962 and 9963', () => {
    const ports = (k: string) =>
      (get(k).spec as { ports: { port: number; targetPort: number | string }[] }).ports.map((p) => [
        p.port,
        p.targetPort,
      ]);
    expect(ports('Service kube-system/hubble-peer')).toEqual([[443, 4244]]);
    expect(ports('Service kube-system/hubble-relay')).toEqual([[4245, 'grpc']]);
    expect(ports('Service kube-system/cilium-agent')).toEqual([[9962, 'prometheus']]);
    expect(ports('Service kube-system/cilium-operator')).toEqual([[9963, 'prometheus']]);
    const relay = podSpec(get('Deployment kube-system/hubble-relay'));
    expect(relay.automountServiceAccountToken).toBe(false);
    expect(relay.containers[0]!.args).toEqual([
      'serve',
      '--peer-service=hubble-peer.kube-system.svc.cluster.local:443',
      '--listen-address=:4245',
      '--cluster-name=default',
      // mutual TLS to the agents, with the Secret hubble-relay-client-certs mounted there
      '--tls-hubble-client-cert-file=/var/lib/hubble-relay/tls/client.crt',
      '--tls-hubble-client-key-file=/var/lib/hubble-relay/tls/client.key',
      '--tls-hubble-server-ca-files=/var/lib/hubble-relay/tls/hubble-server-ca.crt',
    ]);
  });

  it('each RBAC rule carries a comment saying why', () => {
    const text = readFileSync(join(REPO, 'dist', 'install.yaml'), 'utf8');
    const rules = objects
      .filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')
      .flatMap((o) => o.rules as unknown[]);
    expect(text.match(/^ {2}# why: \S.*$/gm)?.length).toBe(rules.length);
  });
});
