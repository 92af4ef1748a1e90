// hack/bench/cpu-profile-top.ts reads a V8 CPU profile (`node --cpu-prof`'s format): the work done
// while the profiler ran is found by name and source position, self and inclusive, and a window
// before any sample holds nothing.
import { describe, expect, it } from '@jest/globals';
import { Session } from 'node:inspector/promises';
import { profileTop } from '../../hack/bench/cpu-profile-top.js';

/** A function the profile must show: `ms` of work in this file. */
function burnCpuForProfile(ms: number): number {
  const until = performance.now() + ms;
  let x = 0;
  while (performance.now() < until) for (let i = 0; i < 10_000; i++) x = (x * 31 + i) % 1_000_003;
  return x;
}

describe('cpu-profile-top', () => {
  it('names the function that did the work, with its source position', async () => {
    const session = new Session();
    session.connect();
    try {
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 500 });
      await session.post('Profiler.start');
      burnCpuForProfile(150);
      const { profile } = await session.post('Profiler.stop');
      const top = profileTop(profile as never, 10);
      const burn = top.inclusive.find((r) => r.name.startsWith('burnCpuForProfile '));
      expect(burn?.name).toMatch(/test\/hack\/cpu-profile-top\.test\.ts:\d+$/);
      expect(burn!.ms).toBeGreaterThanOrEqual(80);
      expect(top.totalMs).toBeGreaterThanOrEqual(burn!.ms);
      expect(profileTop(profile as never, 10, -10, -1).totalMs).toBe(0);
    } finally {
      session.disconnect();
    }
  });
});
