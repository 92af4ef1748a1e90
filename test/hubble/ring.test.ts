// The flow ring: 2^n − 1 capacities only, oldest overwritten first, and a lapped reader told
// exactly how many events it missed.
import { describe, expect, it } from '@jest/globals';
import { HubbleError, HubbleErrorCode } from '../../hubble/errors.js';
import { FlowRing, isValidCapacity } from '../../hubble/ring.js';

describe('FlowRing', () => {
  it('accepts 2^n-1 capacities only, with a coded error', () => {
    expect([1, 3, 4095, 65535].every(isValidCapacity)).toBe(true);
    expect([0, 2, 4096, 131071, 1.5].some(isValidCapacity)).toBe(false);
    expect(() => new FlowRing(4096)).toThrow(HubbleError);
    expect(() => new FlowRing(4096)).toThrow(expect.objectContaining({ code: HubbleErrorCode.BadCapacity }));
  });

  it('keeps the latest `capacity` events in order and counts everything seen', () => {
    const r = new FlowRing(7);
    for (let i = 0; i < 10; i++) r.write(i, { flow: { uuid: String(i) } });
    expect(r.length).toBe(7);
    expect(r.seen).toBe(10);
    expect([...r.entries()].map((e) => e.flow?.uuid)).toEqual(['3', '4', '5', '6', '7', '8', '9']);
    expect([...r.reversed()].map((e) => e.seq)).toEqual([9, 8, 7, 6, 5, 4, 3]);
  });

  it('a reader lapped by the writer learns how many it lost and where to resume', () => {
    const r = new FlowRing(3);
    for (let i = 0; i < 8; i++) r.write(i, { flow: {} });
    expect(r.read(1)).toEqual({ lost: 4, next: 5 });
    expect(r.read(5)).toMatchObject({ entry: { seq: 5 } });
    expect(r.read(8)).toBeUndefined();
  });

  it('wakes subscribers on every write until they unsubscribe', () => {
    const r = new FlowRing(3);
    let n = 0;
    const unsub = r.subscribe(() => n++);
    r.write(0, { flow: {} });
    r.write(0, { lost: { source: 'PERF_EVENT_RING_BUFFER', num_events_lost: 2 } });
    unsub();
    r.write(0, { flow: {} });
    expect(n).toBe(2);
  });
});
