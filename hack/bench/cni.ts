// CNI ADD latency: cilium-cni as installed by install-cni.sh, executed the way a runtime executes
// it (fresh process per call, in a node's namespace, conflist entry on stdin), building real veth
// pairs into 100 real pod namespaces. The agent is the test stand-in of its REST API (answers at
// once), so the figures are the plugin's own cost: process start, two agent calls, two ip batches.
//
//   node --import tsx hack/bench/cni.ts [--pods 100] [--concurrency 8]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { installCni } from '../../devcluster/nodes/cni-install.js';
import { execPlugin, type CniCall } from '../../devcluster/nodes/cni-runtime.js';
import { FakeAgent } from '../../test/cni/fake-agent.js';

const { values } = parseArgs({
  options: { pods: { type: 'string', default: '100' }, concurrency: { type: 'string', default: '8' } },
});
const PODS = Number(values.pods);
const CONCURRENCY = Number(values.concurrency);
const tag = `ktb${randomBytes(2).toString('hex')}`;
const nodeNs = `${tag}-node`;
const made: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'kts-bench-cni-'));

const ip = (...a: string[]) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] });
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const fmt = (xs: number[]) =>
  `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, mean ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)} ms`;

async function main(): Promise<void> {
  const install = installCni(join(dir, 'cni'));
  const agent = new FakeAgent({ socketPath: join(dir, 'cilium.sock'), cidr: '10.200.7.0/24' });
  await agent.start();
  try {
    ip('netns', 'add', nodeNs);
    made.push(nodeNs);
    ip('-n', nodeNs, 'link', 'set', 'lo', 'up');
    const pods = Array.from({ length: PODS }, (_, i) => `${tag}-p${i}`);
    for (const p of pods) {
      ip('netns', 'add', p);
      made.push(p);
    }
    const base: Omit<CniCall, 'command'> = {
      binDir: install.binDir,
      conflist: {
        cniVersion: '1.0.0',
        name: 'cilium',
        plugins: [{ type: 'cilium-cni', 'socket-path': join(dir, 'cilium.sock'), 'log-file': join(dir, 'cni.log') }],
      },
      nodeNetns: `/var/run/netns/${nodeNs}`,
      ifName: 'eth0',
    };
    const call = (command: CniCall['command'], i: number) =>
      execPlugin({
        ...base,
        command,
        containerId: `bench-${i}`,
        netns: `/var/run/netns/${pods[i]}`,
        args: { K8S_POD_NAMESPACE: 'bench', K8S_POD_NAME: `pod-${i}` },
      });
    const must = async (p: ReturnType<typeof call>) => {
      const o = await p;
      if (o.exitCode !== 0) throw new Error(`cilium-cni failed: ${o.stdout}${o.stderr}`);
      return o.ms;
    };
    await must(call('ADD', 0)); // warm the page cache (node binary, bundle)
    await must(call('DEL', 0));

    const add: number[] = [];
    for (let i = 0; i < PODS; i++) add.push(await must(call('ADD', i)));
    const del: number[] = [];
    for (let i = 0; i < PODS; i++) del.push(await must(call('DEL', i)));

    // throughput: all pods at once, CONCURRENCY runtimes calls in flight (one node)
    let next = 0;
    const started = performance.now();
    const concurrentAdd: number[] = [];
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < PODS) concurrentAdd.push(await must(call('ADD', next++)));
      }),
    );
    const secs = (performance.now() - started) / 1000;
    for (let i = 0; i < PODS; i++) await must(call('DEL', i));

    const version = await execPlugin({ ...base, command: 'VERSION' });
    // The plugin logs its own duration per call: the part after process start and module loading.
    const inner = readFileSync(join(dir, 'cni.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { command: string; ms: number })
      .filter((l) => l.command === 'ADD')
      .slice(1, PODS + 1)
      .map((l) => l.ms);
    console.log(`cilium-cni, ${PODS} pods, one node (${process.version}, ${new Date().toISOString()})`);
    console.log(`  VERSION (process start only): ${version.ms.toFixed(1)} ms`);
    console.log(`  ADD sequential: ${fmt(add)}`);
    console.log(`  ADD sequential, inside the plugin (agent calls + ip): ${fmt(inner)}`);
    console.log(`  DEL sequential: ${fmt(del)}`);
    console.log(`  ADD ${CONCURRENCY} in flight: ${fmt(concurrentAdd)}; ${(PODS / secs).toFixed(1)} pods/s`);
  } finally {
    await agent.stop();
    for (const n of made.reverse()) {
      try {
        ip('netns', 'del', n);
      } catch {
        // gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
