// Benchmark: how fast a devcluster node brings pods up, as the pod count on it grows. One node
// (agent and operator as `up` installs them), then N pods created through the API in batches of
// 20 (as hack/bench/agent.ts does); prints the Running count over time and the pods/s of each
// tenth, so a cost that grows with the pods already there (an O(N) step per pod) shows as a
// falling rate. Also reports the mounts a pod's container sees (each container has a mount
// namespace of its own) and where the starts went (the runner's and the plugin's logged steps).
//   node --import tsx hack/bench/pod-startup.ts [--pods 300] [--timeout 600] [--logs DIR]
// KTS_DEVCLUSTER_SPAWNER=off in its environment: the daemon forks pods' `ip netns` and CNI calls
// itself, as before its spawner (decision 44), to compare the two.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeClient, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';
import { downDetached, upDetached } from '../../devcluster/cluster.js';
import { takeDownOnSignal } from './cluster-teardown.js';
import { waitForPodCIDRs } from '../../devcluster/nodes/cluster-checks.js';
import { downNodes, upNodes } from '../../devcluster/nodes/nodes.js';

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '300' },
    timeout: { type: 'string', default: '600' },
    /** copy the cluster's logs (daemon, agent, CNI) here before it goes */
    logs: { type: 'string' },
  },
});
const N = Number(values.pods);
const TIMEOUT_MS = Number(values.timeout) * 1000;
const NS: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false };
const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
type Pod = KubeObject & { status?: { phase?: string; containerStatuses?: { containerID?: string }[] } };
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

/**
 * Where the bench pods' starts went: p50/p90 of each step the runner logged (daemon.log's
 * sandbox-ready and pod-running lines) and of the plugin's ADD steps (cilium-cni.log).
 */
function breakdown(nodesDir: string): void {
  const lines = (file: string) => {
    try {
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    } catch {
      return [];
    }
  };
  const pct = (xs: number[], q: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
  const show = (what: string, rows: Record<string, number>[]) => {
    const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    const cols = keys.map((k) => {
      const xs = rows.map((r) => r[k]).filter((x): x is number => typeof x === 'number');
      return `${k} ${pct(xs, 0.5)}/${pct(xs, 0.9)}`;
    });
    console.log(`${what} (ms p50/p90, ${rows.length} pods): ${cols.join(', ')}`);
  };
  const daemon = lines(join(nodesDir, 'daemon.log')).filter((l) => String(l.pod ?? '').startsWith('bench/'));
  show(
    'runner',
    daemon
      .filter((l) => l.event === 'sandbox-ready')
      .map((l) => ({ waited: Number(l.waitedMs), start: Number(l.startMs), ...(l.steps as Record<string, number>) })),
  );
  show(
    'to Running',
    daemon.filter((l) => l.event === 'pod-running').map((l) => ({ running: Number(l.runningMs) })),
  );
  // the daemon's event loop, every 10 s (daemon.ts): what its pods' starts and status writes wait on
  const loop = lines(join(nodesDir, 'daemon.log')).filter((l) => l.event === 'loop-delay');
  if (loop.length)
    console.log(
      `daemon loop delay (ms, ${loop.length} × 10 s): p50 of each p50/p90 ${pct(
        loop.map((l) => Number(l.p50)),
        0.5,
      )}/${pct(
        loop.map((l) => Number(l.p50)),
        0.9,
      )}, max ${Math.max(...loop.map((l) => Number(l.max)))}`,
    );
  const cni = lines(join(nodesDir, 'node-1', 'root', 'run', 'cilium', 'cilium-cni.log')).filter(
    (l) => l.command === 'ADD' && l.outcome === 'ok',
  );
  show(
    'cilium-cni ADD',
    cni.map((l) => ({
      nodeStart: Number(l.sinceStartMs) - Number(l.ms),
      ms: Math.round(Number(l.ms)),
      ...(l.steps as Record<string, number>),
    })),
  );
}

const dir = join(mkdtempSync(join(tmpdir(), 'kts-bench-podstart-')), 'c');
// An interrupted benchmark still takes its cluster down: namespaces, pins and processes.
takeDownOnSignal(() => dir);
await upDetached({ dir, port: 0 });
const client = KubeClient.fromFile(join(dir, 'kubeconfig'));
try {
  // A /21 holds 2,045 pods: the default /24 stops at 253 on one node.
  await upNodes(dir, { nodes: 1, config: { 'cluster-pool-ipv4-mask-size': '21' } });
  await waitForPodCIDRs(client, 1, 60_000);
  await client.create(NS, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
  console.log(
    `${N} pods on one node; Node ${process.version}; load average ${load()}; one-shot commands ${
      process.env.KTS_DEVCLUSTER_SPAWNER === 'off'
        ? 'forked from the daemon (KTS_DEVCLUSTER_SPAWNER=off)'
        : 'from its spawner'
    }`,
  );
  const t0 = performance.now();
  const creating = (async () => {
    for (let i = 0; i < N; i += 20)
      await Promise.all(
        Array.from({ length: Math.min(20, N - i) }, (_, j) =>
          client.create(PODS, {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: `filler-${i + j}`, namespace: 'bench', labels: { role: 'filler' } },
            spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'none', command: ['sleep', 'infinity'] }] },
          }),
        ),
      );
    return performance.now() - t0;
  })();
  const tenth = Math.max(1, Math.floor(N / 10));
  const marks: number[] = [];
  let running = 0;
  let pods: Pod[] = [];
  while (running < N) {
    if (performance.now() - t0 > TIMEOUT_MS) break;
    await new Promise((r) => setTimeout(r, 1000));
    pods = (await client.list<Pod>(PODS, { namespace: 'bench' })).items;
    running = pods.filter((p) => p.status?.phase === 'Running').length;
    while (marks.length < Math.floor(running / tenth)) marks.push(performance.now() - t0);
    console.log(
      `${((performance.now() - t0) / 1000).toFixed(0).padStart(5)} s  ${running}/${N} Running  load ${load()}`,
    );
  }
  console.log(`created all in ${((await creating) / 1000).toFixed(1)} s`);
  marks.forEach((t, i) => {
    const prev = i ? marks[i - 1]! : 0;
    console.log(`pods ${i * tenth}–${(i + 1) * tenth}: ${(tenth / ((t - prev) / 1000)).toFixed(1)} pods/s`);
  });
  const pid = pods.at(-1)?.status?.containerStatuses?.[0]?.containerID?.replace('devcluster://', '');
  if (pid)
    console.log(
      `mounts in the last pod's container: ${readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').length - 1}; on the host: ${readFileSync('/proc/self/mountinfo', 'utf8').split('\n').length - 1}; netns files: ${execFileSync('ls', ['/run/netns']).toString().split('\n').length - 1}`,
    );
  breakdown(join(dir, 'nodes'));
  console.log(
    running >= N
      ? `all ${N} Running in ${((performance.now() - t0) / 1000).toFixed(1)} s`
      : `only ${running}/${N} Running after ${TIMEOUT_MS / 1000} s`,
  );
} finally {
  // the logs only (the node's bpffs directory cannot be copied)
  if (values.logs)
    execFileSync('sh', [
      '-c',
      'mkdir -p "$1" && cd "$2" && find . -name "*.log" | cpio -pdm "$1" 2>/dev/null || true',
      'sh',
      values.logs,
      join(dir, 'nodes'),
    ]);
  client.close();
  await downNodes(dir).catch(() => undefined);
  await downDetached(dir).catch(() => undefined);
  rmSync(join(dir, '..'), { recursive: true, force: true });
}
