// The init containers that mount bpffs and cgroup2 on the host, in the agent's pod (the only
// mounter on a node: cilium-l7proxy sees its bpffs through HostToContainer).
import type { k8s } from 'cdk8s-plus-32';

/**
 * An init container that mounts a `type` filesystem (bpf, cgroup2) at `mount`'s path unless one is
 * there already (images/agent/mount-fs.sh). A failed mount fails the pod: the agent cannot work
 * without it, and the kubelet retries and reports it.
 */
export function mountInit(
  name: string,
  image: string,
  pullPolicy: string,
  type: string,
  mount: k8s.VolumeMount,
): k8s.Container {
  return {
    name,
    image,
    imagePullPolicy: pullPolicy,
    command: ['/usr/local/bin/mount-fs.sh', type, mount.mountPath],
    volumeMounts: [{ ...mount, mountPropagation: 'Bidirectional' }],
    // Bidirectional propagation needs a privileged container (API validation); it runs one mount.
    securityContext: { privileged: true, seLinuxOptions: { type: 'spc_t', level: 's0' } },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}
