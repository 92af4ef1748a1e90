// The flow ring: 2^n − 1 capacities only, oldest overwritten first, and a lapped reader told
// exactly how many events it missed.
import { describe, expect, it } from '@jest/globals';
import { HubbleError, HubbleErrorCode } from '../../hubble/errors.js';
import { FlowParser } from '../../hubble/parser.js';
import { FlowRing, isValidCapacity } from '../../hubble/ring.js';
import type { Flow } from '../../hubble/types.js';
import { FlowIds } from '../../hubble/uuid.js';
import type { DatapathEvent } from '../../datapath/events.js';
import { eventsFor, resolver, simDatapath } from './fixtures.js';

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

  it('gives back every parsed flow as it was written (kept as columns), and other flows whole', () => {
    const dp = simDatapath();
    const events: DatapathEvent[] = [];
    dp.onEvent((e) => events.push(e));
    eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', sport: 40000, dport: 80 });
    eventsFor(dp, { src: '10.2.0.5', dst: '10.1.0.2', proto: 'tcp', sport: 40002, dport: 5432 });
    eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'udp', sport: 40003, dport: 53 });
    eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'icmp', icmpType: 8 });
    eventsFor(dp, { src: 'fd01::1', dst: 'fd01::2', proto: 'tcp', sport: 40004, dport: 80 });
    const parser = new FlowParser({ nodeName: 'node-a', resolver: resolver(), uuids: true });
    const r = new FlowRing(63, parser.ids);
    const written: Flow[] = [];
    for (const e of events) {
      const f = parser.parse(e)!;
      written.push(f);
      r.write(0, { flow: f });
    }
    const l7 = { uuid: 'x', l7: { type: 'REQUEST' }, l4: { TCP: { source_port: 1, destination_port: 2 } } } as Flow;
    const odd = { l4: { TCP: { source_port: 70000, destination_port: 2 } } } as Flow;
    r.write(0, { flow: l7 });
    r.write(0, { flow: odd });
    const read = [...r.entries()].map((e) => e.flow!);
    expect(read.slice(0, written.length)).toEqual(written);
    expect(read.map((f) => f.l4 && Object.keys(f.l4)[0])).toContain('ICMPv4');
    expect(read[written.length]).toBe(l7);
    expect(read[written.length + 1]).toBe(odd);
    // lapped slots are reused by flows of other shapes without leaking fields
    for (let i = 0; i < 63; i++) r.write(0, { flow: i % 2 ? {} : { verdict: 'DROPPED' } });
    expect([...r.entries()].slice(0, 2).map((e) => e.flow)).toEqual([{ verdict: 'DROPPED' }, {}]);
  });
});

describe('FlowIds', () => {
  it('makes UUIDv8s in valid UUID form, distinct per flow, node and start', () => {
    const a = new FlowIds('node-a', 1_700_000_000_000_000);
    const b = new FlowIds('node-b', 1_700_000_000_000_000);
    const ids = [a.next(), a.next(), b.next()];
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(3);
    expect(a.lastUuid).toBe(ids[1]);
    expect(a.format(a.lastSeq)).toBe(ids[1]);
    // the counter's high bits reach the fourth group
    expect(a.format(2 ** 52 + 1).slice(19)).toBe('8010-000000000001');
  });
});
