// Flows from the real kernel datapath: frames through the eBPF programs (BPF_PROG_TEST_RUN),
// events read from the ring buffer, parsed by Hubble; and a flood beyond the event budget counted
// as lost events, in ServerStatus and metrics, never silently.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadAddon } from '../../datapath/addon.js';
import { defaultConfig } from '../../datapath/datapath.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { buildFrame } from '../../datapath/packet.js';
import { HubbleServer } from '../../hubble/server.js';
import type { Flow } from '../../hubble/types.js';
import { pinRoot, removePins } from '../datapath/harness.js';
import { programPods, resolver } from './fixtures.js';
import { setRules } from '../datapath/policy-rules.js';

const pins = pinRoot();
const floodPins = pinRoot();
let dp: KernelDatapath;
let hubble: HubbleServer;

beforeAll(() => {
  dp = new KernelDatapath({ pinRoot: pins, config: { ...defaultConfig, eventsRate: 0 }, readEvents: false });
  programPods(dp);
  hubble = new HubbleServer({ nodeName: 'kernel-node', resolver: resolver(), metrics: 'drop' });
  dp.onEvent((e) => hubble.observe(e));
});

afterAll(async () => {
  await hubble?.close();
  try {
    dp?.close();
  } finally {
    removePins(pins);
    removePins(floodPins);
  }
});

async function flows(): Promise<Flow[]> {
  const out: Flow[] = [];
  for await (const r of hubble.observer.getFlows({ number: 1000 })) if (r.flow) out.push(r.flow);
  return out;
}

describe('Hubble on the kernel datapath', () => {
  it('parses kernel drop, trace and verdict events with pods, reasons and directions', async () => {
    dp.process(buildFrame({ src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', sport: 40001, dport: 80 }), 'to-container');
    dp.process(buildFrame({ src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', sport: 40002, dport: 81 }), 'to-container');
    dp.process(
      buildFrame({ src: '10.2.0.5', dst: '10.1.0.2', proto: 'tcp', sport: 40003, dport: 5432 }),
      'to-container',
    );
    const all = await flows();
    const drops = all.filter((f) => f.event_type?.type === 1);
    expect(
      drops.map((f) => [
        f.drop_reason_desc,
        f.traffic_direction,
        f.source?.pod_name,
        f.destination?.pod_name,
        f.l4?.TCP?.destination_port,
      ]),
    ).toEqual([
      ['POLICY_DENIED', 'INGRESS', 'frontend-7d9f', 'backend-55c4', 81],
      ['POLICY_DENY', 'INGRESS', 'client-1', 'backend-55c4', 5432],
    ]);
    const trace = all.find((f) => f.event_type?.type === 4)!;
    expect(trace).toMatchObject({
      verdict: 'FORWARDED',
      trace_observation_point: 'TO_ENDPOINT',
      traffic_direction: 'INGRESS',
      is_reply: { value: false },
      IP: { source: '10.1.0.1', destination: '10.1.0.2' },
    });
    expect(trace.l4?.TCP).toMatchObject({ source_port: 40001, destination_port: 80, flags: { SYN: true } });
    const verdicts = all.filter((f) => f.event_type?.type === 5);
    expect(verdicts.map((f) => f.verdict)).toEqual(['FORWARDED', 'DROPPED', 'DROPPED']);
    expect(await hubble.metricsRegistry.getSingleMetricAsString('hubble_drop_total')).toMatch(
      /reason="POLICY_DENY",protocol="TCP"\} 1/,
    );
  });

  it('a flood beyond the event budget is counted as lost: ServerStatus and metrics add up to every event', async () => {
    const flood = new KernelDatapath({
      pinRoot: floodPins,
      config: { ...defaultConfig, eventsRate: 1000, eventsBurst: 200 },
      readEvents: false,
    });
    try {
      flood.syncEndpoints([{ id: 3, ips: ['10.8.0.1'], ifindex: 1, identity: 1001 }]);
      setRules(flood, 3, []);
      const lost = () => {
        const l = flood.lostEvents();
        return l.rateLimited + l.ringFull;
      };
      const h = new HubbleServer({
        nodeName: 'n',
        resolver: resolver(),
        ringCapacity: 65535,
        lostEventsSource: lost,
        lostEventsPollMs: 60_000,
      });
      flood.onEvent((e) => h.observe(e));
      const n = 5000;
      const r = loadAddon().progTestRun(
        flood.programFd('cil_from_container'),
        buildFrame({ src: '10.8.0.1', dst: '10.8.0.2', proto: 'tcp', dport: 80 }),
        n,
        0,
      );
      expect(r.retval).toBe(2);
      flood.drainEvents();
      h.observer.pollLost();
      const s = h.observer.status();
      const lostCount = s.lost_events?.find((l) => l.source === 'PERF_EVENT_RING_BUFFER')?.count ?? 0;
      expect(lostCount).toBeGreaterThan(0);
      // every event is either a flow or counted lost (the lost record itself takes one ring slot)
      expect(s.seen_flows - 1 + lostCount).toBe(2 * n);
      expect(await h.metricsRegistry.getSingleMetricAsString('hubble_lost_events_total')).toContain(
        `source="perf_event_ring_buffer"} ${lostCount}`,
      );
      await h.close();
    } finally {
      flood.close();
    }
  });
});
