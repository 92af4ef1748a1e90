// Benchmark: the agent on one devcluster node with 10, 100 and 1,000 endpoints — how long it takes
// from process start to ready (a restart: the endpoints are restored), its RSS, and policy
// propagation, from the API call that creates a CiliumNetworkPolicy to the kernel letting a probe
// connection through. Every endpoint is selected by the policy, so each change regenerates all of
// them. Two variants side by side in the same cluster: the compiled agent (`npm run build`, what
// the images and the devcluster run) and the same sources under tsx's loader; the agent is
// restarted with each in turn (alternating, --restarts times each) and the ratios are printed.
// The agent is the node's cilium DaemonSet pod: a variant is a change of the DaemonSet's command,
// which replaces the pod as an upgrade would (state in the node's /var/run/cilium survives).
// Each sample is split where the agent's write lands: API call → the allow is in the server's
// kernel policy map (agent-policy-map.ts polls it) → the probe gets through; the agent's CPU per
// round (a create and a delete) is read from /proc, the honest figure on a loaded machine.
//   npm run bench:agent [-- --endpoints 10,100,1000 --rounds 20 --restarts 2 --variants compiled,tsx
//                          --pod-timeout SECONDS]
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CEPS } from '../../controllers/agent/resources.js';
import { parseArgs } from 'node:util';
import { KubeClient, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';
import { downDetached, upDetached } from '../../devcluster/cluster.js';
import { NodesLayout } from '../../devcluster/nodes/layout.js';
import { downNodes, podNetns, upNodes } from '../../devcluster/nodes/nodes.js';
import { EndpointPolicyWatch } from './agent-policy-map.js';
import { takeDownOnSignal } from './cluster-teardown.js';
import { waitForPodCIDRs, waitForPods } from '../../devcluster/nodes/cluster-checks.js';

const { values } = parseArgs({
  options: {
    endpoints: { type: 'string' },
    rounds: { type: 'string' },
    restarts: { type: 'string' },
    variants: { type: 'string' },
    /** seconds for all pods of a size to run; default 600 + 0.9 s per pod (1,000 pods: 1,500 s) */
    'pod-timeout': { type: 'string' },
  },
});
const SIZES = (values.endpoints ?? '10,100,1000').split(',').map(Number);
const ROUNDS = Number(values.rounds ?? 20);
const RESTARTS = Number(values.restarts ?? 2);
type Variant = 'compiled' | 'tsx';
const VARIANTS = (values.variants ?? 'compiled,tsx').split(',') as Variant[];
/** How each variant starts the agent in its container (the image's /app): the compiled entry, or the source through tsx. */
const COMMAND: Record<Variant, { command: string[]; workingDir?: string }> = {
  compiled: { command: ['cilium-agent'] },
  tsx: { command: ['node', '--import', 'tsx', 'cmd/cilium-agent.ts'], workingDir: '/app' },
};
const DAEMONSETS: ResourceRef = {
  group: 'apps',
  version: 'v1',
  plural: 'daemonsets',
  kind: 'DaemonSet',
  namespaced: true,
};
const NS: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false };
const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
const CNPS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnetworkpolicies',
  kind: 'CiliumNetworkPolicy',
  namespaced: true,
};
/** How long one policy change may take to show (in the kernel map or at the probe) before the bench fails. */
const CHANGE_TIMEOUT_MS = 120_000;
const podTimeoutMs = (n: number) => (values['pod-timeout'] ? Number(values['pod-timeout']) : 600 + 0.9 * n) * 1000;
/** The agent's restart to "ready" restores every endpoint: allow for a loaded machine. */
const readyTimeoutMs = (n: number) => 300_000 + 300 * n;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

