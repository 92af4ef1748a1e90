// DatapathEvent → Flow: packets decoded from the bytes, verdicts, reasons, directions, reply
// state and endpoints resolved, on events produced by the sim datapath from real frames.
import { describe, expect, it } from '@jest/globals';
import { buildFrame, TcpFlags } from '../../datapath/packet.js';
import { decodePacket, FlowParser, ipv6 } from '../../hubble/parser.js';
import { eventsFor, resolver, simDatapath } from './fixtures.js';

const parser = new FlowParser({ nodeName: 'node-a', resolver: resolver(), now: () => 1_700_000_000_123, uuids: false });

describe('packet decoding', () => {
  it('reads Ethernet, IPv4 and TCP with every flag', () => {
    const d = decodePacket(
      buildFrame({
        src: '10.1.0.1',
        dst: '10.1.0.2',
        proto: 'tcp',
        sport: 1234,
        dport: 80,
        tcpFlags: TcpFlags.syn | TcpFlags.ack | 0x20 | 0x40 | 0x80,
      }),
    );
    expect(d.ethernet).toEqual({ source: '02:00:00:00:00:01', destination: '02:00:00:00:00:02' });
    expect(d.IP).toEqual({ source: '10.1.0.1', destination: '10.1.0.2', ipVersion: 'IPv4' });
    expect(d.l4).toEqual({
      TCP: {
        source_port: 1234,
        destination_port: 80,
        flags: { SYN: true, ACK: true, URG: true, ECE: true, CWR: true },
      },
    });
  });

  it('reads IPv6 past extension headers, UDP, ICMPv4 and ICMPv6', () => {
    const d6 = decodePacket(
      buildFrame({ src: 'fd01::1', dst: '2001:db8::1:0:0:1', proto: 'udp', sport: 5353, dport: 53, ipv6Ext: [0, 60] }),
    );
    expect(d6.IP).toEqual({ source: 'fd01::1', destination: '2001:db8::1:0:0:1', ipVersion: 'IPv6' });
    expect(d6.l4).toEqual({ UDP: { source_port: 5353, destination_port: 53 } });
    expect(decodePacket(buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'icmp', icmpType: 8 })).l4).toEqual({
      ICMPv4: { type: 8, code: 0 },
    });
    expect(decodePacket(buildFrame({ src: 'fd01::1', dst: 'fd01::2', proto: 'icmp' })).l4).toEqual({
      ICMPv6: { type: 128, code: 0 },
    });
  });

  it('formats IPv6 as RFC 5952 (longest zero run compressed, first on ties)', () => {
    const b = new Uint8Array(16);
    b[1] = 1; // 0001:0:0:0:0:0:0:0 → 1::
    expect(ipv6(b, 0)).toBe('1::');
    const c = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    expect(ipv6(c, 0)).toBe('2001:db8::1:0:0:1');
  });

  it('keeps what it can from a truncated capture and never throws', () => {
    const f = buildFrame({ src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp' });
    expect(decodePacket(f.subarray(0, 30))).toEqual({ ethernet: expect.any(Object) });
    const noL4 = decodePacket(f.subarray(0, 40));
    expect(noL4.IP?.source).toBe('10.1.0.1');
    expect(noL4.l4).toBeUndefined();
    expect(decodePacket(new Uint8Array(3))).toEqual({});
  });
});

