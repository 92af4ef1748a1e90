// The node cleanup step of `cilium uninstall` (upstream's agent has `cilium-dbg
// post-uninstall-cleanup`): once the agents are gone, a short-lived DaemonSet runs that command on
// every node the agent ran on, with the agent's image, node selection and host mounts; the CLI waits
// until every node reports it done, then deletes the DaemonSet. It is a separate step, not a preStop
// hook, because a preStop also fires on an agent restart or upgrade, which must keep the node's
// datapath as it is.
import type {
  KubeConfig,
  KubernetesObject,
  V1DaemonSet,
  V1Pod,
  V1PodSpec,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { KubernetesObjectApi } from '@kubernetes/client-node';

export const CLEANUP_NAME = 'cilium-post-uninstall-cleanup';
const CLEANUP_LABELS = { 'k8s-app': CLEANUP_NAME, 'app.kubernetes.io/part-of': 'cilium' };
/** The agent DaemonSet's volumes the cleanup needs (cdk8s/agent.ts names them). */
const VOLUMES = { bpf: 'bpf-maps', cniBin: 'cni-path', cniConf: 'etc-cni-netd' } as const;

export interface NodeCleanupStepOptions {
  /** How long to wait for the agents to be gone and then for every node's cleanup. */
  timeoutMs?: number;
  log?: (line: string) => void;
}

export const NODE_CLEANUP_DEFAULTS: Required<Omit<NodeCleanupStepOptions, 'log'>> = { timeoutMs: 180_000 };

/**
 * The cleanup DaemonSet for an installed agent DaemonSet: the same image, nodes (selector,
 * tolerations) and host paths, mounted where the agent had them, so that the command sees the
 * node as the agent saw it. `podPools` is cilium-config's `cluster-pool-ipv4-cidr`.
 */
export function cleanupDaemonSet(agent: V1DaemonSet, namespace: string, podPools: string[]): V1DaemonSet {
  const spec = agent.spec!.template.spec!;
  const container = spec.containers.find((c) => c.name === 'cilium-agent') ?? spec.containers[0]!;
  const mounts = [
    ...(container.volumeMounts ?? []),
    ...(spec.initContainers ?? []).flatMap((c) => c.volumeMounts ?? []),
  ];
  const mountOf = (volume: string): V1VolumeMount => {
    const m = mounts.find((x) => x.name === volume);
    if (!m) throw new Error(`the cilium DaemonSet mounts no volume ${volume}: cannot clean its nodes`);
    return {
      name: m.name,
      mountPath: m.mountPath,
      ...(m.mountPropagation ? { mountPropagation: m.mountPropagation } : {}),
    };
  };
  const volumeMounts = Object.values(VOLUMES).map(mountOf);
  const [bpf, cniBin, cniConf] = volumeMounts as [V1VolumeMount, V1VolumeMount, V1VolumeMount];
  const podSpec: V1PodSpec = {
    hostNetwork: true,
    automountServiceAccountToken: false,
    ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
    ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
    ...(spec.affinity ? { affinity: spec.affinity } : {}),
    ...(spec.imagePullSecrets ? { imagePullSecrets: spec.imagePullSecrets } : {}),
    ...(spec.priorityClassName ? { priorityClassName: spec.priorityClassName } : {}),
    terminationGracePeriodSeconds: 1,
    initContainers: [
      {
        name: 'cleanup',
        image: container.image,
        ...(container.imagePullPolicy ? { imagePullPolicy: container.imagePullPolicy } : {}),
        command: [
          'cilium-dbg',
          'post-uninstall-cleanup',
          '--bpf-root',
          bpf.mountPath,
          '--cni-conf-dir',
          cniConf.mountPath,
          '--cni-bin-dir',
          cniBin.mountPath,
          '--pod-pool',
          podPools.join(','),
        ],
        // tc, links, routes and bpffs of the node: what the agent itself may do
        securityContext: { privileged: true },
        volumeMounts,
      },
    ],
    // a DaemonSet's pod must keep running: this one only reports the cleanup as done (Ready)
    containers: [
      {
        name: 'done',
        image: container.image,
        ...(container.imagePullPolicy ? { imagePullPolicy: container.imagePullPolicy } : {}),
        command: ['sleep', '2147483647'],
      },
    ],
    volumes: (spec.volumes ?? []).filter((v) => (Object.values(VOLUMES) as string[]).includes(v.name)),
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: CLEANUP_NAME, namespace, labels: CLEANUP_LABELS },
    spec: {
      selector: { matchLabels: CLEANUP_LABELS },
      template: { metadata: { labels: CLEANUP_LABELS }, spec: podSpec },
    },
  };
}