// "open" starts a connect every 2 ms, each left pending up to 50 ms (a SYN the policy drops is
// only retried by the kernel after a second), and reports the first that completes: the allow is
// seen within ~2 ms of reaching the kernel. (Until session 16 it made one blocking connect at a
// time with a 10 ms timeout, which added 0–10 ms to every sample: about 5 ms at the median.)
const PROBER = `
import socket, sys, time, selectors
ip = sys.argv[1]
def attempt(timeout):
    s = socket.socket(); s.settimeout(timeout)
    try:
        s.connect((ip, 8080)); return True
    except Exception:
        return False
    finally:
        s.close()
def wait_open():
    sel = selectors.DefaultSelector()
    pending = {}
    try:
        while True:
            s = socket.socket(); s.setblocking(False)
            try:
                s.connect((ip, 8080))
            except BlockingIOError:
                pass
            except OSError:
                s.close(); time.sleep(0.002); continue
            pending[s] = time.monotonic()
            sel.register(s, selectors.EVENT_WRITE)
            deadline = time.monotonic() + 0.002
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                for key, _ in sel.select(left):
                    sk = key.fileobj
                    if sk.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                        return
                    sel.unregister(sk); sk.close(); del pending[sk]
            now = time.monotonic()
            for sk, t in list(pending.items()):
                if now - t > 0.05:
                    sel.unregister(sk); sk.close(); del pending[sk]
    finally:
        for sk in pending:
            sk.close()
        sel.close()
for line in sys.stdin:
    want = line.strip() == 'open'
    t = time.monotonic()
    if want:
        wait_open()
    else:
        # closed: three connects in a row that fail with a generous timeout (no false "closed" under load)
        fails = 0
        while fails < 3:
            fails = 0 if attempt(0.3) else fails + 1
    print(round((time.monotonic() - t) * 1000, 2), flush=True)
`;

class Prober {
  private pending: ((ms: number) => void)[] = [];
  constructor(private readonly p: ChildProcessWithoutNullStreams) {
    let buf = '';
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.pending.shift()?.(Number(line));
      }
    });
  }
  /** Starts waiting for the state now; resolves with the ms it took from this call (rejects after CHANGE_TIMEOUT_MS). */
  waitFor(state: 'open' | 'closed'): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the probe did not see the server ${state} within ${CHANGE_TIMEOUT_MS} ms`)),
        CHANGE_TIMEOUT_MS,
      );
      this.pending.push((ms) => (clearTimeout(timer), resolve(ms)));
      this.p.stdin.write(`${state}\n`);
    });
  }
  stop(): void {
    this.p.kill('SIGKILL');
  }
}

const pod = (name: string, labels: Record<string, string>, command: string[]): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'bench', labels },
  spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'none', command }] },
});

const rssMiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
/** A process's user + system CPU so far, ms (/proc/PID/stat's utime and stime, in 10 ms ticks). */
const cpuMs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};

type AgentPod = KubeObject & {
  status?: {
    containerStatuses?: { name: string; containerID?: string; state?: { running?: { startedAt: string } } }[];
  };
};

/**
 * Changes the DaemonSet's agent command to `variant` and waits for the replacement pod's agent to
 * log "cilium-agent ready" (its endpoints restored, maps synced, REST API serving); resolves with
 * the ms from its container's start to that line, and its pid.
 */
async function restartAgent(
  client: KubeClient,
  layout: NodesLayout,
  variant: Variant,
  timeoutMs: number,
): Promise<{ pid: number; readyMs: number }> {
  const deadline = Date.now() + timeoutMs;
  const list = () =>
    client
      .list<AgentPod>(PODS, { namespace: 'kube-system', labelSelector: 'k8s-app=cilium' })
      .then((l) => l.items.filter((p) => !p.metadata?.deletionTimestamp));
  const before = new Set((await list()).map((p) => p.metadata?.uid));
  const c = COMMAND[variant];
  await client.patch(
    DAEMONSETS,
    'cilium',
    'kube-system',
    {
      spec: {
        // as `kubectl rollout restart`: a new pod even when the command is unchanged
        template: {
          metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } },
          spec: { containers: [{ name: 'cilium-agent', command: c.command, workingDir: c.workingDir ?? null }] },
        },
      },
    } as unknown as KubeObject,
    'strategic',
  );
  for (;;) {
    const pod = (await list()).find((p) => !before.has(p.metadata?.uid));
    const status = pod?.status?.containerStatuses?.find((s) => s.name === 'cilium-agent');
    const startedAt = status?.state?.running?.startedAt;
    const log = pod && layout.containerLog('kube-system', pod.metadata!.name!, 'cilium-agent');
    if (startedAt && log && existsSync(log)) {
      const ready = readFileSync(log, 'utf8')
        .split('\n')
        .find((l) => l.includes('"msg":"cilium-agent ready"'));
      if (ready) {
        // pino's time: epoch ms
        const time = (JSON.parse(ready) as { time: number | string }).time;
        return {
          pid: Number(/^devcluster:\/\/(\d+)$/.exec(status.containerID ?? '')?.[1] ?? 0),
          readyMs: (typeof time === 'number' ? time : Date.parse(time)) - Date.parse(startedAt),
        };
      }
    }
    if (Date.now() > deadline) throw new Error(`the ${variant} agent was not ready within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Cep = KubeObject & { status?: { id?: number; identity?: { id?: number } } };
