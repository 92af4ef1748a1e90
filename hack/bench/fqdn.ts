// Benchmark: memory per 10,000 learned names in the FQDN cache (proxy/fqdn-cache.ts), the number
// issue #21 asks for. Each name is learned by one endpoint with two IPv4 addresses (a typical A
// answer); the heap is measured after a forced GC before and after, and, as the baseline in the
// same run, the same names and IPs held in a plain Map<string, string[]>, so the ratio shows what
// the cache's indexes (per endpoint, per name, by IP) cost over the bare data.
//   npm run bench:fqdn [-- --names 10000 --rounds 3]
import { parseArgs } from 'node:util';
import { FqdnCache } from '../../proxy/fqdn-cache.js';

const { values } = parseArgs({
  options: { names: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '3' } },
});
const names = Number(values.names);
const rounds = Number(values.rounds);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:fqdn)');

function ipOf(i: number, k: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${((i & 255) + k) & 255}`;
}

function heap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

function measure(fill: () => unknown): number {
  const before = heap();
  const held = fill();
  const after = heap();
  if (!held) throw new Error('nothing held');
  return after - before;
}

const cacheBytes: number[] = [];
const baseBytes: number[] = [];
for (let r = 0; r < rounds; r++) {
  cacheBytes.push(
    measure(() => {
      const cache = new FqdnCache();
      for (let i = 0; i < names; i++)
        cache.update(1 + (i % 50), `svc-${i}.example${i % 97}.test`, [ipOf(i, 0), ipOf(i, 1)], 300);
      return cache.size === names ? cache : undefined;
    }),
  );
  baseBytes.push(
    measure(() => {
      const map = new Map<string, string[]>();
      for (let i = 0; i < names; i++) map.set(`svc-${i}.example${i % 97}.test.`, [ipOf(i, 0), ipOf(i, 1)]);
      return map.size === names ? map : undefined;
    }),
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const per10k = (b: number) => (b / names) * 10_000;
const c = median(cacheBytes);
const b = median(baseBytes);
console.log(
  `FQDN cache, ${names} names × 2 IPs, ${rounds} rounds (median), load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)}`,
);
console.log(`  cache:     ${(per10k(c) / 1048576).toFixed(2)} MiB per 10,000 names (${(c / names).toFixed(0)} B/name)`);
console.log(`  plain Map: ${(per10k(b) / 1048576).toFixed(2)} MiB per 10,000 names (${(b / names).toFixed(0)} B/name)`);
console.log(`  ratio cache / plain Map: ${(c / b).toFixed(2)}`);
