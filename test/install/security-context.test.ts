// The agent pod's securityContext in dist/install.yaml: no privileged container, a seccomp
// profile on every container, read-only root filesystems with every path the container writes
// mounted, allowPrivilegeEscalation false wherever Kubernetes allows it (not next to an added
// SYS_ADMIN, which it refuses — upstream leaves it unset on the agent too).
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { byKey, parseManifests, type KubeObject } from './kube-schema.js';
import { REPO } from './tools.js';

type Container = {
  name: string;
  securityContext?: {
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    seccompProfile?: { type: string };
    capabilities?: { add?: string[]; drop?: string[] };
  };
  command?: string[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; mountPropagation?: string }[];
  env?: { name: string; value?: string }[];
};
type PodSpec = {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: { seccompProfile?: { type: string } };
  volumes: { name: string; emptyDir?: unknown; hostPath?: { path: string } }[];
};

const objects = parseManifests(readFileSync(join(REPO, 'dist', 'install.yaml'), 'utf8'));
const agentPod = (
  (byKey(objects).get('DaemonSet kube-system/cilium') as KubeObject).spec as { template: { spec: PodSpec } }
).template.spec;
const all = [...(agentPod.initContainers ?? []), ...agentPod.containers];
const byName = (n: string) => all.find((c) => c.name === n)!;
const mountedAt = (c: Container, path: string) =>
  (c.volumeMounts ?? []).some((m) => !m.readOnly && (path === m.mountPath || path.startsWith(`${m.mountPath}/`)));

describe('the agent pod’s securityContext', () => {
  it('has the agent, the CNI installer and the two mount init containers', () => {
    expect(all.map((c) => c.name).sort()).toEqual(['cilium-agent', 'install-cni', 'mount-bpf-fs', 'mount-cgroup']);
  });

  it('only the mount init containers are privileged: Kubernetes requires it for their Bidirectional mount', () => {
    for (const c of all) {
      const bidirectional = (c.volumeMounts ?? []).filter((m) => m.mountPropagation === 'Bidirectional');
      expect([c.name, c.securityContext?.privileged === true]).toEqual([c.name, bidirectional.length > 0]);
      if (bidirectional.length) expect(c.command?.[0]).toBe('/usr/local/bin/mount-fs.sh');
    }
  });

  it.each(['cilium-agent', 'install-cni'])('%s: not privileged, seccomp RuntimeDefault, read-only root', (name) => {
    const sc = byName(name).securityContext!;
    expect(sc.privileged).toBe(false);
    expect(sc.seccompProfile ?? agentPod.securityContext?.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.capabilities?.drop).toEqual(['ALL']);
  });

  it('install-cni cannot escalate; the agent has no SYS_ADMIN-incompatible escalation setting', () => {
    expect(byName('install-cni').securityContext!.allowPrivilegeEscalation).toBe(false);
    const agent = byName('cilium-agent').securityContext!;
    // Kubernetes rejects allowPrivilegeEscalation: false with capabilities.add SYS_ADMIN.
    expect(agent.capabilities?.add).toContain('SYS_ADMIN');
    expect(agent.allowPrivilegeEscalation).toBeUndefined();
  });

  it('every path the agent writes is a writable mount', () => {
    const agent = byName('cilium-agent');
    // the REST/Hubble sockets and state files, bpffs pins, scratch
    for (const path of ['/var/run/cilium/cilium.sock', '/var/run/cilium/state', '/sys/fs/bpf', '/tmp'])
      expect([path, mountedAt(agent, path)]).toEqual([path, true]);
    const tmp = agentPod.volumes.find((v) => v.name === 'tmp');
    expect(tmp?.emptyDir).toBeDefined();
  });

  it('install-cni writes only into its two host directories (temporary files included)', () => {
    const c = byName('install-cni');
    const dirs = ['CNI_BIN_DIR', 'CNI_CONF_DIR'].map((k) => c.env!.find((e) => e.name === k)!.value!);
    for (const d of dirs) expect([d, mountedAt(c, d)]).toEqual([d, true]);
  });
});