/** The server's endpoint id and the client's identity, from their CiliumEndpoints. */
async function probeTargets(client: KubeClient): Promise<{ serverEndpoint: number; clientIdentity: number }> {
  const ceps = new Map((await client.list<Cep>(CEPS, { namespace: 'bench' })).items.map((c) => [c.metadata?.name, c]));
  const serverEndpoint = ceps.get('server')?.status?.id;
  const clientIdentity = ceps.get('client')?.status?.identity?.id;
  if (!serverEndpoint || !clientIdentity)
    throw new Error('the server or client CiliumEndpoint has no id or identity yet');
  return { serverEndpoint, clientIdentity };
}

type EnforcedCep = KubeObject & { status?: { policy?: { ingress?: { enforcing?: boolean } } } };
/** Waits until the bench's `n` CiliumEndpoints all show ingress enforcement. */
async function waitForEnforcingCeps(client: KubeClient, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ceps = (await client.list<EnforcedCep>(CEPS, { namespace: 'bench' })).items;
    const enforcing = ceps.filter((c) => c.status?.policy?.ingress?.enforcing === true).length;
    if (enforcing >= n) return;
    if (Date.now() > deadline)
      throw new Error(
        `only ${enforcing} of ${n} CiliumEndpoints showed ingress enforcement within ${timeoutMs / 1000} s`,
      );
    await new Promise((r) => setTimeout(r, 2000));
  }
}

let current: string | undefined;
// An interrupted benchmark still takes its cluster down: namespaces, pins and processes.
takeDownOnSignal(() => current);
// …and its temporary directory (the signal's exit skips runSize's finally; the cluster is gone by then)
process.on('exit', () => current && rmSync(join(current, '..'), { recursive: true, force: true }));

interface VariantResult {
  readyMs: number[];
  rssMiB: number[];
  /** API create → probe through (the propagation figure) */
  samples: number[];
  /** API create call → its response */
  createApi: number[];
  /** when each round's create was sent (epoch ms): to find a slow round in the cluster's logs and profiles */
  startedAt: number[];
  /** API create → the allow in the server's kernel map */
  createMap: number[];
  /** API delete → the allow gone from the kernel map */
  deleteMap: number[];
  /** the agent's CPU per round (one create and one delete), ms */
  cpuPerRound: number[];
  /** the agent's CPU per second with no change (its timers, probes, scrapes): the baseline under cpuPerRound */
  idleCpuPerS: number[];
  /** seconds per round (the idle CPU of that long is in cpuPerRound too) */
  roundS: number[];
}

