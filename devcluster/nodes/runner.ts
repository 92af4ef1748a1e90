// The kubelet-like runner of one node: watches the Pods bound to it (fieldSelector
// spec.nodeName=<node>), runs each as a PodSandbox, keeps the pod's status true (podIP, phase,
// conditions, containerStatuses), and on deletion (its finalizer holds the pod) stops the
// containers, calls CNI DEL, removes the namespace and lets the pod go.
import { Action, type KubeObject, type Manager, type ResourceRef } from '../../controllers/framework/index.js';
import type { NodeInfo } from './layout.js';
import { PodSandbox, type ContainerState, type PodLite, type SandboxDeps } from './sandbox.js';
import { NodesError, NodesErrorCode } from './errors.js';

export const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
export const RUNNER_FINALIZER = 'devcluster.cilium-ts.io/kubelet';

export interface RunnerDeps {
  runId: string;
  node: NodeInfo;
  /** The node's CNI network as it is now (undefined until the node has a CNI configuration). */
  network: SandboxDeps['network'];
  podsDir: string;
  /** Resolves volumes, env and mounts of a pod's containers (pod-launch.ts). */
  prepare?: SandboxDeps['prepare'];
  /** The cluster DNS written into pods' /etc/resolv.conf. */
  clusterDns?: SandboxDeps['clusterDns'];
  /** Runs pods' one-shot commands (the daemon's spawner); default: from this process. */
  exec?: SandboxDeps['exec'];
}

export const RUNNER_DEFAULTS = {
  /** Reconciles at once (status writes, starts begun, deletions); starts run beside them. */
  concurrency: 8,
  /**
   * Pod sandboxes starting at once on one node (namespace, CNI ADD, volumes, containers). A
   * kubelet has no such cap; here every start is a few processes on this machine (the CNI plugin
   * is a Node process), so a burst of 1,000 pods would fork 1,000 of them at once.
   */
  startConcurrency: 16,
  /** A pod whose sandbox failed is retried after this long. */
  retryMs: 2000,
};

type Pod = KubeObject & PodLite & { status?: Record<string, unknown> };

export class NodeRunner {
  readonly sandboxes = new Map<string, PodSandbox>();
  private readonly starting = new Map<string, Promise<PodSandbox>>();
  private readonly reportedRunning = new WeakSet<PodSandbox>();
  /** Sandboxes whose Started event is written. */
  private readonly announced = new WeakSet<PodSandbox>();
  /** Starts that failed, until the next reconcile reports them and retries. */
  private readonly failures = new Map<string, { uid: string; error: Error }>();
  private readonly slots = new Slots(RUNNER_DEFAULTS.startConcurrency);
  /** Uids whose deletion is being handled (cleanup). */
  private readonly deleted = new Set<string>();

  constructor(private readonly d: RunnerDeps) {}

