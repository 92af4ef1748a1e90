// One pod on a node, as a container runtime keeps it: a network namespace (the sandbox) wired by
// the CNI plugin, and each container's `command`+`args` as a host process inside that namespace
// (images are ignored; a container without a command runs `sleep infinity`, like a pause
// container). Containers are restarted by the pod's restartPolicy.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CniInstall, Conflist } from './cni-install.js';
import { inCgroup, nodeCgroup } from './cgroups.js';
import { cniAdd, cniDel } from './cni-runtime.js';
import { ContainerLogWriter } from './container-log.js';
import { ReadinessProber, type NamedPort, type ProbeSpec } from './probes.js';
import { NODES_DEFAULTS, netnsPath, podNetnsName, type NodeInfo } from './layout.js';

export interface PodSpecLite {
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  /** hostNetwork pods run in the node's namespace with the node's address: no sandbox, no CNI. */
  hostNetwork?: boolean;
  containers: {
    name: string;
    image?: string;
    command?: string[];
    args?: string[];
    env?: { name: string; value?: string }[];
    workingDir?: string;
    ports?: NamedPort[];
    readinessProbe?: ProbeSpec;
  }[];
}

export interface PodLite {
  metadata: { name: string; namespace: string; uid: string };
  spec: PodSpecLite;
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
}

export interface SandboxDeps {
  runId: string;
  node: NodeInfo;
  install: CniInstall;
  conflist: Conflist;
  podsDir: string;
  /** Called when a container starts or ends (the runner then refreshes the pod's status). */
  onChange: () => void;
}

export const SANDBOX_DEFAULTS = {
  restartDelayMs: 1000,
  stopGraceMs: 2000,
};

export class PodSandbox {
  readonly netns: string;
  readonly netnsPath: string;
  readonly containers = new Map<string, ContainerState>();
  private readonly procs = new Map<string, ChildProcess>();
  private readonly probers = new Map<string, ReadinessProber>();
  private cniResult?: Record<string, unknown>;
  podIP?: string;
  /** How long CNI ADD took as the runtime sees it (process start to exit), for benchmarks. */
  cniAddMs?: number;
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

