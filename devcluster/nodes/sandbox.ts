// One pod on a node, as a container runtime keeps it: a network namespace (the sandbox) wired by
// the CNI plugin (hostNetwork pods: the node's namespace), and each container's `command`+`args`
// as a host process inside that namespace and, when the runner prepared them, in a mount
// namespace of its own with the pod's volumes and the image's paths (mounts.ts, volumes.ts,
// image.ts) and the kubelet's environment (container-env.ts). Without an image a container
// without a command runs `sleep infinity`, like a pause container. Init containers run in order
// to completion first; containers are restarted by the pod's restartPolicy.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inCgroup, nodeCgroup } from './cgroups.js';
import type { Conflist } from './cni-install.js';
import { cniAdd, cniDel } from './cni-runtime.js';
import { ContainerLogWriter } from './container-log.js';
import { ReadinessProber, type NamedPort, type ProbeSpec } from './probes.js';
import { NODES_DEFAULTS, netnsPath, podNetnsName, type NodeInfo } from './layout.js';
import { type BindMount, quote, withMounts } from './mounts.js';
import type { EnvVarSpec } from './container-env.js';
import type { VolumeMountSpec, VolumeSpec } from './volumes.js';
import { NodesError, NodesErrorCode } from './errors.js';
import { runOneShot, type OneShot } from './one-shot.js';
import { podResolvConf, type ClusterDnsConfig, type PodDnsSpec } from './resolv-conf.js';

export interface ContainerSpecLite {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVarSpec[];
  workingDir?: string;
  ports?: NamedPort[];
  readinessProbe?: ProbeSpec;
  startupProbe?: ProbeSpec;
  volumeMounts?: VolumeMountSpec[];
}

export interface PodSpecLite {
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  /** hostNetwork pods run in the node's namespace with the node's address: no sandbox, no CNI. */
  hostNetwork?: boolean;
  initContainers?: ContainerSpecLite[];
  containers: ContainerSpecLite[];
  volumes?: VolumeSpec[];
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  dnsPolicy?: string;
  dnsConfig?: PodDnsSpec['dnsConfig'];
}

export interface PodLite {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: PodSpecLite;
}

/** How one container is started: its environment and its mount namespace's binds. */
export interface ContainerLaunch {
  env: NodeJS.ProcessEnv;
  mounts: BindMount[];
}

/** What the runner resolved for a pod: each container's launch, and what to release when the pod stops. */
export interface PreparedPod {
  containers: Map<string, ContainerLaunch>;
  /** Stops what keeps the pod's volumes current (projected token rotation). */
  stop(): void;
}

/** The node's CNI set-up as a runtime finds it: plugin directory, conflist, the node's view to run it in. */
export interface NodeNetwork {
  binDir: string;
  conflist: Conflist;
  mounts?: BindMount[];
  cniPath?: string;
}

export interface ContainerState {
  name: string;
  image: string;
  pid?: number;
  restartCount: number;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  running: boolean;
  /** Running and, with a readinessProbe, passing it. */
  ready: boolean;
  /** Restarts since the container last ran longer than backoffResetMs (picks the backoff). */
  backoffStep: number;
  /** How the previous run of a restarted container ended (lastState.terminated). */
  lastTermination?: { exitCode: number; reason: string; startedAt?: string; finishedAt?: string };
}

export interface SandboxDeps {
  runId: string;
  node: NodeInfo;
  /** The node's CNI network; undefined while the node's network is not ready (no conflist yet). */
  network: () => NodeNetwork | undefined;
  podsDir: string;
  /**
   * Resolves every container's environment and mounts (volumes, token, image) once the pod's IP is
   * known; absent: the host's mount namespace and the literal `env` values only.
   */
  prepare?: (pod: PodLite, podIP: string, podDir: string) => Promise<PreparedPod>;
  /** Called when a container starts or ends (the runner then refreshes the pod's status). */
  onChange: () => void;
  /** The cluster DNS pods resolve names with (the kubelet's --cluster-dns and --cluster-domain). */
  clusterDns?: ClusterDnsConfig;
  /**
   * Runs the pod's one-shot commands (`ip netns`, the CNI plugin): the nodes daemon passes its
   * spawner (spawner-client.ts) so that their forks copy a small process off its event loop;
   * default: from this process.
   */
  exec?: OneShot;
}