  register(manager: Manager): void {
    const controller = manager.add<Pod>({
      name: `kubelet-${this.d.node.name}`,
      resource: PODS,
      watcher: { fieldSelector: `spec.nodeName=${this.d.node.name}` },
      finalizer: RUNNER_FINALIZER,
      concurrency: RUNNER_DEFAULTS.concurrency,
      reconcile: async (key, ctx) => {
        const pod = ctx.object;
        if (!pod) {
          // deleted without our cleanup (--force --grace-period=0): stop its containers now
          const orphan = this.sandboxes.get(key) ?? (await this.starting.get(key)?.catch(() => undefined));
          this.sandboxes.delete(key);
          await orphan?.stop(0);
          return Action.awaitChange();
        }
        const sb = this.sandboxes.get(key);
        if (!sb || sb.pod.metadata.uid !== pod.metadata.uid) {
          const failed = this.failures.get(key);
          if (failed && failed.uid === pod.metadata.uid) {
            this.failures.delete(key);
            const e = failed.error;
            const notReady = (e as { code?: string }).code === 'NODES_ERR_NETWORK_NOT_READY';
            await ctx.event('Warning', notReady ? 'NetworkNotReady' : 'FailedCreatePodSandBox', e.message);
            await ctx.patchStatus(this.pendingStatus(pod, e.message));
            return Action.requeue(RUNNER_DEFAULTS.retryMs);
          }
          // The start runs beside the workers, as a kubelet's pod workers start a node's pods in
          // parallel: a worker held for a whole start (CNI ADD, seconds under load) left only
          // `concurrency` pods starting at once and every status write queued behind them. Its end
          // queues the key again, and the next reconcile writes the status.
          this.begin(key, pod, () => controller.queue.add(key));
          return Action.awaitChange();
        }
        if (!this.announced.has(sb)) {
          this.announced.add(sb);
          await ctx.event(
            'Normal',
            'Started',
            `sandbox ${sb.netns} (${sb.podIP ?? 'no IP'}), started ${[...sb.containers.keys()].join(', ')}`,
          );
        }
        const status = this.status(pod, sb);
        await ctx.patchStatus(status);
        if (status.phase === 'Running' && !this.reportedRunning.has(sb)) {
          this.reportedRunning.add(sb);
          // The whole start as the API sees it, with the spawn step (hack/bench/pod-startup.ts reads these).
          console.log(
            JSON.stringify({
              event: 'pod-running',
              node: this.d.node.name,
              pod: key,
              runningMs: Date.now() - Date.parse(sb.createdAt),
              steps: Object.fromEntries(Object.entries(sb.timings).map(([k, v]) => [k, Math.round(v)])),
            }),
          );
        }
        return Action.awaitChange();
      },
      cleanup: async (pod) => {
        const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
        this.deleted.add(pod.metadata.uid); // a start still waiting for a slot does not begin
        const sb = this.sandboxes.get(key) ?? (await this.starting.get(key)?.catch(() => undefined));
        this.sandboxes.delete(key);
        this.failures.delete(key);
        this.deleted.delete(pod.metadata.uid);
        // graceful deletion: SIGTERM now, SIGKILL when the grace period ends. As the kubelet does, the
        // period (deletionGracePeriodSeconds) counts from when the deletion is seen: deletionTimestamp
        // has whole seconds only, so up to a second of the period would be lost by aiming at it.
        const graceSeconds = (pod.metadata as { deletionGracePeriodSeconds?: number }).deletionGracePeriodSeconds;
        const graceMs =
          graceSeconds !== undefined
            ? graceSeconds * 1000
            : Math.max(0, Date.parse(pod.metadata.deletionTimestamp ?? '') - Date.now() || 0);
        if (sb && sb.pod.metadata.uid === pod.metadata.uid) await sb.stop(graceMs);
      },
    });
  }

  /**
   * Starts the pod's sandbox once per uid (a re-created pod of the same name gets a new one) unless
   * a start is under way; at most `startConcurrency` at once. `onChange` is called when it is up or
   * failed (the failure waits in `failures` for the next reconcile) and whenever a container
   * starts or ends.
   */
  private begin(key: string, pod: Pod, onChange: () => void): void {
    if (this.starting.has(key)) return;
    const p = this.slots.run(async () => {
      if (this.deleted.has(pod.metadata.uid))
        throw new NodesError(NodesErrorCode.Start, `pod ${key} was deleted before its sandbox started`);
      const have = this.sandboxes.get(key);
      if (have) {
        this.sandboxes.delete(key);
        await have.stop();
      }
      const sb = new PodSandbox(pod, { ...this.d, onChange });
      const began = Date.now();
      await sb.start();
      this.sandboxes.set(key, sb);
      // One line per sandbox in daemon.log (hack/bench/cni-devcluster.ts reads the ADD times).
      console.log(
        JSON.stringify({
          event: 'sandbox-ready',
          node: this.d.node.name,
          pod: key,
          uid: pod.metadata.uid,
          podIP: sb.podIP,
          cniAddMs: sb.cniAddMs,
          // where the start went: the wait before this runner began it (creationTimestamp has whole
          // seconds only), then each step (sandbox.ts timings)
          waitedMs: began - Date.parse(pod.metadata.creationTimestamp ?? new Date(began).toISOString()),
          startMs: Date.now() - began,
          steps: Object.fromEntries(Object.entries(sb.timings).map(([k, v]) => [k, Math.round(v)])),
        }),
      );
      return sb;
    });
    this.starting.set(key, p);
    p.then(
      () => undefined,
      (e: unknown) => {
        this.failures.set(key, { uid: pod.metadata.uid, error: e as Error });
      },
    ).finally(() => {
      this.starting.delete(key);
      onChange();
    });
  }

