// CNI ADD latency through the real cilium-agent: a one-node devcluster (`up --nodes 1`, agent and
// operator from the install's launch description), 100 pods applied at once with kubectl, each
// sandbox wired by cilium-cni as the kubelet-like runner calls it. Reports the ADD time as the
// runner sees it (process start to exit, including the agent's synchronous endpoint build), the
// part inside the plugin (its log), and pods per second from apply to all Running.
//
//   node --import tsx hack/bench/cni-devcluster.ts [--pods 100]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { downDetached, upDetached } from '../../devcluster/cluster.js';
import { NodesLayout } from '../../devcluster/nodes/layout.js';
import { downNodes, upNodes } from '../../devcluster/nodes/nodes.js';
import { ciliumBinariesPresent } from '../../devcluster/nodes/processes.js';
import { KUBECTL } from '../../test/e2e/harness.js';

const { values } = parseArgs({ options: { pods: { type: 'string', default: '100' } } });
const PODS = Number(values.pods);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)] ?? NaN;
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms (n=${xs.length})`;

async function main(): Promise<void> {
  if (!ciliumBinariesPresent().agent)
    throw new Error('cmd/cilium-agent.ts does not exist: use hack/bench/cni.ts (agent stand-in)');
  const dir = mkdtempSync(join(tmpdir(), 'kts-bench-cnidc-'));
  const layout = new NodesLayout(dir);
  const kubectl = (args: string[], input?: string) =>
    execFileSync(KUBECTL, args, {
      input,
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG: layout.kubeconfig, KUBECACHEDIR: join(dir, 'kubecache') },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  try {
    await upDetached({ dir, port: 0 });
    await upNodes(dir, { nodes: 1 });
    kubectl(['create', 'namespace', 'bench']);
    const pods = Array.from({ length: PODS }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `p${i}`, namespace: 'bench', labels: { app: `a${i % 10}` } },
      spec: { containers: [{ name: 'main', image: 'x', command: ['sleep', 'infinity'] }] },
    }));
    const started = performance.now();
    kubectl(['apply', '-f', '-'], pods.map((p) => JSON.stringify(p)).join('\n'));
    const deadline = Date.now() + 300_000;
    for (;;) {
      const running = kubectl(['get', 'pods', '-n', 'bench', '--field-selector=status.phase=Running', '-o', 'name'])
        .split('\n')
        .filter(Boolean).length;
      if (running === PODS) break;
      if (Date.now() > deadline)
        throw new Error(`only ${running}/${PODS} pods Running after 300 s; see ${layout.daemonLog}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const secs = (performance.now() - started) / 1000;
    const lines = (path: string) =>
      readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const runtime = lines(layout.daemonLog)
      // hostNetwork pods (the agent's and the operator's) get no CNI ADD
      .filter((l) => l.event === 'sandbox-ready' && l.cniAddMs !== undefined)
      .map((l) => Number(l.cniAddMs));
    const inner = lines(layout.node('node-1').cniLog)
      .filter((l) => l.command === 'ADD' && l.outcome === 'ok')
      .map((l) => Number(l.ms));
    console.log(
      `cilium-cni through cilium-agent, ${PODS} pods on one devcluster node (${process.version}, ${new Date().toISOString()})`,
    );
    console.log(`  ADD as the runner sees it: ${fmt(runtime)}`);
    console.log(`  ADD inside the plugin (IPAM + veth + endpoint sync-build): ${fmt(inner)}`);
    console.log(`  apply → all Running: ${secs.toFixed(1)} s, ${(PODS / secs).toFixed(1)} pods/s`);
  } finally {
    await downNodes(dir).catch((e: unknown) => console.error(`down (nodes): ${(e as Error).message}`));
    await downDetached(dir).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