export const SANDBOX_DEFAULTS = {
  /** The first restart of a container that ended (the kubelet restarts it at its next sync). */
  restartDelayMs: 1000,
  /** Later restarts back off as the kubelet's CrashLoopBackOff: 10 s, doubling, at most 5 min. */
  backoffInitialMs: 10_000,
  /**
   * The longest back-off; as the kubelet's crashLoopBackOff.maxContainerRestartPeriod (KEP-4603),
   * which also caps the first step. KTS_DEVCLUSTER_MAX_CONTAINER_RESTART_PERIOD_MS sets it for soak
   * runs that kill a container many times (hack/restart-soak.ts).
   */
  backoffMaxMs: Number(process.env.KTS_DEVCLUSTER_MAX_CONTAINER_RESTART_PERIOD_MS || 300_000),
  /** A container that ran this long before it ended starts over with an immediate restart. */
  backoffResetMs: 600_000,
  stopGraceMs: 2000,
};

/** The delay before restart number `step` (0: the first). */
export function restartDelay(step: number): number {
  if (step === 0) return SANDBOX_DEFAULTS.restartDelayMs;
  return Math.min(SANDBOX_DEFAULTS.backoffInitialMs * 2 ** (step - 1), SANDBOX_DEFAULTS.backoffMaxMs);
}

/** `ip ARGS` through `exec`; throws with ip's own message when it fails. */
async function ip(exec: OneShot, args: string[]): Promise<void> {
  const r = await exec({ file: 'ip', args });
  if (r.code !== 0)
    throw new NodesError(
      NodesErrorCode.Spawner,
      `ip ${args.join(' ')}: ${r.error ?? (r.stderr.trim() || `exit ${r.code ?? r.signal}`)}`,
    );
}

export class PodSandbox {
  readonly netns: string;
  readonly netnsPath: string;
  readonly containers = new Map<string, ContainerState>();
  /** Init containers' states, in order (initContainerStatuses). */
  readonly initContainers = new Map<string, ContainerState>();
  private readonly procs = new Map<string, ChildProcess>();
  private readonly probers = new Map<string, ReadinessProber>();
  private cniResult?: Record<string, unknown>;
  /** The network the pod was wired with (DEL goes through the same plugin). */
  private network?: NodeNetwork;
  private launches = new Map<string, ContainerLaunch>();
  private prepared?: PreparedPod;
  podIP?: string;
  /** How long CNI ADD took as the runtime sees it (process start to exit), for benchmarks. */
  cniAddMs?: number;
  /** Milliseconds of each start step (netns, cniAdd, etc, prepare, spawn), for the runner's log and benchmarks. */
  readonly timings: Record<string, number> = {};
  readonly createdAt = new Date().toISOString();
  private stopping = false;
  /** The pod's directory on the node: container logs, the managed etc-hosts and etc-hostname. */
  readonly dir: string;

  constructor(
    readonly pod: PodLite,
    private readonly d: SandboxDeps,
  ) {
    this.netns = pod.spec.hostNetwork ? d.node.netns : podNetnsName(d.runId, pod.metadata.uid);
    this.netnsPath = netnsPath(this.netns);
    this.dir = join(d.podsDir, `${pod.metadata.namespace}_${pod.metadata.name}`);
  }

  private get exec(): OneShot {
    return this.d.exec ?? runOneShot;
  }

  private cniCall(network: NodeNetwork) {
    const m = this.pod.metadata;
    return {
      exec: this.exec,
      binDir: network.binDir,
      conflist: network.conflist,
      ...(network.mounts ? { mounts: network.mounts } : {}),
      ...(network.cniPath ? { cniPath: network.cniPath } : {}),
      nodeNetns: netnsPath(this.d.node.netns),
      // The pod uid: not hex, as some runtimes' sandbox ids are not; the plugin must cope.
      containerId: m.uid,
      netns: this.netnsPath,
      ifName: NODES_DEFAULTS.podIfName,
      args: {
        IgnoreUnknown: '1',
        K8S_POD_NAMESPACE: m.namespace,
        K8S_POD_NAME: m.name,
        K8S_POD_INFRA_CONTAINER_ID: m.uid,
      },
    };
  }

