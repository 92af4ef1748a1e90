// Agent restart at scale, over and over on one loaded cluster (issue #25: restart → ready ≤ 10 s
// at 50,000 pods, 0 rewritten). Loads the scale harness's workload once (no churn, no GC phases),
// then restarts node-1's agent `--restarts` times; `--profile DIR` has each start write a CPU profile
// from its launcher's first line to Ready (CILIUM_STARTUP_CPU_PROFILE) and prints where it went.
// `--dir D --keep` leaves the loaded cluster up; the next run with `--dir D` restarts the agent there
// without loading again (rebuild between them: the nodes run this checkout's build/). Without
// `--keep` the cluster is taken down at the end.
//   npm run bench:scale-restart -- --pods 20000 [--restarts 2] [--profile /tmp/prof] [--dir /tmp/sr --keep]
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { NodesLayout } from '../../devcluster/nodes/layout.js';
import { STARTUP_CPU_PROFILE_ENV } from '../../controllers/framework/cpu-profile.js';
import { profileTop } from './cpu-profile-top.js';
import { nodesAgent } from './scale-agents.js';
import { runScale } from './scale-harness.js';
import { restartLines } from './scale-restart-lines.js';

const { values } = parseArgs({
  options: {
    pods: { type: 'string' },
    restarts: { type: 'string' },
    profile: { type: 'string' },
    dir: { type: 'string' },
    keep: { type: 'boolean' },
    top: { type: 'string' },
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
  // the agent's /var/run/cilium on the host (a hostPath of its pod)
  const runDir = dir ? dirname(new NodesLayout(dir).node('node-1').socket) : undefined;
  for (let i = 1; i <= restarts; i++) {
    const inPod = '/var/run/cilium/startup.cpuprofile';
    const onHost = runDir && join(runDir, 'startup.cpuprofile');
    if (onHost) rmSync(onHost, { force: true });
    const before = loadavg().map((l) => l.toFixed(1));
    const r = await agent.restart({ [STARTUP_CPU_PROFILE_ENV]: values.profile ? inPod : '' });
    console.log(`restart ${i}/${restarts} (${pods} pods; load average ${before.join(' ')})`);
    console.log(restartLines(r).join('\n'));
    if (!values.profile) continue;
    if (!onHost) throw new Error('--profile needs --dir (the profile is read from the node directory)');
    // written just after the ready line
    for (let t = 0; t < 100 && !existsSync(onHost); t++) await new Promise((res) => setTimeout(res, 100));
    await new Promise((res) => setTimeout(res, 500));
    mkdirSync(values.profile, { recursive: true });
    const out = join(values.profile, `restart-${pods}-${Date.now()}.cpuprofile`);
    copyFileSync(onHost, out);
    const top = profileTop(JSON.parse(readFileSync(out, 'utf8')), Number(values.top ?? 25));
    console.log(`  profile ${out}: ${top.totalMs} ms of samples`);
    for (const [title, rows] of [
      ['self', top.self],
      ['inclusive', top.inclusive],
      ['by file', top.files],
    ] as const) {
      console.log(`  ${title}:`);
      for (const row of rows) console.log(`    ${String(row.ms).padStart(6)} ms  ${row.name}`);
    }
  }
} finally {
  await agent.close();
  if (dir && !values.keep && loadedFile) rmSync(loadedFile, { force: true });
}