describe('flows from sim datapath events', () => {
  it('an allowed connection: egress verdict + FROM_ENDPOINT trace, ingress verdict + TO_ENDPOINT trace, pods resolved', () => {
    const flows = eventsFor(simDatapath(), { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', dport: 80 }).map((e) =>
      parser.parse(e)!,
    );
    expect(flows.map((f) => [f.verdict, f.event_type?.type, f.traffic_direction, f.trace_observation_point])).toEqual([
      ['FORWARDED', 5, 'EGRESS', undefined],
      ['FORWARDED', 4, 'EGRESS', 'FROM_ENDPOINT'],
      ['FORWARDED', 5, 'INGRESS', undefined],
      ['FORWARDED', 4, 'INGRESS', 'TO_ENDPOINT'],
    ]);
    const trace = flows[1]!;
    expect(trace.source).toEqual({
      ID: 11,
      identity: 1001,
      namespace: 'demo',
      pod_name: 'frontend-7d9f',
      labels: ['k8s:app=frontend', 'k8s:io.kubernetes.pod.namespace=demo'],
      workloads: [{ name: 'frontend', kind: 'Deployment' }],
    });
    expect(trace.destination).toMatchObject({ ID: 12, identity: 2002, pod_name: 'backend-55c4', namespace: 'demo' });
    expect(trace.is_reply).toEqual({ value: false });
    expect(trace.node_name).toBe('node-a');
    expect(trace.Type).toBe('L3_L4');
    expect(trace.time).toEqual({ seconds: 1_700_000_000, nanos: 123_000_000 });
    expect(flows[2]!.policy_match_type).toBe(2);
  });

  it('a default-deny miss is DROPPED with POLICY_DENIED, INGRESS, at the receiving pod', () => {
    const flows = eventsFor(simDatapath(), { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', dport: 81 }).map((e) =>
      parser.parse(e)!,
    );
    const drop = flows.find((f) => f.event_type?.type === 1)!;
    expect(drop).toMatchObject({
      verdict: 'DROPPED',
      drop_reason: 133,
      drop_reason_desc: 'POLICY_DENIED',
      traffic_direction: 'INGRESS',
      event_type: { type: 1, sub_type: 133 },
    });
    expect(drop.source?.pod_name).toBe('frontend-7d9f');
    expect(drop.destination?.pod_name).toBe('backend-55c4');
    expect(drop.l4?.TCP?.destination_port).toBe(81);
    const verdict = flows.find((f) => f.event_type?.type === 5 && f.verdict === 'DROPPED')!;
    expect(verdict.drop_reason_desc).toBe('POLICY_DENIED');
  });

  it("a flow to a Service's backend names the Service as destination_service, its reply as source_service", () => {
    const r = resolver();
    r.setService('10.1.0.2', 81, 'TCP', { namespace: 'demo', name: 'backend' });
    const p = new FlowParser({ nodeName: 'node-a', resolver: r, uuids: false });
    const flows = eventsFor(simDatapath(), { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', dport: 81 }).map((e) =>
      p.parse(e)!,
    );
    const drop = flows.find((f) => f.event_type?.type === 1)!;
    expect(drop.destination_service).toEqual({ namespace: 'demo', name: 'backend' });
    expect(drop.source_service).toBeUndefined();
    // the same port over UDP is another frontend: not named
    const udp = eventsFor(simDatapath(), { src: '10.1.0.1', dst: '10.1.0.2', proto: 'udp', dport: 81 }).map((e) =>
      p.parse(e)!,
    );
    expect(udp.some((f) => f.destination_service)).toBe(false);
  });

  it('a deny rule from a remote pod is POLICY_DENY with the remote pod resolved by IP', () => {
    const flows = eventsFor(simDatapath(), { src: '10.2.0.5', dst: '10.1.0.2', proto: 'tcp', dport: 5432 }).map((e) =>
      parser.parse(e)!,
    );
    const drop = flows.find((f) => f.event_type?.type === 1)!;
    expect(drop).toMatchObject({ verdict: 'DROPPED', drop_reason_desc: 'POLICY_DENY', traffic_direction: 'INGRESS' });
    expect(drop.source).toMatchObject({ ID: 0, identity: 3003, namespace: 'other', pod_name: 'client-1' });
  });

  it('a reply trace flips the direction and is_reply; unknown identities fall back to reserved labels', () => {
    const data = buildFrame({
      src: '10.1.0.2',
      dst: '192.0.2.9',
      proto: 'tcp',
      sport: 80,
      dport: 40000,
      tcpFlags: TcpFlags.syn | TcpFlags.ack,
    });
    const f = parser.parse({
      type: 'trace',
      source: 12,
      hash: 0,
      lenOrig: data.length,
      ipv6: false,
      data,
      obsPoint: 5,
      reason: 2,
      srcLabel: 2002,
      dstLabel: 2,
      dstId: 0,
      ifindex: 3,
    })!;
    expect(f.is_reply).toEqual({ value: true });
    expect(f.traffic_direction).toBe('INGRESS');
    expect(f.source?.pod_name).toBe('backend-55c4');
    expect(f.destination).toEqual({ identity: 2, labels: ['reserved:world'] });
    expect(f.interface).toEqual({ index: 3 });
  });

  it('unknown events are not flows; uuids are unique when enabled', () => {
    expect(parser.parse({ type: 'unknown', raw: new Uint8Array(4) })).toBeUndefined();
    const p = new FlowParser({ nodeName: 'n', resolver: resolver() });
    const data = buildFrame({ src: '10.1.0.1', dst: '10.1.0.2', proto: 'udp' });
    const e = {
      type: 'drop' as const,
      source: 11,
      hash: 0,
      lenOrig: 0,
      ipv6: false,
      data,
      reason: 181,
      reasonName: '',
      srcLabel: 1001,
      dstLabel: 2002,
      ifindex: 1,
    };
    const a = p.parse(e)!;
    expect(a.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.uuid).not.toBe(p.parse(e)!.uuid);
    expect(a.traffic_direction).toBe('EGRESS');
  });
});