  /**
   * Creates the namespace, runs CNI ADD, runs the init containers, starts the containers. Undoes
   * the namespace on a failed ADD. Pods on the pod network wait (throw NetworkNotReady) until the
   * node's CNI configuration exists, as the kubelet does; hostNetwork pods do not.
   */
  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    if (this.pod.spec.hostNetwork) this.podIP = this.d.node.ip;
    else {
      const network = this.d.network();
      if (!network)
        throw new NodesError(
          NodesErrorCode.NetworkNotReady,
          `network is not ready: no CNI configuration on ${this.d.node.name} yet`,
        );
      // Never a synchronous exec here: the daemon's one event loop also carries every node's API
      // traffic (the apiserver bridge) and every other pod's start.
      const t0 = performance.now();
      await ip(this.exec, ['netns', 'add', this.netns]);
      this.timings.netns = performance.now() - t0;
      const started = performance.now();
      try {
        this.cniResult = await cniAdd(this.cniCall(network), (o) => {
          this.timings.cniSpawn = o.spawnMs ?? 0;
          this.timings.cniExit = o.exitMs ?? 0;
        });
        this.network = network;
        this.cniAddMs = performance.now() - started;
        this.timings.cniAdd = this.cniAddMs;
      } catch (e) {
        // Like a runtime: a failed ADD is followed by DEL, then the sandbox goes.
        await cniDel(this.cniCall(network)).catch(() => undefined);
        await ip(this.exec, ['netns', 'del', this.netns]).catch(() => undefined);
        throw e;
      }
      const ips = (this.cniResult.ips ?? []) as { address: string }[];
      this.podIP = ips[0]?.address.split('/')[0];
    }
    const t = performance.now();
    this.writeEtcFiles();
    if (this.d.prepare)
      try {
        this.prepared = await this.d.prepare(this.pod, this.podIP ?? '', this.dir);
        this.launches = this.prepared.containers;
        this.timings.prepare = performance.now() - t;
      } catch (e) {
        // nothing runs yet: undo the network so that the retry starts from scratch
        await this.stop(0).catch(() => undefined);
        throw e;
      }
    void this.run();
  }

  /** Init containers one by one (a failed one is retried unless restartPolicy is Never), then the containers. */
  private async run(): Promise<void> {
    for (const c of this.pod.spec.initContainers ?? []) {
      for (;;) {
        if (this.stopping) return;
        const code = await this.startContainer(c, this.initContainers).exited;
        if (code === 0) break;
        if (this.pod.spec.restartPolicy === 'Never') return;
        await new Promise((r) => setTimeout(r, SANDBOX_DEFAULTS.restartDelayMs));
      }
    }
    if (this.stopping) return;
    const t = performance.now();
    for (const c of this.pod.spec.containers) this.startContainer(c, this.containers);
    this.timings.spawn = performance.now() - t;
    this.d.onChange();
  }

  /**
   * The argv that runs `cmd` inside a running container (`kubectl exec`, `devcluster exec`): the
   * pod's network namespace and the container's own mount and UTS namespaces.
   */
  execArgv(container: string, cmd: string[]): string[] {
    const pid = this.containers.get(container)?.pid;
    const own = pid
      ? [`--mount=/proc/${pid}/ns/mnt`, ...(this.pod.spec.hostNetwork ? [] : [`--uts=/proc/${pid}/ns/uts`])]
      : [];
    // in the node's cgroup too, as the container's own processes (the node's socket-LB serves them)
    const [bin, args] = inCgroup(nodeCgroup(this.d.runId, this.d.node.name), [
      'nsenter',
      `--net=${this.netnsPath}`,
      ...own,
      '--',
      ...cmd,
    ]);
    return [bin, ...args];
  }

  /**
   * The argv that starts `cmd` as this container: the pod's network namespace; a UTS namespace with
   * the pod's hostname (hostNetwork pods keep the node's); a mount namespace of its own with the
   * pod's volumes and the /etc/hostname and /etc/hosts the kubelet manages (writeEtcFiles). Every
   * step execs, so the child's pid is the container's main process.
   */
  containerArgv(container: string, cmd: string[]): string[] {
    const etc: BindMount[] = [
      { source: join(this.dir, 'etc-hostname'), target: '/etc/hostname' },
      { source: join(this.dir, 'etc-hosts'), target: '/etc/hosts' },
      ...(this.resolvConf ? [{ source: join(this.dir, 'etc-resolv.conf'), target: '/etc/resolv.conf' }] : []),
    ];
    const mounts = [...(this.launches.get(container)?.mounts ?? []), ...etc];
    // One unshare for both namespaces and the hostname written by the mount script's shell (the
    // UTS namespace's /proc/sys/kernel/hostname): every process saved is saved per container.
    const uts = this.pod.spec.hostNetwork
      ? {}
      : { uts: true, prelude: [`printf %s ${quote(this.hostname())} > /proc/sys/kernel/hostname`] };
    return ['nsenter', `--net=${this.netnsPath}`, '--', ...withMounts(mounts, cmd, uts)];
  }

  private startContainer(c: ContainerSpecLite, states: Map<string, ContainerState>): { exited: Promise<number> } {
    const prev = states.get(c.name);
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    const cmd = argv.length ? argv : ['sleep', 'infinity'];
    const launch = this.launches.get(c.name);
    const env: NodeJS.ProcessEnv = launch?.env ?? {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: '/root',
      HOSTNAME: this.pod.metadata.name,
    };
    env.POD_IP ??= this.podIP ?? '';
    if (!launch) for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    // Own process group: stopping the pod kills whatever the command forked. nsenter, unshare and
    // the mount script all exec: the child's pid is the container's main process.
    // A working directory of the container's view exists only inside it: cd there in the view.
    const inDir = launch && c.workingDir ? ['sh', '-c', 'cd "$0" && exec "$@"', c.workingDir, ...cmd] : cmd;
    // Inside the node's cgroup, where the node agent's socket-LB programs are attached.
    const [exe, rest] = inCgroup(nodeCgroup(this.d.runId, this.d.node.name), this.containerArgv(c.name, inDir));
    const child = spawn(exe, rest, {
      cwd: launch ? '/' : (c.workingDir ?? this.dir),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const state: ContainerState = {
      name: c.name,
      image: c.image ?? '',
      running: true,
      ready: !c.readinessProbe && !c.startupProbe,
      restartCount: prev ? prev.restartCount + (prev.running ? 0 : 1) : 0,
      backoffStep: prev?.backoffStep ?? 0,
      startedAt: new Date().toISOString(),
      ...(prev && !prev.running
        ? {
            lastTermination: {
              exitCode: prev.exitCode ?? 0,
              reason: prev.exitCode === 0 ? 'Completed' : 'Error',
              ...(prev.startedAt ? { startedAt: prev.startedAt } : {}),
              ...(prev.finishedAt ? { finishedAt: prev.finishedAt } : {}),
            },
          }
        : prev?.lastTermination
          ? { lastTermination: prev.lastTermination }
          : {}),
      ...(child.pid ? { pid: child.pid } : {}),
    };
    states.set(c.name, state);
    new ContainerLogWriter(this.dir, c.name, state.restartCount).attach(child.stdout, child.stderr);
    this.procs.set(c.name, child);
    this.probers.get(c.name)?.stop();
    const target = () => ({ netnsPath: this.netnsPath, podIP: this.podIP ?? '127.0.0.1', ports: c.ports ?? [] });
    const readiness = () => {
      if (!c.readinessProbe) {
        state.ready = state.running;
        return this.d.onChange();
      }
      const prober = new ReadinessProber(c.readinessProbe, target, () => {
        state.ready = state.running && prober.ready;
        this.d.onChange();
      });
      this.probers.set(c.name, prober);
      prober.start();
    };
    // As the kubelet: readiness is probed only once the startupProbe succeeded.
    if (c.startupProbe) {
      const startup = new ReadinessProber(c.startupProbe, target, () => {
        if (!startup.ready || this.probers.get(c.name) !== startup) return;
        startup.stop();
        readiness();
      });
      this.probers.set(c.name, startup);
      startup.start();
    } else if (c.readinessProbe) readiness();
    const init = states === this.initContainers;
    const exited = new Promise<number>((resolveExit) => {
      child.on('error', () => undefined);
      child.on('exit', (code, signal) => {
        state.running = false;
        state.ready = false;
        this.probers.get(c.name)?.stop();
        state.exitCode = code ?? (signal ? 128 + (signal === 'SIGKILL' ? 9 : 15) : 1);
        state.finishedAt = new Date().toISOString();
        if (this.procs.get(c.name) === child) this.procs.delete(c.name);
        this.d.onChange();
        resolveExit(state.exitCode);
        if (init) return; // run() decides
        const policy = this.pod.spec.restartPolicy ?? 'Always';
        if (this.stopping || policy === 'Never' || (policy === 'OnFailure' && state.exitCode === 0)) return;
        const ran = Date.parse(state.finishedAt) - Date.parse(state.startedAt ?? state.finishedAt);
        if (ran >= SANDBOX_DEFAULTS.backoffResetMs) state.backoffStep = 0;
        const delay = restartDelay(state.backoffStep++);
        setTimeout(() => {
          if (!this.stopping) {
            this.startContainer(c, states);
            this.d.onChange();
          }
        }, delay).unref();
      });
    });
    return { exited };
  }

  /** spec.hostname, else the pod's name (at most 63 characters); the node's name on the host network. */
  private hostname(): string {
    const spec = this.pod.spec as { hostname?: string };
    if (this.pod.spec.hostNetwork) return this.d.node.name;
    return (spec.hostname ?? this.pod.metadata.name).slice(0, 63);
  }

  /** The pod's own /etc/resolv.conf, when its dnsPolicy does not keep the node's. */
  private resolvConf?: string;

  /** /etc/hostname, /etc/hosts and /etc/resolv.conf as the kubelet writes them for a pod. */
  private writeEtcFiles(): void {
    this.resolvConf = podResolvConf(
      {
        namespace: this.pod.metadata.namespace,
        ...(this.pod.spec.hostNetwork ? { hostNetwork: true } : {}),
        ...(this.pod.spec.dnsPolicy ? { dnsPolicy: this.pod.spec.dnsPolicy } : {}),
        ...(this.pod.spec.dnsConfig ? { dnsConfig: this.pod.spec.dnsConfig } : {}),
      },
      this.d.clusterDns,
    );
    if (this.resolvConf) writeFileSync(join(this.dir, 'etc-resolv.conf'), this.resolvConf);
    writeFileSync(join(this.dir, 'etc-hostname'), `${this.hostname()}\n`);
    const hosts = this.pod.spec.hostNetwork
      ? `# Kubernetes-managed hosts file (host network).\n${readFileSync('/etc/hosts', 'utf8')}`
      : [
          '# Kubernetes-managed hosts file.',
          '127.0.0.1\tlocalhost',
          '::1\tlocalhost ip6-localhost ip6-loopback',
          'fe00::0\tip6-localnet',
          'fe00::0\tip6-mcastprefix',
          'fe00::1\tip6-allnodes',
          'fe00::2\tip6-allrouters',
          `${this.podIP ?? ''}\t${this.hostname()}`,
          '',
        ].join('\n');
    writeFileSync(join(this.dir, 'etc-hosts'), hosts);
  }

  /**
   * Stops the containers (TERM, then KILL to the group once graceMs passed: the pod's
   * deletionTimestamp), CNI DEL, removes the namespace.
   */
  async stop(graceMs: number = SANDBOX_DEFAULTS.stopGraceMs): Promise<void> {
    this.stopping = true;
    this.prepared?.stop();
    for (const p of this.probers.values()) p.stop();
    const procs = [...this.procs.values()];
    const group = (sig: NodeJS.Signals) => {
      for (const p of procs) {
        try {
          if (p.pid) process.kill(-p.pid, sig);
        } catch {
          // exited
        }
      }
    };
    group('SIGTERM');
    const deadline = Date.now() + graceMs;
    while (procs.some((p) => p.exitCode === null && p.signalCode === null) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 25));
    group('SIGKILL');
    if (this.pod.spec.hostNetwork) return; // the node's namespace is not ours to remove
    const network = this.network ?? this.d.network();
    if (network) await cniDel({ ...this.cniCall(network), ...(this.cniResult ? { prevResult: this.cniResult } : {}) });
    await ip(this.exec, ['netns', 'del', this.netns]).catch(() => undefined); // already gone (a second cleanup)
  }

  phase(): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
    const all = [...this.containers.values()];
    if (!all.length) {
      const failedInit = [...this.initContainers.values()].some((c) => !c.running && c.exitCode !== 0);
      return failedInit && this.pod.spec.restartPolicy === 'Never' ? 'Failed' : 'Pending';
    }
    if ((this.pod.spec.restartPolicy ?? 'Always') === 'Always' || all.some((c) => c.running)) return 'Running';
    if (this.pod.spec.restartPolicy === 'OnFailure' && all.some((c) => c.exitCode !== 0)) return 'Running';
    return all.every((c) => c.exitCode === 0) ? 'Succeeded' : 'Failed';
  }
}
