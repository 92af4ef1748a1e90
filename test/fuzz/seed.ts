// The fuzzers' shared randomness: one seed per run, printed so a failure can be replayed with
// FUZZ_SEED=<seed>; fixed by default so `npm test` is deterministic. Each fuzzer also prints
// its case count and time (the suite's time budget is watched through these lines).
import { rng } from '../../hack/bench/policy-workload.js';

export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261203);

export interface Gen {
  /** [0, 1) */
  next(): number;
  int(n: number): number;
  pick<T>(list: readonly T[]): T;
  chance(p: number): boolean;
  /** A string of `len` characters drawn from `alphabet`. */
  str(len: number, alphabet?: string): string;
}

export function gen(salt: number): Gen {
  const r = rng(FUZZ_SEED ^ salt);
  const int = (n: number) => Math.floor(r() * n);
  return {
    next: r,
    int,
    pick: (list) => list[int(list.length)]!,
    chance: (p) => r() < p,
    str: (len, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-._/:=#!*() \n\t,%\u0000é') =>
      Array.from({ length: len }, () => alphabet[int(alphabet.length)]).join(''),
  };
}

/** Logs what a fuzzer did (seed, cases, ms) in one line. */
export function report(name: string, cases: number, startedAt: number, extra: Record<string, number> = {}): void {
  const ms = Math.round(performance.now() - startedAt);
  const more = Object.entries(extra)
    .map(([k, v]) => ` ${k}=${v}`)
    .join('');
  console.log(`fuzz ${name}: seed=${FUZZ_SEED} cases=${cases} ms=${ms}${more}`);
}
