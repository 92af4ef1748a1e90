// Container logs as the kubelet keeps and serves them: the writer's CRI lines (F/P, per stream,
// one file per instance, the plain log alongside) and the reader's tailLines, since, timestamps,
// limitBytes and follow (ends when the instance stops, after draining).
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  containerLogPath,
  ContainerLogWriter,
  parseEntries,
  readContainerLog,
  tail,
  type LogReadOptions,
} from '../../devcluster/nodes/container-log.js';

const root = mkdtempSync(join(tmpdir(), 'kts-container-log-'));
let n = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fresh pod dir with one instance written from `writes`, both pipes ended. */
async function written(writes: ['stdout' | 'stderr', string][]): Promise<string> {
  const dir = join(root, `pod-${n++}`);
  const w = new ContainerLogWriter(dir, 'main', 0);
  const out = new PassThrough();
  const err = new PassThrough();
  w.attach(out, err);
  for (const [s, text] of writes) (s === 'stdout' ? out : err).write(text);
  await new Promise((r) => setImmediate(r));
  out.end();
  err.end();
  await Promise.all([new Promise((r) => out.on('close', r)), new Promise((r) => err.on('close', r))]);
  return dir;
}

async function read(dir: string, o: LogReadOptions, running = () => false): Promise<string> {
  let text = '';
  await readContainerLog(
    containerLogPath(dir, 'main', 0),
    o,
    { write: (t) => (text += t), closed: () => false },
    running,
  );
  return text;
}

describe('ContainerLogWriter', () => {
  it('writes CRI lines: full lines F, an unfinished one P, the stream named; the plain log as is', async () => {
    const dir = await written([
      ['stdout', 'one\ntwo\npar'],
      ['stderr', 'oops\n'],
      ['stdout', 'tial\n'],
    ]);
    const cri = readFileSync(containerLogPath(dir, 'main', 0), 'utf8')
      .trim()
      .split('\n');
    expect(cri.map((l) => l.replace(/^\S+ /, ''))).toEqual([
      'stdout F one',
      'stdout F two',
      'stdout P par',
      'stderr F oops',
      'stdout F tial',
    ]);
    for (const l of cri) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z /);
    expect(readFileSync(join(dir, 'main.log'), 'utf8')).toBe('one\ntwo\nparoops\ntial\n');
  });
});

describe('readContainerLog', () => {
  it('joins partial entries into lines', async () => {
    const dir = await written([
      ['stdout', 'a\nb'],
      ['stdout', 'c\n'],
    ]);
    expect(await read(dir, {})).toBe('a\nbc\n');
  });

  it.each([
    ['tailLines 2', { tailLines: 2 }, 'l3\nl4\n'],
    ['tailLines 0', { tailLines: 0 }, ''],
    ['tailLines beyond the file', { tailLines: 10 }, 'l1\nl2\nl3\nl4\n'],
    ['limitBytes cuts inside a line', { limitBytes: 4 }, 'l1\nl'],
    ['tail then limit', { tailLines: 1, limitBytes: 100 }, 'l4\n'],
    ['since in the future', { since: new Date(Date.now() + 60_000) }, ''],
    ['since in the past', { since: new Date(Date.now() - 60_000) }, 'l1\nl2\nl3\nl4\n'],
  ] as const)('%s', async (_n, o, want) => {
    const dir = await written([['stdout', 'l1\nl2\nl3\nl4\n']]);
    expect(await read(dir, o)).toBe(want);
  });

  it('timestamps prefix each line with its RFC 3339 time', async () => {
    const dir = await written([['stdout', 'x\n']]);
    expect(await read(dir, { timestamps: true })).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z x\n$/);
  });

  it('follow streams new lines and ends once the instance stopped and the file is drained', async () => {
    const dir = join(root, `pod-${n++}`);
    const w = new ContainerLogWriter(dir, 'main', 0);
    const out = new PassThrough();
    w.attach(out, null);
    out.write('first\n');
    await new Promise((r) => setImmediate(r));
    let alive = true;
    let text = '';
    const done = readContainerLog(
      containerLogPath(dir, 'main', 0),
      { follow: true },
      { write: (t) => (text += t), closed: () => false },
      () => alive,
    );
    await new Promise((r) => setTimeout(r, 150));
    expect(text).toBe('first\n');
    out.write('second\n');
    out.write('third\n');
    alive = false;
    await done;
    expect(text).toBe('first\nsecond\nthird\n');
  });

  it('a missing file (the container never started) reads as nothing', async () => {
    expect(await read(join(root, 'none'), {})).toBe('');
  });
});

describe('tail and parseEntries', () => {
  it('counts lines, not entries', () => {
    const e = parseEntries('t stdout P a\nt stdout F b\nt stdout F c\n');
    expect(tail(e, 1).map((x) => x.text)).toEqual(['c\n']);
    expect(tail(e, 2).map((x) => x.text)).toEqual(['a', 'b\n', 'c\n']);
  });

  it('skips malformed lines', () => {
    expect(parseEntries('garbage\nt stderr F ok\n')).toEqual([{ time: 't', stream: 'stderr', text: 'ok\n' }]);
  });
});
