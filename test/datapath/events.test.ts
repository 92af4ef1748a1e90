// Event budget: a flood of drops fills at most the per-CPU budget of the ring; the rest is
// counted as lost, and the metrics map still counts every packet.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadAddon } from '../../datapath/addon.js';
import { defaultConfig } from '../../datapath/datapath.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { buildFrame } from '../../datapath/packet.js';
import { SimDatapath } from '../../datapath/sim.js';
import { pinRoot, removePins } from './harness.js';
import { setRules } from './policy-rules.js';

const pins = pinRoot();
let dp: KernelDatapath;

beforeAll(() => {
  dp = new KernelDatapath({
    pinRoot: pins,
    config: { ...defaultConfig, eventsRate: 1000, eventsBurst: 200 },
    readEvents: false,
  });
  dp.syncEndpoints([{ id: 3, ips: ['10.8.0.1'], ifindex: 1, identity: 1001 }]);
  setRules(dp, 3, []); // default deny: every new connection is a policy drop
});

afterAll(() => {
  try {
    dp?.close();
  } finally {
    removePins(pins);
  }
});

describe('event budget', () => {
  it('a flood of 20,000 drops yields at most the budget in events; every drop is still counted', () => {
    const flood = 20_000;
    const frame = buildFrame({ src: '10.8.0.1', dst: '10.8.0.2', proto: 'tcp', dport: 80 });
    const t0 = process.hrtime.bigint();
    const r = loadAddon().progTestRun(dp.programFd('cil_from_container'), frame, flood, 0);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    expect(r.retval).toBe(2); // TC_ACT_SHOT
    const events = dp.drainEvents();
    // burst + rate x elapsed (+1 for rounding), per CPU; the test run stays on one CPU
    const budget = 200 + Math.ceil(1000 * seconds) + 1;
    expect(events.length).toBeGreaterThan(0);
    expect(events.length).toBeLessThanOrEqual(budget * 2); // a drop is a verdict event plus a drop event
    const lost = dp.lostEvents();
    expect(lost.rateLimited + events.length).toBe(flood * 2);
    expect(lost.ringFull).toBe(0);
    const drops = dp.metrics().find((m) => m.reason === 133 && m.direction === 'egress');
    expect(drops?.packets).toBe(flood);
    expect(drops?.bytes).toBe(flood * frame.length);
  });
});

describe('event budget (sim)', () => {
  it('counts what the budget suppressed in lostEvents, as the kernel does', () => {
    const sim = new SimDatapath({
      config: { ...defaultConfig, eventsRate: 1000, eventsBurst: 200 },
      clockNs: () => 1_000_000_000n, // time stands still: only the burst gets through
    });
    sim.syncEndpoints([{ id: 3, ips: ['10.8.0.1'], ifindex: 1, identity: 1001 }]);
    setRules(sim, 3, []);
    const flood = 2_000;
    let events = 0;
    for (let i = 0; i < flood; i++)
      events += sim.process(
        buildFrame({ src: '10.8.0.1', dst: '10.8.0.2', proto: 'tcp', dport: 80, sport: 10_000 + i }),
        'from-container',
      ).events.length;
    expect(events).toBeGreaterThan(0);
    expect(events).toBeLessThanOrEqual(200);
    expect(sim.lostEvents()).toEqual({ rateLimited: flood * 2 - events, ringFull: 0 });
    sim.close();
  });
});
