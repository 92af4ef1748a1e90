// Agent restart at scale, over and over on one loaded cluster (issue #25: restart → ready ≤ 10 s
// at 50,000 pods, 0 rewritten). Loads the scale harness's workload once (no churn, no GC phases),
// then restarts node-1's agent `--restarts` times. (A CPU profile of the start is not offered: V8's
// sampler interrupts the process with SIGPROF every sample, and the kernel's BPF verifier gives up
// a program load interrupted that way — EAGAIN, the agent exits. hack/bench/cpu-profile-top.ts
// reads any `--cpu-prof` profile.)
// `--dir D --keep` leaves the loaded cluster up; the next run with `--dir D` restarts the agent there
// without loading again (rebuild between them: the nodes run this checkout's build/). Without
// `--keep` the cluster is taken down at the end.
//   npm run bench:scale-restart -- --pods 20000 [--restarts 2] [--dir /tmp/sr --keep]
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { nodesAgent } from './scale-agents.js';
import { runScale } from './scale-harness.js';
import { restartLines } from './scale-restart-lines.js';

const { values } = parseArgs({
  options: {
    pods: { type: 'string' },
    restarts: { type: 'string' },
    dir: { type: 'string' },
    keep: { type: 'boolean' },
  },
});
const log = (l: string) => console.error(`[scale-restart] ${l}`);
const pods = Number(values.pods ?? 20_000);
const restarts = Number(values.restarts ?? 1);
const dir = values.dir;
// what this cluster holds already (a kept one)
const loadedFile = dir ? join(dir, 'scale-restart.json') : undefined;
const loaded =
  loadedFile && existsSync(loadedFile) ? (JSON.parse(readFileSync(loadedFile, 'utf8')) as { pods: number }) : undefined;
if (loaded && loaded.pods !== pods)
  throw new Error(`${dir} holds ${loaded.pods} pods, not ${pods}: take it down first`);

const agent = await nodesAgent(log, { ...(dir ? { dir } : {}), keep: values.keep ?? false });
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => void agent.close().finally(() => process.exit(130)));
try {
  if (!loaded) {
    // the load is what this needs; the churn's figures after it are not (and a failure there
    // leaves a kept cluster loaded all the same)
    await runScale(agent, {
      pods,
      churnSeconds: 0,
      skip: ['restart', 'gc', 'idgc'],
      progress: log,
      onLoaded: () => loadedFile && writeFileSync(loadedFile, JSON.stringify({ pods })),
    });
  }
  for (let i = 1; i <= restarts; i++) {
    const before = loadavg().map((l) => l.toFixed(1));
    const r = await agent.restart();
    console.log(`restart ${i}/${restarts} (${pods} pods; load average ${before.join(' ')})`);
    console.log(restartLines(r).join('\n'));
  }
} finally {
  await agent.close();
  if (dir && !values.keep && loadedFile) rmSync(loadedFile, { force: true });
}
