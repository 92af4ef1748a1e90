// How the scale benches print an agent restart: restart → ready against the goal, where the time
// went before the stages and in them, the agent's CPU, and when each informer synced.
import type { RestartReport } from './scale-agents.js';

const list = (o: Record<string, number> | undefined): string =>
  Object.entries(o ?? {})
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

export function restartLines(r: RestartReport): string[] {
  const met = r.readyMs <= 10_000 && r.rewritten === 0;
  return [
    `restart → ready      ${r.readyMs} ms, ${r.rewritten} entries rewritten, ${r.unchanged} ipcache entries unchanged (goal ≤ 10 s, 0: ${met ? 'met' : 'NOT met'})`,
    ...(r.beforeStartMs
      ? [
          `  before the stages  container start → process ${r.containerToProcessMs ?? '?'} ms (the devcluster's sandbox); ${list(r.beforeStartMs)} ms; CPU ${list(r.beforeStartCpuMs)} ms`,
        ]
      : []),
    `  start-up stages    ${list(r.stagesMs)} ms (cilium_agent_bootstrap_seconds)`,
    `  stages' CPU        ${list(r.cpuMs)} ms (the agent's user+system; node base parts: ${list(r.baseMs)} ms)`,
    `  informers synced   ${Object.entries(r.syncMs ?? {})
      .sort(([, a], [, b]) => a - b)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')} ms after the manager started`,
  ];
}
