// The scale harness (`npm run bench:scale`) at small size, so that it keeps working: an in-process
// agent (sim datapath) and operator, 200 simulated remote pods on 2 simulated nodes, 50 policies,
// a few seconds of churn. Its numbers must be sane, not fast: every pod reached the ipcache, every
// churn create was seen there, memory and CPU were measured, the restart finished, the operator
// collected every CEP of the deleted nodes (orphaned by their deletion, so the operator's work),
// then, restarted with a 2 s heartbeat timeout, marked and deleted every identity no CEP used.
import { describe, expect, it } from '@jest/globals';
import { inprocessAgent } from '../../hack/bench/scale-agents.js';
import { runScale } from '../../hack/bench/scale-harness.js';

describe('scale harness (small)', () => {
  it('loads, churns, restarts and collects 200 remote pods with sane figures', async () => {
    const agent = await inprocessAgent();
    try {
      const r = await runScale(agent, {
        pods: 200,
        policies: 50,
        churnRate: 20,
        churnSeconds: 3,
        identityHeartbeatS: 2,
      });
      expect(r).toMatchObject({ pods: 200, nodes: 2, identities: 20, policies: 50, loadedInIpcache: 200 });
      expect(r.rssMiB).toBeGreaterThan(0);
      expect(r.churnOps).toBeGreaterThanOrEqual(50);
      // the ipcache says what the API says after the churn
      expect({ stale: r.stale, wrong: r.wrong }).toEqual({ stale: 0, wrong: 0 });
      expect(r.latencyMs.n).toBeGreaterThan(0);
      expect(r.latencyMs.p50).toBeGreaterThanOrEqual(0);
      expect(r.latencyMs.p99).toBeGreaterThanOrEqual(r.latencyMs.p50);
      // the split by the harness's own watch: seen for most creates, each part within the whole
      expect(r.splitMs.n).toBeGreaterThan(0);
      expect(r.splitMs.api.p50 + r.splitMs.agent.p50).toBeLessThanOrEqual(r.latencyMs.max + 1);
      expect(Number.isFinite(r.cpuPer1kEventsS)).toBe(true);
      expect(r.restart.readyMs).toBeGreaterThan(0);
      // start-up marks: every stage, and overall at least their sum
      expect(Object.keys(r.restart.stagesMs)).toEqual(
        expect.arrayContaining([
          'restore',
          'k8sInit',
          'initAPI',
          'k8sCacheSync',
          'workloadsInit',
          'mapsInit',
          'overall',
        ]),
      );
      const { overall, ...stages } = r.restart.stagesMs;
      expect(overall).toBeGreaterThanOrEqual(
        Object.values(stages).reduce((a, b) => a + b, 0) - Object.keys(stages).length,
      );
      expect(r.heapAfterGcMiB).toBeGreaterThanOrEqual(0);
      // the agent's memory by part, from its gauges: the heap within the RSS, used within reserved
      for (const m of [r.memory.loaded, r.memory.afterChurn]) {
        expect(m.heapUsed).toBeGreaterThan(0);
        expect(m.heapTotal).toBeGreaterThanOrEqual(m.heapUsed);
        expect(m.oldSpaceTotal).toBeLessThanOrEqual(m.heapTotal);
        expect(m.rss).toBeGreaterThan(m.heapTotal);
        expect(m.external).toBeGreaterThanOrEqual(m.arrayBuffers);
      }
      // the agent's GC pauses during the churn (its nodejs_gc_duration_seconds): counted, never negative
      expect(r.agentGc.major).toBeGreaterThanOrEqual(r.agentGc.majorOver100ms);
      expect(r.agentGc.majorOver100ms).toBeGreaterThanOrEqual(0);
      expect(r.agentGc.minorS).toBeGreaterThanOrEqual(0);
      // the CEP GC split: the wait for the operator's interval, then its deletes
      expect(r.gc.waitS).toBeGreaterThanOrEqual(0);
      expect(r.gc.waitS).toBeLessThanOrEqual(r.gc.seconds);
      // timed by the harness's watch: nodes deleted, then the collector orphans a CEP, then the operator deletes
      expect(r.gc.nodesDeletedS).toBeLessThanOrEqual(r.gc.waitS);
      expect(r.gc.firstOrphanedS).toBeLessThanOrEqual(r.gc.waitS);
      expect(r.gc.left).toBe(0);
      expect(r.gc.ceps).toBeGreaterThan(0);
      expect(r.apiRequestsPerMin).toBeGreaterThan(0);
      // the identity GC: every identity the harness made, unused now, marked and then deleted
      const id = r.identityGc!;
      expect({ identities: id.identities, deleted: id.deleted, marked: id.marked + id.markedBefore }).toEqual({
        identities: 20,
        deleted: 20,
        marked: 20,
      });
      expect(id.firstMarkS).toBeLessThanOrEqual(id.lastMarkS);
      // no identity goes before a mark the restarted operator set is a heartbeat timeout old
      expect(id.firstDeleteS).toBeGreaterThanOrEqual(id.heartbeatS);
      expect(id.deletesPerS).toBeGreaterThan(0);
      expect(id.operatorRequestsPerMin).toBeGreaterThan(0);
      expect(id.operatorRssMiB).toBeGreaterThan(0);
      expect(id.operatorCpuS).toBeGreaterThanOrEqual(0);
    } finally {
      await agent.close();
    }
  }, 240_000);
});