  /** Pods on the pod network first (their CNI DEL needs the node's agent), then hostNetwork pods. */
  async stopAll(): Promise<void> {
    const all = [...this.sandboxes.values()];
    this.sandboxes.clear();
    await Promise.allSettled(all.filter((s) => !s.pod.spec.hostNetwork).map((s) => s.stop()));
    await Promise.allSettled(all.filter((s) => s.pod.spec.hostNetwork).map((s) => s.stop()));
  }

  private conditions(pod: Pod, ready: boolean, since: string, initialized = true): Record<string, unknown>[] {
    const old = (
      (pod.status?.conditions ?? []) as { type: string; status: string; lastTransitionTime?: string }[]
    ).reduce<Record<string, { status: string; lastTransitionTime?: string }>>((m, c) => ((m[c.type] = c), m), {});
    // A transition time changes only with the status (no needless status writes).
    const cond = (type: string, ok: boolean) => {
      const status = ok ? 'True' : 'False';
      const prev = old[type];
      return {
        type,
        status,
        lastTransitionTime: prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : since,
      };
    };
    return [
      cond('PodScheduled', true),
      cond('Initialized', initialized),
      cond('ContainersReady', ready),
      cond('Ready', ready),
    ];
  }

  private status(pod: Pod, sb: PodSandbox): Record<string, unknown> {
    const containers = [...sb.containers.values()];
    const initialized = containers.length > 0;
    const ready = initialized && containers.every((c) => c.ready);
    const phase = sb.phase();
    return {
      phase,
      podIP: sb.podIP,
      podIPs: sb.podIP ? [{ ip: sb.podIP }] : [],
      hostIP: this.d.node.ip,
      hostIPs: [{ ip: this.d.node.ip }],
      startTime: sb.createdAt,
      conditions: this.conditions(pod, ready && phase === 'Running', sb.createdAt, initialized),
      ...(pod.spec.initContainers?.length
        ? { initContainerStatuses: [...sb.initContainers.values()].map(containerStatus) }
        : {}),
      containerStatuses: containers.map(containerStatus),
    };
  }

  private pendingStatus(pod: Pod, message: string): Record<string, unknown> {
    const since = new Date().toISOString();
    return {
      phase: 'Pending',
      hostIP: this.d.node.ip,
      conditions: this.conditions(pod, false, since).map((c) =>
        c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, reason: 'SandboxFailed', message } : c,
      ),
    };
  }
}

/** One containerStatuses entry (containerID names the main process: devcluster://<pid>). */
function containerStatus(c: ContainerState): Record<string, unknown> {
  return {
    name: c.name,
    image: c.image,
    imageID: '',
    containerID: c.pid ? `devcluster://${c.pid}` : '',
    ready: c.ready,
    started: c.running,
    restartCount: c.restartCount,
    state: c.running
      ? { running: { startedAt: c.startedAt } }
      : {
          terminated: {
            exitCode: c.exitCode ?? 0,
            reason: c.exitCode === 0 ? 'Completed' : 'Error',
            startedAt: c.startedAt,
            finishedAt: c.finishedAt,
          },
        },
    ...(c.lastTermination ? { lastState: { terminated: c.lastTermination } } : {}),
  };
}

/** At most `size` tasks at once; the others wait in order. */
class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
