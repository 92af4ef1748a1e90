// The public entry: createDatapath picks the kernel backend on this machine and the sim on request.
import { afterAll, describe, expect, it } from '@jest/globals';
import { createDatapath, buildFrame, Dir } from '../../datapath/index.js';
import { pinRoot, removePins } from './harness.js';
import { swapPolicy } from './policy-rules.js';

const pins = pinRoot();
afterAll(() => removePins(pins));

describe('createDatapath', () => {
  it('auto picks the kernel here; sim on request; both speak the same interface', () => {
    const auto = createDatapath({ kernel: { pinRoot: pins, readEvents: false } });
    expect(auto.fallbackReason).toBeUndefined();
    expect(auto.datapath.kind).toBe('kernel');
    const sim = createDatapath({ backend: 'sim' });
    expect(sim.datapath.kind).toBe('sim');
    try {
      for (const { datapath } of [auto, sim]) {
        datapath.syncEndpoints([{ id: 9, ips: ['10.66.0.1'], ifindex: 1, identity: 1001 }]);
        swapPolicy(datapath, 9, [
          { identity: 0, direction: 'egress', protocol: 0, portPrefix: { port: 0, prefixLen: 0 }, verdict: 'allow' },
        ]);
        expect(
          datapath.process(buildFrame({ src: '10.66.0.1', dst: '10.66.0.2', proto: 'udp' }), 'from-container').allowed,
        ).toBe(true);
        expect(datapath.metrics()).toContainEqual(
          expect.objectContaining({ reason: 0, direction: 'egress', packets: 1 }),
        );
        expect(datapath.dumpEndpoints()).toEqual([{ ip: '10.66.0.1', id: 9, ifindex: 1, identity: 1001 }]);
      }
      expect(Dir.egress).toBe(2);
    } finally {
      auto.datapath.close();
      sim.datapath.close();
    }
  });
});
