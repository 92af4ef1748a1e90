// Hubble filters a client can make slow, per flow: the engine before this change (V8 RegExp for
// globs and regexes, regex-based selector parsing; copied below as the baseline) against the
// current one (a linear glob matcher, RE2, a scanning selector parser), in the same run. The
// baseline runs on shorter inputs where the full ones would take seconds per flow.
//
//   node --import tsx hack/bench/hubble-filters.ts
import { compileFilters, parseSelector } from '../../hubble/filter.js';
import type { Flow } from '../../hubble/types.js';

/** The glob compiler before: `*` → `.*` in a V8 RegExp (backtracking). */
const oldGlob = (p: string): RegExp =>
  new RegExp(
    `^${p
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
/** The selector requirement regexes before (quadratic on long runs of spaces). */
const oldRequirement = (p: string): unknown =>
  /^(.+?)\s+(notin|in)\s+\((.*)\)$/.exec(p) ?? /^(.+?)\s*(!=|==|=)\s*(.*)$/.exec(p);

/** Microseconds per call of fn, over at least `minMs` of calls. */
function perCall(fn: () => unknown, minMs = 200): number {
  let n = 0;
  const start = performance.now();
  let now = start;
  do {
    fn();
    n++;
    if ((n & 7) === 0 || n < 8) now = performance.now();
  } while (now - start < minMs);
  return ((performance.now() - start) / n) * 1000;
}

const flow = (node: string, url: string): Flow => ({ node_name: node, l7: { http: { method: 'GET', url } } });
const rows: [string, number, number][] = [];
const add = (what: string, before: number, after: number) => rows.push([what, before, after]);

// 1. the node_name glob with ten stars, on a name that almost matches
{
  const star10 = '*a'.repeat(10) + '*b';
  const now = compileFilters([{ node_name: [star10] }]);
  const before = oldGlob(star10);
  add(
    'node_name *a×10*b, 24-char name (µs/flow)',
    perCall(() => before.test('a'.repeat(24)), 500),
    perCall(() => now(flow('a'.repeat(24), '/'))),
  );
  add(
    'node_name *a×10*b, 60-char name (µs/flow; before: not run, seconds)',
    NaN,
    perCall(() => now(flow('a'.repeat(60), '/'))),
  );
}
// 2. a catastrophic regex on http_path
{
  const now = compileFilters([{ http_path: ['^/(a+)+$'] }]);
  const before = /^\/(a+)+$/;
  const path = '/' + 'a'.repeat(22) + '!';
  add(
    'http_path ^/(a+)+$ on /a×22! (µs/flow)',
    perCall(() => before.test(path), 500),
    perCall(() => now(flow('n', 'http://svc' + path))),
  );
}
// 3. selectors with 30,000 spaces (parsed once per request): one valid, one invalid (the old
// parser's worst case: every split point of the run is tried)
{
  const ok = 'app' + ' '.repeat(30_000) + 'in (web)';
  const badSel = 'a' + ' '.repeat(30_000) + 'b';
  const tryParse = (s: string) => {
    try {
      return parseSelector(s);
    } catch {
      return undefined; // InvalidArgument
    }
  };
  add(
    'label selector app<30k spaces>in (web), parse (µs)',
    perCall(() => oldRequirement(ok)),
    perCall(() => tryParse(ok)),
  );
  add(
    'label selector a<30k spaces>b, parse → InvalidArgument (µs)',
    perCall(() => oldRequirement(badSel), 1000),
    perCall(() => tryParse(badSel)),
  );
}
// 4. ordinary filters, to see what linear engines cost on normal flows
{
  const now = compileFilters([{ node_name: ['node-*'], http_path: ['^/api/v[0-9]+/'] }]);
  const g = oldGlob('node-*');
  const r = /^\/api\/v[0-9]+\//;
  const f = flow('default/node-a', 'http://svc/api/v1/items');
  add(
    'ordinary: node-* and ^/api/v[0-9]+/ (µs/flow)',
    perCall(() => g.test('node-a') && r.test('/api/v1/items')),
    perCall(() => now(f)),
  );
}

const fmt = (n: number) => (Number.isNaN(n) ? '—' : n < 10 ? n.toFixed(2) : n.toFixed(0));
console.log(`${'case'.padEnd(72)} ${'before'.padStart(12)} ${'after'.padStart(10)} ${'ratio'.padStart(8)}`);
for (const [what, before, after] of rows)
  console.log(
    `${what.padEnd(72)} ${fmt(before).padStart(12)} ${fmt(after).padStart(10)} ${(Number.isNaN(before) ? '—' : `${(before / after).toFixed(1)}×`).padStart(8)}`,
  );