async function runSize(n: number): Promise<{ variants: Record<string, VariantResult>; setupS: number }> {
  const dir = join(mkdtempSync(join(tmpdir(), 'kts-bench-agent-')), 'c');
  const started = Date.now();
  current = dir;
  await upDetached({ dir, port: 0 });
  let prober: Prober | undefined;
  const client = KubeClient.fromFile(join(dir, 'kubeconfig'));
  try {
    // A /21 holds 2,045 pods: the default /24 stops at 253 on one node.
    await upNodes(dir, { nodes: 1, config: { 'cluster-pool-ipv4-mask-size': '21' } });
    await waitForPodCIDRs(client, 1, 60_000);
    await client.create(NS, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
    await client.create(PODS, pod('server', { role: 'server' }, ['python3', '-m', 'http.server', '8080']));
    await client.create(PODS, pod('client', { role: 'client' }, ['sleep', 'infinity']));
    for (let i = 0; i < n - 2; i += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, n - 2 - i) }, (_, j) =>
          client.create(PODS, pod(`filler-${i + j}`, { role: 'filler' }, ['sleep', 'infinity'])),
        ),
      );
    }
    let lastProgress = 0;
    const podsStarted = Date.now();
    const ips = await waitForPods(client, {
      count: Math.max(n, 2),
      namespaces: ['bench'],
      what: `${n} running pods`,
      timeoutMs: podTimeoutMs(n),
      // a list of 1,000 pods each second is load of its own on the API server the pods wait for
      intervalMs: n >= 500 ? 5000 : 1000,
      onProgress: (running, listed) => {
        if (Date.now() - lastProgress < 30_000) return;
        lastProgress = Date.now();
        console.error(
          `[bench:agent] ${n} endpoints: ${running}/${listed} pods Running after ${((Date.now() - podsStarted) / 1000).toFixed(0)} s (load ${loadavg()
            .map((l) => l.toFixed(1))
            .join(' ')})`,
        );
      },
    });
    console.error(
      `[bench:agent] ${n} endpoints: all Running after ${((Date.now() - podsStarted) / 1000).toFixed(0)} s`,
    );
    const serverIp = ips.get('bench/server')!;
    const clientNs = await podNetns(dir, 'bench/client');
    prober = new Prober(spawn('nsenter', [`--net=${clientNs}`, '--', 'python3', '-u', '-c', PROBER, serverIp]));
    await prober.waitFor('open');
    // Every endpoint is selected and enforcing: only the client's allow opens the server.
    await client.create(CNPS, {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'lockdown', namespace: 'bench' },
      spec: { endpointSelector: {}, ingress: [{ fromEndpoints: [{ matchLabels: { role: 'nobody' } }] }] },
    });
    await prober.waitFor('closed');
    // The lockdown changes every endpoint's enforcement, which the agent reports in 1,000 CEP
    // statuses, one request each: restarting it before they are written leaves the restarted
    // agent to write them in the idle window and the first rounds (decision 46 lets a restart
    // skip only the statuses already right).
    await waitForEnforcingCeps(client, n, readyTimeoutMs(n));
    const layout = new NodesLayout(dir);
    const bpfRoot = join(layout.read()!.bpfRoot, 'node-1');
    const results: Record<string, VariantResult> = {};
    for (let restart = 0; restart < RESTARTS; restart++) {
      for (const variant of VARIANTS) {
        const r = (results[variant] ??= {
          readyMs: [],
          rssMiB: [],
          samples: [],
          createApi: [],
          startedAt: [],
          createMap: [],
          deleteMap: [],
          cpuPerRound: [],
          idleCpuPerS: [],
          roundS: [],
        });
        console.error(`[bench:agent] ${n} endpoints: restarting the agent (${variant}, ${restart + 1}/${RESTARTS})`);
        const restarted = await restartAgent(client, layout, variant, readyTimeoutMs(n));
        r.readyMs.push(restarted.readyMs);
        // The policy state survived the restart: the server is still closed to the client.
        await prober.waitFor('closed');
        const { serverEndpoint, clientIdentity } = await probeTargets(client);
        const watch = new EndpointPolicyWatch(bpfRoot, serverEndpoint);
        try {
          const idle0 = cpuMs(restarted.pid);
          await new Promise((r) => setTimeout(r, 5000));
          r.idleCpuPerS.push((cpuMs(restarted.pid) - idle0) / 5);
          const cpu0 = cpuMs(restarted.pid);
          const rounds0 = performance.now();
          for (let round = 0; round < ROUNDS; round++) {
            const t0 = performance.now();
            r.startedAt.push(Date.now());
            const opened = prober.waitFor('open');
            const inMap = watch.waitFor(clientIdentity, true, CHANGE_TIMEOUT_MS);
            await client.create(CNPS, {
              apiVersion: 'cilium.io/v2',
              kind: 'CiliumNetworkPolicy',
              metadata: { name: 'allow-client', namespace: 'bench' },
              spec: { endpointSelector: {}, ingress: [{ fromEndpoints: [{ matchLabels: { role: 'client' } }] }] },
            });
            r.createApi.push(performance.now() - t0);
            r.createMap.push((await inMap) - t0);
            r.samples.push(await opened);
            const t1 = performance.now();
            const gone = watch.waitFor(clientIdentity, false, CHANGE_TIMEOUT_MS);
            await client.delete(CNPS, 'allow-client', 'bench');
            r.deleteMap.push((await gone) - t1);
            await prober.waitFor('closed');
          }
          r.cpuPerRound.push((cpuMs(restarted.pid) - cpu0) / ROUNDS);
          r.roundS.push((performance.now() - rounds0) / 1000 / ROUNDS);
        } finally {
          watch.close();
        }
        r.rssMiB.push(rssMiB(restarted.pid));
      }
    }
    return { variants: results, setupS: (Date.now() - started) / 1000 };
  } finally {
    prober?.stop();
    client.close();
    await downNodes(dir).catch(() => undefined);
    await downDetached(dir).catch(() => undefined);
    rmSync(join(dir, '..'), { recursive: true, force: true });
  }
}

