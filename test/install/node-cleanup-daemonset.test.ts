// The cleanup DaemonSet `cilium uninstall` creates, built from the install's own agent DaemonSet:
// the same image and nodes, the host paths mounted where the agent has them, and the command
// pointed at those paths, for the default install and one with other paths and node selection.
import { describe, expect, it } from '@jest/globals';
import type { V1DaemonSet } from '@kubernetes/client-node';
import { installManifests } from '../../cdk8s/install-chart.js';
import type { ValuesOverride } from '../../cdk8s/values.js';
import { CLEANUP_NAME, cleanupDaemonSet } from '../../cmd/cilium/node-cleanup-daemonset.js';

const agentOf = (values: ValuesOverride) =>
  installManifests(values).find((m) => m.object.kind === 'DaemonSet' && m.object.metadata.name === 'cilium')!
    .object as unknown as V1DaemonSet;

describe('the post-uninstall cleanup DaemonSet', () => {
  it('runs cilium-dbg post-uninstall-cleanup with the agent image, host network and the agent’s mounts', () => {
    const agent = agentOf({});
    const ds = cleanupDaemonSet(agent, 'kube-system', ['10.0.0.0/8']);
    const spec = ds.spec!.template.spec!;
    const agentSpec = agent.spec!.template.spec!;
    const agentContainer = agentSpec.containers.find((c) => c.name === 'cilium-agent')!;
    expect(ds.metadata).toMatchObject({ name: CLEANUP_NAME, namespace: 'kube-system' });
    expect(spec.hostNetwork).toBe(true);
    expect(spec.tolerations).toEqual(agentSpec.tolerations);
    const [init] = spec.initContainers!;
    expect(init!.image).toBe(agentContainer.image);
    expect(init!.command).toEqual([
      'cilium-dbg',
      'post-uninstall-cleanup',
      '--bpf-root',
      '/sys/fs/bpf',
      '--cni-conf-dir',
      '/host/etc/cni/net.d',
      '--cni-bin-dir',
      '/host/opt/cni/bin',
      '--pod-pool',
      '10.0.0.0/8',
    ]);
    // each mounted volume is the agent's host path
    const hostPathOf = (s: typeof spec, name: string) => s.volumes!.find((v) => v.name === name)!.hostPath!.path;
    for (const m of init!.volumeMounts!) expect(hostPathOf(spec, m.name)).toBe(hostPathOf(agentSpec, m.name));
    expect(spec.volumes!.map((v) => v.name).sort()).toEqual(['bpf-maps', 'cni-path', 'etc-cni-netd']);
    expect(spec.containers.map((c) => c.command)).toEqual([['sleep', '2147483647']]);
  });

  it('follows the live agent DaemonSet: other host paths, another node selector', () => {
    const agent = agentOf({
      cni: { binPath: '/home/kubernetes/bin', confPath: '/etc/cni/conf.d' },
      bpf: { root: '/run/cilium/bpffs' },
    } as ValuesOverride);
    // as an admin may have edited it after the install
    agent.spec!.template.spec!.nodeSelector = { 'kubernetes.io/os': 'linux', pool: 'a' };
    const spec = cleanupDaemonSet(agent, 'cilium', []).spec!.template.spec!;
    expect(spec.nodeSelector).toEqual(agent.spec!.template.spec!.nodeSelector);
    expect(spec.initContainers![0]!.command).toContain('/run/cilium/bpffs');
    expect(spec.volumes!.map((v) => v.hostPath!.path).sort()).toEqual(
      ['/etc/cni/conf.d', '/home/kubernetes/bin', '/run/cilium/bpffs'].sort(),
    );
  });
});
