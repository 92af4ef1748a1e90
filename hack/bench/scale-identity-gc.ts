// The scale harness's identity GC phase: once the CEP GC has taken every simulated endpoint, the
// harness's identities are all unused. The operator is restarted with a short heartbeat timeout
// (upstream's 30 min would make the phase last an hour) and its identity collector timed through a
// watch of the CiliumIdentities: when each was marked (`io.cilium.heartbeat`), when each was
// deleted, the operator's API requests over the phase, and the operator process's RSS and CPU.
// The rate limits stay upstream's: the client's 100 QPS paces the marks, `identity-gc-rate-limit`
// 2,500 per minute the deletes.
import type { KubeClient, KubeObject, ResourceRef } from '../../controllers/framework/index.js';
import { HEARTBEAT_ANNOTATION } from '../../controllers/operator/identity-gc.js';
import type { AgentUnderTest } from './scale-agents.js';
import { resumingWatch } from './scale-watch.js';

export const IDS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumidentities',
  kind: 'CiliumIdentity',
  namespaced: false,
};

export interface IdentityGcPhaseOptions {
  /** `identity-heartbeat-timeout` for the phase, seconds (default 60); the GC interval is half of it. */
  heartbeatS?: number;
  /** The operator's API requests so far (the API server's count for its service account). */
  operatorRequests: () => Promise<number>;
  progress?: (line: string) => void;
}

export interface IdentityGcReport {
  /** The harness's identities, unused when the phase began, and how many were deleted by its end. */
  identities: number;
  deleted: number;
  /** Marked during the phase, and already marked when it began. */
  marked: number;
  markedBefore: number;
  heartbeatS: number;
  /** The operator restarted with the phase's settings (request → its process running). */
  restartS: number;
  /** From the operator's restart to its first and its last mark. */
  firstMarkS: number;
  lastMarkS: number;
  /** From the restart to the first delete, and the first delete to the last. */
  firstDeleteS: number;
  deletingS: number;
  deletesPerS: number;
  /** The operator's API requests per minute over the phase. */
  operatorRequestsPerMin: number;
  /** The operator process: its peak RSS sampled each second and its CPU (user+system) over the phase. */
  operatorRssMiB: number;
  operatorCpuS: number;
  seconds: number;
}

const round = (x: number) => Math.round(x * 100) / 100;

export async function identityGcPhase(
  agent: AgentUnderTest,
  client: KubeClient,
  names: ReadonlySet<string>,
  o: IdentityGcPhaseOptions,
): Promise<IdentityGcReport> {
  const log = o.progress ?? (() => {});
  const heartbeatS = o.heartbeatS ?? 60;
  const markedAt = new Map<string, number>();
  const deletedAt = new Map<string, number>();
  const listed = await client.list<KubeObject>(IDS);
  const present = listed.items.filter((i) => names.has(i.metadata?.name ?? ''));
  const markedBefore = present.filter((i) => i.metadata?.annotations?.[HEARTBEAT_ANNOTATION]).length;
  const seen = (type: string, obj: KubeObject) => {
    const name = obj.metadata?.name ?? '';
    if (!names.has(name)) return;
    if (type === 'DELETED') {
      if (!deletedAt.has(name)) deletedAt.set(name, Date.now());
    } else if (obj.metadata?.annotations?.[HEARTBEAT_ANNOTATION] && !markedAt.has(name)) markedAt.set(name, Date.now());
  };
  // a 50,000-identity phase outlasts the API server's 30 min watch timeout: the watch resumes
  const watch = resumingWatch(client, IDS, listed.metadata.resourceVersion, () => present, seen);
  const t0 = Date.now();
  const requests0 = await o.operatorRequests();
  log(
    `identity GC: ${present.length} unused identities (${markedBefore} marked already); restarting the operator with identity-heartbeat-timeout ${heartbeatS}s`,
  );
  await agent.restartOperator({
    'identity-gc-interval': `${Math.max(1, Math.round(heartbeatS / 2))}s`,
    'identity-heartbeat-timeout': `${heartbeatS}s`,
  });
  const restartS = (Date.now() - t0) / 1000;
  const cpu0 = agent.operator().cpuSeconds();

  let rssPeak = agent.operator().rss();
  // marks at the client's 100 QPS, a heartbeat, deletes at 2,500/min; twice over, and two minutes
  const deadline = Date.now() + 2 * (present.length / 100 + heartbeatS + (present.length / 2500) * 60) * 1000 + 120_000;
  let logged = Date.now();
  while (deletedAt.size < present.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    rssPeak = Math.max(rssPeak, agent.operator().rss());
    if (Date.now() - logged >= 30_000) {
      logged = Date.now();
      log(`identity GC: ${markedAt.size} marked, ${deletedAt.size} deleted`);
    }
  }
  const seconds = (Date.now() - t0) / 1000;
  const cpu = agent.operator().cpuSeconds() - cpu0;
  // an in-process operator's own client counts from 0 at its restart
  const op = agent.operator();
  const requests = op.requests ? op.requests() : (await o.operatorRequests()) - requests0;
  await watch.stop();
  // loops, not Math.min(...xs): 50,000 arguments come near V8's limit on a call's arguments
  const span = (xs: Iterable<number>) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of xs) {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
    return lo <= hi ? { lo, hi } : { lo: NaN, hi: NaN };
  };
  const marks = span(markedAt.values());
  const deletes = span(deletedAt.values());
  const rel = (t: number) => round((t - t0) / 1000);
  const firstDelete = deletes.lo;
  const deletingS = round((deletes.hi - firstDelete) / 1000);
  return {
    identities: present.length,
    deleted: deletedAt.size,
    marked: markedAt.size,
    markedBefore,
    heartbeatS,
    restartS: round(restartS),
    firstMarkS: rel(marks.lo),
    lastMarkS: rel(marks.hi),
    firstDeleteS: rel(firstDelete),
    deletingS,
    deletesPerS: deletedAt.size > 1 ? round(deletedAt.size / Math.max(0.001, deletingS)) : NaN,
    operatorRequestsPerMin: Math.round(requests / (seconds / 60)),
    operatorRssMiB: Math.round((rssPeak / 1048576) * 10) / 10,
    operatorCpuS: round(cpu),
    seconds: round(seconds),
  };
}

/** The report's lines, or one saying the phase was skipped. */
export function identityGcLines(r: IdentityGcReport | undefined, skippedBy?: string): string[] {
  if (!r)
    return [
      skippedBy
        ? `operator identity GC (skipped: --skip ${skippedBy})`
        : 'operator identity GC (failed: see the log above)',
    ];
  return [
    `operator identity GC ${r.deleted} of ${r.identities} unused identities deleted in ${r.seconds} s (identity-heartbeat-timeout ${r.heartbeatS} s; operator restarted in ${r.restartS} s)`,
    `  marks            ${r.marked} marked (${r.markedBefore} before), first ${r.firstMarkS} s, last ${r.lastMarkS} s after the restart (the client's 100 QPS)`,
    `  deletes          first ${r.firstDeleteS} s after the restart, ${r.deletingS} s deleting, ${r.deletesPerS}/s (identity-gc-rate-limit 2,500/min = 41.7/s)`,
    `  operator         ${r.operatorRequestsPerMin} API requests/min over the phase; RSS ${r.operatorRssMiB} MiB (peak), CPU ${r.operatorCpuS} s`,
  ];
}