const median = (xs: number[]) => pct(xs, 50);
console.log(
  `the agent, ${VARIANTS.join(' vs ')}, restarted ${RESTARTS}× each (alternating) per size: start-up = spawn → "cilium-agent ready" (endpoints restored), RSS after the rounds; policy propagation = API create of a CNP selecting every endpoint → probe connection through the kernel, ${ROUNDS} rounds per restart; Node ${process.version}, load average ${(
    await import('node:os')
  )
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
const spread = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} p99 ${pct(xs, 99).toFixed(1)} ms`;
console.log(
  `${'endpoints'.padEnd(10)} ${'variant'.padEnd(9)} ${'start-up ms'.padStart(12)} ${'RSS MiB'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}`,
);
for (const n of SIZES) {
  const { variants, setupS } = await runSize(n);
  for (const [variant, r] of Object.entries(variants))
    console.log(
      `${String(n).padEnd(10)} ${variant.padEnd(9)} ${median(r.readyMs).toFixed(0).padStart(12)} ${median(r.rssMiB).toFixed(0).padStart(8)} ${pct(r.samples, 50).toFixed(1).padStart(8)} ${pct(r.samples, 99).toFixed(1).padStart(8)} ${Math.max(
        ...r.samples,
      )
        .toFixed(1)
        .padStart(
          8,
        )}   (start-up each: ${r.readyMs.map((x) => x.toFixed(0)).join(', ')}; RSS each: ${r.rssMiB.map((x) => x.toFixed(0)).join(', ')})`,
    );
  for (const [variant, r] of Object.entries(variants))
    console.log(
      `${String(n).padEnd(10)} ${variant.padEnd(9)} where it goes: API create call ${spread(r.createApi)}; create → kernel map ${spread(r.createMap)}; delete → kernel map ${spread(r.deleteMap)}; agent CPU per round (create + delete) ${r.cpuPerRound.map((x) => x.toFixed(0)).join(', ')} ms in ${r.roundS.map((x) => x.toFixed(1)).join(', ')} s, idle ${r.idleCpuPerS.map((x) => x.toFixed(0)).join(', ')} ms/s`,
    );
  for (const [variant, r] of Object.entries(variants)) {
    // which rounds the tail is in (rounds run in order, restart after restart): the first ones after a restart, or spread
    const slowest = r.samples
      .map((ms, i) => ({
        ms,
        restart: Math.floor(i / ROUNDS) + 1,
        round: (i % ROUNDS) + 1,
        api: r.createApi[i]!,
        map: r.createMap[i]!,
        at: new Date(r.startedAt[i]!).toISOString().slice(11, 23),
      }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 5);
    console.log(
      `${String(n).padEnd(10)} ${variant.padEnd(9)} slowest rounds: ${slowest.map((s) => `${s.ms.toFixed(1)} ms (restart ${s.restart} round ${s.round} at ${s.at}: API call ${s.api.toFixed(1)}, in the map at ${s.map.toFixed(1)})`).join(', ')}`,
    );
  }
  const [base, other] = VARIANTS.map((v) => variants[v]!);
  if (base && other)
    console.log(
      `${String(n).padEnd(10)} ${`${VARIANTS[1]}/${VARIANTS[0]}`.padEnd(9)} ${(median(other.readyMs) / median(base.readyMs)).toFixed(2).padStart(11)}× ${(median(other.rssMiB) / median(base.rssMiB)).toFixed(2).padStart(7)}×   (setup ${setupS.toFixed(0)} s)`,
    );
}
