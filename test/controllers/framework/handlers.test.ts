import { describe, expect, it } from '@jest/globals';
import { setCondition, statusUnchanged } from '../../../controllers/framework/conditions.js';
import { diff, essenceOf, LAST_HANDLED } from '../../../controllers/framework/handlers.js';

describe('diff and essence (kopf-style handlers)', () => {
  it('lists added, changed and removed leaves with their paths', () => {
    expect(diff({ spec: { a: 1, b: { c: 2 } } }, { spec: { a: 2, b: {}, d: [1] } })).toEqual([
      { op: 'change', path: ['spec', 'a'], old: 1, new: 2 },
      { op: 'remove', path: ['spec', 'b', 'c'], old: 2, new: undefined },
      { op: 'add', path: ['spec', 'd'], old: undefined, new: [1] },
    ]);
    expect(diff({ a: [1, 2] }, { a: [1, 2] })).toEqual([]);
  });

  it('the essence ignores status, our own annotation and kubectl bookkeeping', () => {
    const e = essenceOf({
      apiVersion: 'v1',
      kind: 'X',
      metadata: {
        name: 'n',
        labels: { a: 'b' },
        annotations: { [LAST_HANDLED]: '{}', 'kubectl.kubernetes.io/last-applied-configuration': '{}', keep: 'me' },
      },
      spec: { x: 1 },
      status: { y: 2 },
    });
    expect(e).toEqual({ spec: { x: 1 }, labels: { a: 'b' }, annotations: { keep: 'me' } });
  });
});

describe('conditions', () => {
  it('moves lastTransitionTime only when the status flips', () => {
    const t1 = new Date('2026-01-01T00:00:00Z');
    const t2 = new Date('2026-01-02T00:00:00Z');
    const a = setCondition(undefined, { type: 'Valid', status: 'True', reason: 'OK' }, t1);
    const b = setCondition(a, { type: 'Valid', status: 'True', reason: 'OK' }, t2);
    expect(b).toEqual(a);
    expect(statusUnchanged({ conditions: a }, { conditions: b })).toBe(true);
    const c = setCondition(b, { type: 'Valid', status: 'False', reason: 'Bad', message: 'x' }, t2);
    expect(c[0]).toEqual({
      type: 'Valid',
      status: 'False',
      reason: 'Bad',
      message: 'x',
      lastTransitionTime: '2026-01-02T00:00:00Z',
    });
    expect(statusUnchanged({ conditions: b }, { conditions: c })).toBe(false);
  });
});
