// The start-up CPU profile (controllers/framework/cpu-profile.ts): off unless the environment names
// a file; when it does, the file is a V8 profile whose samples include the work done meanwhile, and
// hack/bench/cpu-profile-top.ts finds that work by name.
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  STARTUP_CPU_PROFILE_ENV,
  startCpuProfile,
  startupCpuProfile,
} from '../../../controllers/framework/cpu-profile.js';
import { profileTop } from '../../../hack/bench/cpu-profile-top.js';

const dir = mkdtempSync(join(tmpdir(), 'kts-cpu-profile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A function the profile must show: 150 ms of work in this file. */
function burnCpuForProfile(ms: number): number {
  const until = performance.now() + ms;
  let x = 0;
  while (performance.now() < until) for (let i = 0; i < 10_000; i++) x = (x * 31 + i) % 1_000_003;
  return x;
}

describe('start-up CPU profile', () => {
  it('writes nothing when the environment names no file', async () => {
    const stop = await startupCpuProfile({});
    burnCpuForProfile(5);
    await stop();
    const empty = await startupCpuProfile({ [STARTUP_CPU_PROFILE_ENV]: '' });
    await empty();
    expect(existsSync(join(dir, 'none'))).toBe(false);
  });

  it('writes a profile (owner-only) whose samples name the work done while it ran', async () => {
    const path = join(dir, 'nested', 'startup.cpuprofile');
    const stop = await startupCpuProfile({ [STARTUP_CPU_PROFILE_ENV]: path });
    burnCpuForProfile(150);
    await stop();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const profile = JSON.parse(readFileSync(path, 'utf8'));
    expect(profile.samples.length).toBeGreaterThan(50);
    const top = profileTop(profile, 10);
    const burn = top.inclusive.find((r) => r.name.startsWith('burnCpuForProfile '));
    expect(burn?.name).toMatch(/test\/controllers\/framework\/cpu-profile\.test\.ts:\d+$/);
    expect(burn!.ms).toBeGreaterThanOrEqual(80);
    // a window before any sample holds nothing
    expect(profileTop(profile, 10, -10, -1).totalMs).toBe(0);
  });

  it('stops a second profiler independently', async () => {
    const path = join(dir, 'second.cpuprofile');
    const stop = await startCpuProfile(path, 1000);
    burnCpuForProfile(20);
    expect(await stop()).toBe(readFileSync(path, 'utf8').length);
  });
});
