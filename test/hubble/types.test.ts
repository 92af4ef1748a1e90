// hubble/types.ts's helpers: the order relay and the agents list nodes and namespaces in.
import { describe, expect, it } from '@jest/globals';
import { byteOrder, timestampFromMs, timestampToNs } from '../../hubble/types.js';

describe('byteOrder', () => {
  it("sorts as Go's string comparison does (upstream's GetNamespaces and GetNodes order), not by locale", () => {
    const names = ['kube1', 'b', 'kube-system', 'B', 'a-b', 'a'];
    // bytes: upper case before lower case, '-' (0x2d) before digits (0x30-0x39) before letters
    expect([...names].sort(byteOrder)).toEqual(['B', 'a', 'a-b', 'b', 'kube-system', 'kube1']);
    expect(byteOrder('x', 'x')).toBe(0);
  });
});

describe('timestamps', () => {
  it('round-trips milliseconds through a Timestamp and nanoseconds', () => {
    const t = timestampFromMs(1_700_000_000_123);
    expect(t).toEqual({ seconds: 1_700_000_000, nanos: 123_000_000 });
    expect(timestampToNs(t)).toBe(1_700_000_000_123_000_000);
  });
});
