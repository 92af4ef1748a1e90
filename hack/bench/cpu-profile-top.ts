// Where a CPU profile's time went (a `.cpuprofile` from `node --cpu-prof` or the inspector): the
// functions with the most self time, the most total (inclusive) time, and self time by source file;
// a bundle's positions mapped back to our sources through its source map (an image's /app is this
// checkout).
//   node --import tsx hack/bench/cpu-profile-top.ts FILE.cpuprofile [--top 30] [--from MS --to MS]
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Positions in a bundle → `source:line` of the file it came from (its linked .map). */
class Locator {
  private readonly maps = new Map<string, SourceMap | undefined>();
  where(f: CallFrame): string {
    if (!f.url) return f.functionName ? '(native)' : '';
    const path = f.url.startsWith('file://') ? fileURLToPath(f.url) : f.url;
    const local = path.startsWith('/app/') ? join(ROOT, path.slice(5)) : path;
    const map = this.map(local);
    const e = map?.findEntry(f.lineNumber, f.columnNumber);
    if (e && 'originalSource' in e && e.originalSource) {
      const src = e.originalSource.startsWith('file://')
        ? fileURLToPath(e.originalSource)
        : join(dirname(local), e.originalSource);
      return `${relative(ROOT, src)}:${e.originalLine + 1}`;
    }
    return `${local.startsWith(ROOT) ? relative(ROOT, local) : local}:${f.lineNumber + 1}`;
  }
  private map(file: string): SourceMap | undefined {
    if (!this.maps.has(file)) {
      const m = `${file}.map`;
      this.maps.set(file, existsSync(m) ? new SourceMap(JSON.parse(readFileSync(m, 'utf8'))) : undefined);
    }
    return this.maps.get(file);
  }
}

export interface ProfileTop {
  totalMs: number;
  self: { name: string; ms: number }[];
  inclusive: { name: string; ms: number }[];
  files: { name: string; ms: number }[];
}

/** Self and inclusive milliseconds per function (by name and source position) within [fromMs, toMs]. */
export function profileTop(p: Profile, top = 30, fromMs = 0, toMs = Infinity): ProfileTop {
  const loc = new Locator();
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = new Map<number, string>();
  const labelOf = (id: number): string => {
    let l = label.get(id);
    if (l === undefined) {
      const f = byId.get(id)!.callFrame;
      l = `${f.functionName || '(anonymous)'} ${loc.where(f)}`;
      label.set(id, l);
    }
    return l;
  };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const files = new Map<string, number>();
  let t = 0;
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    t += (p.timeDeltas[i] ?? 0) / 1000;
    if (t < fromMs || t > toMs) continue;
    const id = p.samples[i]!;
    const name = labelOf(id);
    if (name.startsWith('(idle)')) continue;
    total += dt;
    self.set(name, (self.get(name) ?? 0) + dt);
    const file = name.slice(name.lastIndexOf(' ') + 1).replace(/:\d+$/, '');
    files.set(file, (files.get(file) ?? 0) + dt);
    // each function once per sample, however deep its recursion
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const l = labelOf(at);
      if (!seen.has(l)) {
        seen.add(l);
        incl.set(l, (incl.get(l) ?? 0) + dt);
      }
    }
  }
  const sorted = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms: Math.round(ms) }));
  return { totalMs: Math.round(total), self: sorted(self), inclusive: sorted(incl), files: sorted(files) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' } },
  });
  if (!positionals[0]) throw new Error('usage: cpu-profile-top.ts FILE.cpuprofile [--top N] [--from MS --to MS]');
  const r = profileTop(
    JSON.parse(readFileSync(positionals[0], 'utf8')) as Profile,
    Number(values.top ?? 30),
    Number(values.from ?? 0),
    values.to === undefined ? Infinity : Number(values.to),
  );
  const print = (title: string, rows: { name: string; ms: number }[]) => {
    console.log(`\n${title}`);
    for (const r of rows) console.log(`${String(r.ms).padStart(7)} ms  ${r.name}`);
  };
  console.log(`${r.totalMs} ms of samples (idle excluded)`);
  print('self time', r.self);
  print('total time (inclusive)', r.inclusive);
  print('self time by file', r.files);
}
