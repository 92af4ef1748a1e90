// A CPU profile of a process's start-up: a bundled binary's launcher starts it before the bundle
// loads (when the environment names a file) and writes it once the entry module has finished
// evaluating — for cilium-agent, once it is ready. V8's sampling profiler through an in-process
// inspector session: no port, no debugger; off unless asked for.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { dirname } from 'node:path';

/** The environment variable naming the file the start-up profile goes to (a `.cpuprofile`, Chrome DevTools' format). */
export const STARTUP_CPU_PROFILE_ENV = 'CILIUM_STARTUP_CPU_PROFILE';

/** Sampling interval, µs: V8's default is 1,000; start-up is a few seconds, finer costs little. */
export const CPU_PROFILE_INTERVAL_US = 500;

/**
 * Starts V8's CPU profiler; the returned function stops it and writes the profile to `path`
 * (its directory made if needed), and resolves to the file's size in bytes.
 */
export async function startCpuProfile(
  path: string,
  intervalUs = CPU_PROFILE_INTERVAL_US,
): Promise<() => Promise<number>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
  await session.post('Profiler.start');
  return async () => {
    try {
      const { profile } = await session.post('Profiler.stop');
      const text = JSON.stringify(profile);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text, { mode: 0o600 });
      return text.length;
    } finally {
      session.disconnect();
    }
  };
}

/**
 * The launcher's start-up profile: started when `STARTUP_CPU_PROFILE_ENV` names a file, else
 * nothing. A failure to write is reported on stderr, never a reason for the process to stop.
 */
export async function startupCpuProfile(env: NodeJS.ProcessEnv = process.env): Promise<() => Promise<void>> {
  const path = env[STARTUP_CPU_PROFILE_ENV];
  if (!path) return async () => {};
  const stop = await startCpuProfile(path);
  return async () => {
    try {
      const bytes = await stop();
      process.stderr.write(`start-up CPU profile written to ${path} (${bytes} bytes)\n`);
    } catch (e) {
      process.stderr.write(`start-up CPU profile not written to ${path}: ${(e as Error).message}\n`);
    }
  };
}