const isNotFound = (err: unknown) => (err as { code?: number }).code === 404;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pods(api: KubernetesObjectApi, namespace: string, selector: string): Promise<V1Pod[]> {
  const list = await api.list<V1Pod>('v1', 'Pod', namespace, undefined, undefined, undefined, undefined, selector);
  return list.items;
}

/**
 * Runs the cleanup on every node of the (already deleted) agent DaemonSet: waits for the agents to
 * be gone, creates the cleanup DaemonSet, waits until each of its pods' cleanup exited 0, deletes
 * it. Returns the cleaned nodes; throws naming the nodes that did not finish.
 */
export async function runNodeCleanup(
  kc: KubeConfig,
  namespace: string,
  agent: V1DaemonSet,
  podPools: string[],
  o: NodeCleanupStepOptions = {},
): Promise<string[]> {
  const timeoutMs = o.timeoutMs ?? NODE_CLEANUP_DEFAULTS.timeoutMs;
  const api = kc.makeApiClient(KubernetesObjectApi);
  const deadline = Date.now() + timeoutMs;
  const agentSelector = Object.entries(agent.spec!.selector.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  // a live agent would put back what the cleanup removes (cni-exclusive, its pins)
  while ((await pods(api, namespace, agentSelector)).length > 0) {
    if (Date.now() > deadline) throw new Error(`the cilium agent pods did not go away within ${timeoutMs} ms`);
    await sleep(500);
  }
  const ds = cleanupDaemonSet(agent, namespace, podPools);
  await api.create(ds as KubernetesObject).catch(async (err: unknown) => {
    // a cleanup DaemonSet left by an interrupted uninstall: replace it
    if ((err as { code?: number }).code !== 409) throw err;
    await api.delete(ds as KubernetesObject);
    await sleep(1000);
    await api.create(ds as KubernetesObject);
  });
  o.log?.(`daemonset.apps/${CLEANUP_NAME} created (cilium-dbg post-uninstall-cleanup on every node)`);
  const selector = Object.entries(CLEANUP_LABELS)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  let done: string[] = [];
  let pending: string[] = ['(no pod yet)'];
  try {
    for (;;) {
      const live = await api.read<V1DaemonSet>({
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        metadata: { name: CLEANUP_NAME, namespace },
      });
      const desired = live.status?.desiredNumberScheduled ?? -1;
      const all = await pods(api, namespace, selector);
      const cleaned = (p: V1Pod) =>
        p.status?.initContainerStatuses?.find((c) => c.name === 'cleanup')?.state?.terminated?.exitCode === 0;
      done = all.filter(cleaned).map((p) => p.spec?.nodeName ?? p.metadata!.name!);
      pending = all.filter((p) => !cleaned(p)).map((p) => p.spec?.nodeName ?? p.metadata!.name!);
      if (desired >= 0 && done.length >= desired && pending.length === 0) break;
      if (Date.now() > deadline)
        throw new Error(
          `node cleanup did not finish within ${timeoutMs} ms on ${pending.join(', ') || 'unscheduled nodes'} ` +
            `(kubectl -n ${namespace} logs -c cleanup -l k8s-app=${CLEANUP_NAME})`,
        );
      await sleep(500);
    }
    for (const n of done.sort()) o.log?.(`node ${n} cleaned`);
  } finally {
    await api
      .delete(ds as KubernetesObject, undefined, undefined, undefined, undefined, 'Background')
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    o.log?.(`daemonset.apps/${CLEANUP_NAME} deleted`);
  }
  return done;
}
