// Benchmark: the agent at cluster scale (issue #25). node-1's agent on a two-node devcluster, plus
// simulated remote nodes writing CiliumNodes and CiliumEndpoints through the API: memory in total
// and per remote pod, a remote pod's creation → its entry in node-1's kernel ipcache map under
// churn, CPU per 1,000 events, restart → ready with the entries it rewrote, the operator's CEP GC
// and identity GC, and the API request rate. Goals: RSS < 438 MiB at 50,000 pods, ≤ 2 KiB per remote pod, p99 ≤
// 200 ms, restart ≤ 10 s with 0 rewritten. The same-run baseline is the agent before any remote
// object (the per-pod figure is the difference).
//   npm run bench:scale [-- --pods 10000 --identities 1000 --policies 1000 --rate 20 --seconds 20 --agent nodes|inprocess --skip restart,gc,idgc --identity-heartbeat 60]
import { parseArgs } from 'node:util';
import { inprocessAgent, nodesAgent, type AgentUnderTest } from './scale-agents.js';
import { memoryLine, runScale } from './scale-harness.js';
import { identityGcLines } from './scale-identity-gc.js';
import { restartLines } from './scale-restart-lines.js';

const { values } = parseArgs({
  options: {
    pods: { type: 'string' },
    identities: { type: 'string' },
    policies: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string' },
    agent: { type: 'string' },
    skip: { type: 'string' },
    'identity-heartbeat': { type: 'string' },
  },
});
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
const log = (l: string) => console.error(`[scale] ${l}`);

const agent: AgentUnderTest = values.agent === 'inprocess' ? await inprocessAgent() : await nodesAgent(log);
// An interrupted benchmark still takes its cluster down.
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => void agent.close().finally(() => process.exit(130)));
try {
  const skip = (values.skip?.split(',').filter(Boolean) ?? []) as ('restart' | 'gc' | 'idgc')[];
  const r = await runScale(agent, {
    pods: num(values.pods) ?? 10_000,
    identities: num(values.identities),
    policies: num(values.policies),
    churnRate: num(values.rate),
    churnSeconds: num(values.seconds),
    skip,
    identityHeartbeatS: num(values['identity-heartbeat']),
    progress: log,
  });
  const goal = (ok: boolean) => (ok ? 'met' : 'NOT met');
  console.log(
    [
      `scale (${agent.kind}): ${r.pods} remote pods on ${r.nodes} simulated nodes, ${r.identities} identities, ${r.policies} policies; load average ${r.loadAverage.join(' ')}; loaded in ${r.loadS.toFixed(0)} s`,
      `agent RSS            ${r.rssMiB} MiB (before any remote object ${r.rssBaseMiB} MiB; goal < 438 MiB at 50k: ${goal(r.rssMiB < 438)})`,
      `per remote pod       ${r.perPodBytes} B marginal (RSS growth over the second half of the pods) (${(r.perPodBytes / 1024).toFixed(2)} KiB; goal ≤ 2 KiB: ${goal(r.perPodBytes <= 2048)})`,
      `CEP → ipcache        p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms over ${r.latencyMs.n} creates under churn (${r.churnOps} ops; goal p99 ≤ 200 ms: ${goal(r.latencyMs.p99 <= 200)})`,
      `  split            create → the API server's watch event p50 ${r.splitMs.api.p50} / p99 ${r.splitMs.api.p99} ms; that event → the agent's map entry p50 ${r.splitMs.agent.p50} / p99 ${r.splitMs.agent.p99} ms (${r.splitMs.n} creates)`,
      `CPU per 1,000 events ${r.cpuPer1kEventsS} s (${r.churnEvents} CEP events)`,
      ...(skip.includes('restart') ? ['restart → ready      (skipped: --skip restart)'] : restartLines(r.restart)),
      `agent GC in churn    ${r.agentGc.major} major GCs, ${r.agentGc.majorS} s in all, ${r.agentGc.majorOver100ms} over 100 ms; minor GCs ${r.agentGc.minorS} s (nodejs_gc_duration_seconds: the agent stops for them)`,
      `heap after GC        ${r.heapAfterGcMiB} MiB (cilium_agent_heap_after_gc_bytes after the churn; 0: no major GC yet)`,
      `agent memory loaded  ${memoryLine(r.memory.loaded)}`,
      `  after the churn    ${memoryLine(r.memory.afterChurn)}`,
      skip.includes('gc')
        ? 'operator CEP GC      (skipped: --skip gc)'
        : `operator CEP GC      ${r.gc.ceps} CEPs in ${r.gc.seconds.toFixed(1)} s after their nodes were deleted, orphaning them: ${r.gc.waitS} s until the first was gone (nodes deleted at ${r.gc.nodesDeletedS} s, the first CEP orphaned at ${r.gc.firstOrphanedS} s), ${(r.gc.seconds - r.gc.waitS).toFixed(1)} s deleting (${r.gc.left} left; ${r.gc.operatorDeletes} deletes by the operator, ${Math.round((r.gc.operatorDeletes / Math.max(1, r.gc.seconds - r.gc.waitS)) * 60)}/min)`,
      ...identityGcLines(r.identityGc, skip.includes('gc') ? 'gc' : skip.includes('idgc') ? 'idgc' : undefined),
      `API requests/min     simulated agents ${r.apiRequestsPerMin}, real agents ${r.agentRequestsPerMin.churn}, operator ${r.operatorRequestsPerMin.churn} during churn; operator ${skip.includes('gc') ? '(skipped)' : r.operatorRequestsPerMin.gc} during the CEP GC (apiserver /metrics)`,
      `ipcache correctness  all loaded pods in it: ${r.loadedInIpcache}/${r.pods}; after churn ${r.stale} deleted pods left in it, ${r.wrong} live pods missing or wrong`,
    ].join('\n'),
  );
} finally {
  await agent.close();
}
