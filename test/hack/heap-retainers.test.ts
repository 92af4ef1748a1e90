// hack/bench/heap-retainers.ts reads a V8 heap snapshot: a group of objects (by constructor or by the
// properties they have) is charged with what only it keeps alive, and not with what something else
// also holds. The snapshot comes from a small Node process whose heap the test built.
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { heapRetainers, type HeapSnapshot } from '../../hack/bench/heap-retainers.js';

const EVENTS = 4000;

/** A process holding EVENTS events ({ key, type, obj }) in a History, half of them also in a plain array. */
function snapshotOfHistory(dir: string): HeapSnapshot {
  const file = join(dir, 'h.heapsnapshot');
  const script = `
    class History { constructor() { this.events = []; } }
    globalThis.history = new History();
    for (let i = 0; i < ${EVENTS}; i++)
      history.events.push({ key: 'key-' + i, type: 'ADDED', obj: { metadata: { name: 'n-' + i } } });
    globalThis.alsoHeld = history.events.slice(0, ${EVENTS / 2}).map((e) => e.obj);
    // from a later task, when no frame of the script is left on the stack (a stack slot is a root)
    setImmediate(() => require('node:v8').writeHeapSnapshot(${JSON.stringify(file)}));
  `;
  // --jitless: a compile job running while the snapshot is taken holds handles to the objects it
  // embeds (the events array, in some runs), and handles are roots too.
  execFileSync(process.execPath, ['--jitless', '-e', script], { stdio: 'ignore' });
  return JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot;
}

describe('heap-retainers', () => {
  it('charges a group with the objects only it keeps alive', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-heap-retainers-'));
    try {
      const r = heapRetainers(snapshotOfHistory(dir), [
        { label: 'history', className: 'History' },
        { label: 'events', props: ['key', 'type', 'obj'] },
        { label: 'nothing', className: 'NoSuchClass' },
      ]);
      const [history, events, nothing] = r.groups;
      expect(history?.count).toBe(1);
      // (V8 may keep one more object of that shape of its own, e.g. a literal's template)
      expect(events!.count - EVENTS).toBeGreaterThanOrEqual(0);
      expect(events!.count - EVENTS).toBeLessThanOrEqual(2);
      expect(nothing).toEqual({ label: 'nothing', count: 0, nodes: 0, bytes: 0 });
      // Each event alone holds itself and its key; the half whose obj nobody else holds also its obj,
      // metadata and name: 7 objects per pair of events (the test asks for 6).
      for (const g of [history, events]) {
        expect(g!.nodes).toBeGreaterThanOrEqual((EVENTS / 2) * 6);
        // ...but not the other half's obj, metadata and name, which `alsoHeld` keeps alive.
        expect(g!.nodes).toBeLessThan(EVENTS * 5);
        expect(g!.bytes).toBeGreaterThan(0);
      }
      expect(r.nodes).toBeGreaterThan(history!.nodes);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