  private cniCall() {
    const m = this.pod.metadata;
    return {
      binDir: this.d.install.binDir,
      conflist: this.d.conflist,
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

  /** Creates the namespace, runs CNI ADD, starts the containers. Undoes the namespace on failure. */
  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    if (this.pod.spec.hostNetwork) {
      this.podIP = this.d.node.ip;
      this.writeEtcFiles();
      for (const c of this.pod.spec.containers) this.startContainer(c);
      return;
    }
    execFileSync('ip', ['netns', 'add', this.netns], { stdio: 'ignore' });
    const started = performance.now();
    try {
      this.cniResult = await cniAdd(this.cniCall());
      this.cniAddMs = performance.now() - started;
    } catch (e) {
      // Like a runtime: a failed ADD is followed by DEL, then the sandbox goes.
      await cniDel(this.cniCall()).catch(() => undefined);
      execFileSync('ip', ['netns', 'del', this.netns], { stdio: 'ignore' });
      throw e;
    }
    const ips = (this.cniResult.ips ?? []) as { address: string }[];
    this.podIP = ips[0]?.address.split('/')[0];
    this.writeEtcFiles();
    for (const c of this.pod.spec.containers) this.startContainer(c);
  }

  private startContainer(c: PodSpecLite['containers'][number]): void {
    const prev = this.containers.get(c.name);
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    const cmd = argv.length ? argv : ['sleep', 'infinity'];
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: '/root',
      HOSTNAME: this.pod.metadata.name,
      POD_IP: this.podIP ?? '',
    };
    for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    // Own process group: stopping the pod kills whatever the command forked.
    // Inside the node's cgroup, where the node agent's socket-LB programs are attached.
    const [bin, args] = inCgroup(nodeCgroup(this.d.runId, this.d.node.name), [...this.enterArgv(c.name), ...cmd]);
    const child = spawn(bin, args, {
      cwd: c.workingDir ?? this.dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const state: ContainerState = {
      name: c.name,
      image: c.image ?? '',
      running: true,
      ready: !c.readinessProbe,
      restartCount: prev ? prev.restartCount + (prev.running ? 0 : 1) : 0,
      startedAt: new Date().toISOString(),
      ...(child.pid ? { pid: child.pid } : {}),
    };
    this.containers.set(c.name, state);
    new ContainerLogWriter(this.dir, c.name, state.restartCount).attach(child.stdout, child.stderr);
    this.procs.set(c.name, child);
    this.probers.get(c.name)?.stop();
    if (c.readinessProbe) {
      const prober = new ReadinessProber(
        c.readinessProbe,
        () => ({ netnsPath: this.netnsPath, podIP: this.podIP ?? '127.0.0.1', ports: c.ports ?? [] }),
        () => {
          state.ready = state.running && prober.ready;
          this.d.onChange();
        },
      );
      this.probers.set(c.name, prober);
      prober.start();
    }
    child.on('error', () => undefined);
    child.on('exit', (code, signal) => {
      state.running = false;
      state.ready = false;
      this.probers.get(c.name)?.stop();
      state.exitCode = code ?? (signal ? 128 + 9 : 1);
      state.finishedAt = new Date().toISOString();
      this.procs.delete(c.name);
      this.d.onChange();
      const policy = this.pod.spec.restartPolicy ?? 'Always';
      if (this.stopping || policy === 'Never' || (policy === 'OnFailure' && state.exitCode === 0)) return;
      setTimeout(() => {
        if (!this.stopping) {
          this.startContainer(c);
          this.d.onChange();
        }
      }, SANDBOX_DEFAULTS.restartDelayMs).unref();
    });
  }

  /**
   * The argv (to be followed by a command) that runs inside `container`: the pod's network
   * namespace, and a mount namespace of its own whose /etc/hostname and /etc/hosts are the files
   * the kubelet manages (writeEtcFiles), with the pod's hostname in its own UTS namespace
   * (hostNetwork pods keep the node's). Containers and `kubectl exec` both enter through it.
   */
  enterArgv(_container: string): string[] {
    const own = !this.pod.spec.hostNetwork;
    const script = `mount --bind "$0" /etc/hostname && mount --bind "$1" /etc/hosts && ${own ? 'hostname "$2" && ' : ''}shift 2 && exec "$@"`;
    return [
      'nsenter',
      `--net=${this.netnsPath}`,
      '--',
      'unshare',
      '--mount',
      '--propagation',
      'slave',
      ...(own ? ['--uts'] : []),
      '--',
      'sh',
      '-c',
      script,
      join(this.dir, 'etc-hostname'),
      join(this.dir, 'etc-hosts'),
      this.hostname(),
    ];
  }

  /** spec.hostname, else the pod's name (at most 63 characters); the node's name on the host network. */
  private hostname(): string {
    const spec = this.pod.spec as { hostname?: string };
    if (this.pod.spec.hostNetwork) return this.d.node.name;
    return (spec.hostname ?? this.pod.metadata.name).slice(0, 63);
  }

  /** /etc/hostname and /etc/hosts as the kubelet writes them for a pod. */
  private writeEtcFiles(): void {
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
    await cniDel({ ...this.cniCall(), ...(this.cniResult ? { prevResult: this.cniResult } : {}) });
    try {
      execFileSync('ip', ['netns', 'del', this.netns], { stdio: 'ignore' });
    } catch {
      // already gone (a second cleanup)
    }
  }

  phase(): 'Running' | 'Succeeded' | 'Failed' {
    const all = [...this.containers.values()];
    if ((this.pod.spec.restartPolicy ?? 'Always') === 'Always' || all.some((c) => c.running)) return 'Running';
    if (this.pod.spec.restartPolicy === 'OnFailure' && all.some((c) => c.exitCode !== 0)) return 'Running';
    return all.every((c) => c.exitCode === 0) ? 'Succeeded' : 'Failed';
  }
}
