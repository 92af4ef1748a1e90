// FlowInterner: one object per distinct value, a pod's Endpoint re-made when the resolver's record
// changes, and tables that stay bounded on a node seeing many distinct addresses.
import { describe, expect, it } from '@jest/globals';
import { FlowInterner, INTERN_TABLE_LIMIT } from '../../hubble/intern.js';
import { FlowParser } from '../../hubble/parser.js';
import type { StaticResolver } from '../../hubble/resolver.js';
import { type EndpointInfo } from '../../hubble/resolver.js';
import { BACKEND, FRONTEND, eventsFor, resolver, simDatapath } from './fixtures.js';

describe('FlowInterner', () => {
  it('gives equal values the same object and the right text', () => {
    const i = new FlowInterner();
    const b = Uint8Array.of(10, 1, 0, 2, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01);
    expect(i.ipv4(b, 0)).toBe('10.1.0.2');
    expect(i.mac(b, 4)).toBe('de:ad:be:ef:00:01');
    expect(i.ip('10.1.0.1', '10.1.0.2', 'IPv4')).toBe(i.ip('10.1.0.1', '10.1.0.2', 'IPv4'));
    expect(i.ip('10.1.0.1', '10.1.0.2', 'IPv4')).not.toBe(i.ip('10.1.0.2', '10.1.0.1', 'IPv4'));
    expect(i.tcpFlags(0x12, 0)).toEqual({ SYN: true, ACK: true });
    expect(i.tcpFlags(0x12, 0)).toBe(i.tcpFlags(0x12, 0));
    expect(i.tcpFlags(0x00, 0x01)).toEqual({ NS: true });
    expect(i.eventType(1, 133)).toEqual({ type: 1, sub_type: 133 });
  });

  it('re-makes a pod Endpoint when the resolver record changes, in place or replaced', () => {
    const i = new FlowInterner();
    const info: EndpointInfo = { ...FRONTEND };
    const first = i.endpointOf(info, 0);
    expect(i.endpointOf(info, 0)).toBe(first);
    info.labels = ['k8s:app=frontend-v2'];
    const relabelled = i.endpointOf(info, 0);
    expect(relabelled).not.toBe(first);
    expect(relabelled.labels).toEqual(['k8s:app=frontend-v2']);
    expect(first.labels).toEqual(FRONTEND.labels);
    const unknownLabels = ['reserved:world'];
    expect(i.endpointOfIdentity(2, unknownLabels)).toBe(i.endpointOfIdentity(2, unknownLabels));
    expect(i.endpointOfIdentity(2, ['reserved:world']).labels).toEqual(['reserved:world']);
  });

  it(`keeps each table under ${INTERN_TABLE_LIMIT} entries`, () => {
    const i = new FlowInterner();
    const b = new Uint8Array(4);
    for (let n = 0; n < INTERN_TABLE_LIMIT * 2 + 5; n++) {
      new DataView(b.buffer).setUint32(0, 0x0a000000 + n);
      const ip = i.ipv4(b, 0);
      i.ip(ip, '10.255.255.255', 'IPv4');
    }
    const sizes = i as unknown as { ipv4s: Map<number, string>; ips: Map<string, unknown> };
    expect(sizes.ipv4s.size).toBeLessThanOrEqual(INTERN_TABLE_LIMIT);
    expect(sizes.ips.size).toBeLessThanOrEqual(INTERN_TABLE_LIMIT);
  });
});

describe('FlowParser with interned parts', () => {
  it('names a pod with its new labels once the resolver changes them', () => {
    const res = resolver();
    const parser = new FlowParser({ nodeName: 'node-a', resolver: res, uuids: false });
    const dp = simDatapath();
    const events = eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', sport: 40000, dport: 80 });
    const before = parser.parse(events[0]!)!;
    expect(before.destination?.labels).toEqual(BACKEND.labels);
    (res as StaticResolver).add({ ...BACKEND, labels: ['k8s:app=backend', 'k8s:tier=cache'] });
    const after = parser.parse(events[0]!)!;
    expect(after.destination?.labels).toEqual(['k8s:app=backend', 'k8s:tier=cache']);
    expect(before.destination?.labels).toEqual(BACKEND.labels);
    // the parts that did not change are shared, not copied
    expect(after.IP).toBe(before.IP);
    expect(after.ethernet).toBe(before.ethernet);
  });
});
