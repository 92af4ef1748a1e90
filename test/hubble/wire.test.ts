// hubble/wire.ts against the proto definitions: every response our encoder frames decodes, with
// the protos grpc-js clients use, to exactly what protobufjs's own encoding of the same object
// decodes to (flows of every kind the parser makes, fields the encoder leaves to protobufjs,
// long and non-ASCII strings, negative int32s), and the observer's cached bytes stay right.
import { describe, expect, it } from '@jest/globals';
import type { DatapathEvent } from '../../datapath/events.js';
import { HubbleObserver } from '../../hubble/observer.js';
import { FlowParser } from '../../hubble/parser.js';
import { observerService, serializeGetFlowsResponse } from '../../hubble/proto.js';
import type { Flow, GetFlowsResponse } from '../../hubble/types.js';
import { Writer, encodeFlow, frame, frameAll, frameResponse, rawResponse } from '../../hubble/wire.js';
import { eventsFor, resolver, simDatapath } from './fixtures.js';

const decode = observerService.GetFlows!.responseDeserialize as (b: Buffer) => GetFlowsResponse;

/** what a client decodes from our frame, and what it decodes from protobufjs's encoding */
function both(r: GetFlowsResponse): { ours: GetFlowsResponse; theirs: GetFlowsResponse } {
  const framed = frameResponse(r);
  expect(framed[0]).toBe(0);
  expect(framed.readUInt32BE(1)).toBe(framed.length - 5);
  return { ours: decode(framed.subarray(5)), theirs: decode(serializeGetFlowsResponse(r)) };
}

function recorded(): DatapathEvent[] {
  const dp = simDatapath();
  const out: DatapathEvent[] = [];
  dp.onEvent((e) => out.push(e));
  eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', sport: 40000, dport: 80 });
  eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', sport: 40001, dport: 81 });
  eventsFor(dp, { src: '10.2.0.5', dst: '10.1.0.2', proto: 'tcp', sport: 40002, dport: 5432 });
  eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'udp', sport: 40003, dport: 53 });
  eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'icmp', icmpType: 8 });
  eventsFor(dp, { src: 'fd01::1', dst: 'fd01::2', proto: 'tcp', sport: 40004, dport: 80 });
  return out;
}

describe('wire encoder', () => {
  it('encodes every flow the parser makes as protobufjs does', () => {
    const parser = new FlowParser({ nodeName: 'node-a', resolver: resolver(), uuids: true });
    const events = recorded();
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(['drop', 'trace', 'policy-verdict']));
    for (const e of events) {
      const flow = parser.parse(e)!;
      const r: GetFlowsResponse = { flow, node_name: 'node-a', time: flow.time };
      const { ours, theirs } = both(r);
      expect(ours).toEqual(theirs);
      expect(ours.flow!.uuid).toBe(flow.uuid);
    }
  });

  it('writes present zero values and every hand-written field', () => {
    const flow: Flow = {
      time: { seconds: 0, nanos: 0 },
      uuid: '',
      verdict: 'VERDICT_UNKNOWN',
      drop_reason: 0,
      ethernet: { source: 'a', destination: 'b' },
      IP: { source: '::1', destination: '::2', ipVersion: 'IPv6', encrypted: true },
      l4: { SCTP: { source_port: 0, destination_port: 9 } },
      source: { ID: 0, identity: 0, namespace: '', labels: [], pod_name: '' },
      destination: { identity: 2, labels: ['reserved:world'], workloads: [{ name: 'w', kind: 'Deployment' }] },
      Type: 'L3_L4',
      node_name: 'node-ü',
      source_names: ['a.example', 'b.example'],
      destination_names: [],
      reply: false,
      event_type: { type: -1, sub_type: -2147483648 },
      source_service: { name: 'svc', namespace: 'ns' },
      destination_service: { name: '', namespace: '' },
      traffic_direction: 'EGRESS',
      policy_match_type: 0,
      trace_observation_point: 'TO_ENDPOINT',
      drop_reason_desc: 'POLICY_DENIED',
      is_reply: { value: false },
      interface: { index: 0, name: 'eth0' },
      proxy_port: 0,
    };
    const { ours, theirs } = both({ flow, node_name: 'n', time: { seconds: 1_700_000_000, nanos: 999_999_999 } });
    expect(ours).toEqual(theirs);
    expect(ours.flow!.event_type).toEqual({ type: -1, sub_type: -2147483648 });
    expect(ours.flow!.verdict).toBe('VERDICT_UNKNOWN');
  });

  it('leaves unknown fields to protobufjs (L7, Summary, enum numbers) and still decodes the same', () => {
    const flow = {
      verdict: 1,
      Type: 'L7',
      l7: { type: 'REQUEST', http: { code: 200, method: 'GET', url: 'http://x/ä' }, latency_ns: 5 },
      Summary: 'x'.repeat(300),
      trace_context: { parent: { trace_id: 'abc' } },
      l4: { ICMPv6: { type: 128, code: 0 } },
    } as unknown as Flow;
    const { ours, theirs } = both({ flow, node_name: 'n' });
    expect(ours).toEqual(theirs);
    expect(ours.flow!.l7).toBeDefined();
    expect(ours.flow!.verdict).toBe('FORWARDED');
  });

  it('handles endpoints and strings longer than 127 bytes (multi-byte length prefixes)', () => {
    const labels = Array.from({ length: 40 }, (_, i) => `k8s:label-${i}=${'v'.repeat(i)}`);
    const flow: Flow = {
      source: { identity: 70000, labels, pod_name: 'p'.repeat(200), namespace: 'ünïcode-ns' },
      destination: { identity: 5, labels: ['€'.repeat(100)] },
    };
    const { ours, theirs } = both({ flow, node_name: 'n'.repeat(130) });
    expect(ours).toEqual(theirs);
    expect(ours.flow!.source!.labels).toEqual(labels);
  });

  it('frames lost events and node status through protobufjs', () => {
    const lost: GetFlowsResponse = {
      lost_events: { source: 'HUBBLE_RING_BUFFER', num_events_lost: 12 },
      node_name: 'a',
      time: { seconds: 1, nanos: 2 },
    };
    const st: GetFlowsResponse = { node_status: { state_change: 'NODE_CONNECTED', node_names: ['a', 'b'] } };
    for (const r of [lost, st]) {
      const { ours, theirs } = both(r);
      expect(ours).toEqual(theirs);
    }
  });

  it('writes varints up to 2^53 and negative int64s as protobuf does', () => {
    const w = new Writer(1);
    w.varint(300);
    w.varint(2 ** 40 + 5);
    w.int(-1);
    expect([...w.take()]).toEqual([
      0xac, 0x02, 0x85, 0x80, 0x80, 0x80, 0x80, 0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]);
    expect(encodeFlow({}).length).toBe(0);
  });
});

describe('raw responses (relay)', () => {
  it('reads the event time without decoding the flow, and refuses truncated bytes', () => {
    const flow: Flow = { time: { seconds: 1_700_000_001, nanos: 5 }, verdict: 'DROPPED', node_name: 'x' };
    const withTime = frameResponse({ flow, node_name: 'a', time: { seconds: 1_700_000_002, nanos: 7 } }).subarray(5);
    expect(rawResponse(Buffer.from(withTime)).ns).toBe(1_700_000_002 * 1e9 + 7);
    const flowTimeOnly = frameResponse({ flow }).subarray(5);
    expect(rawResponse(Buffer.from(flowTimeOnly)).ns).toBe(1_700_000_001 * 1e9 + 5);
    const lost = serializeGetFlowsResponse({
      lost_events: { source: 'PERF_EVENT_RING_BUFFER', num_events_lost: 3 },
      time: { seconds: 9, nanos: 0 },
    });
    expect(rawResponse(lost).ns).toBe(9e9);
    expect(rawResponse(Buffer.alloc(0)).ns).toBe(0);
    expect(() => rawResponse(Buffer.from([0x0a, 0xff]))).toThrow(RangeError);
  });
});

describe('framed batches (relay)', () => {
  it('frames a slice of responses into one buffer, the same bytes as framing each', () => {
    const rs = [3, 200, 0, 70_000].map((n, i) => ({ ns: i, bytes: Buffer.alloc(n, i + 1) }));
    expect(frameAll(rs)).toEqual(Buffer.concat(rs.map((r) => frame(r.bytes))));
    expect(frameAll(rs, 1, 3)).toEqual(Buffer.concat([frame(rs[1]!.bytes), frame(rs[2]!.bytes)]));
    expect(frameAll(rs, 2, 2).length).toBe(0);
  });
});

describe('observer frames', () => {
  it("sends a flow's bytes made once, and fresh bytes once the ring has moved on", async () => {
    let now = 1_700_000_000_000;
    const obs = new HubbleObserver({ nodeName: 'node-a', resolver: resolver(), ringCapacity: 3, now: () => now });
    const events = recorded().filter((e) => e.type === 'drop');
    obs.observe(events[0]!);
    const first: GetFlowsResponse[] = [];
    for await (const r of obs.getFlows({ number: 1 })) first.push(r);
    const a = obs.frame(first[0]!);
    expect(obs.frame(first[0]!)).toBe(a); // cached
    expect(decode(a.subarray(5))).toEqual(decode(serializeGetFlowsResponse(first[0]!)));
    // the ring laps the flow: a late frame of the old response is still its own bytes
    for (let i = 0; i < 3; i++) {
      now += 1000;
      obs.observe(events[(i + 1) % events.length]!);
    }
    const late = obs.frame(first[0]!);
    expect(late).not.toBe(a);
    expect(late.equals(a)).toBe(true);
    // a field mask's projection is encoded as is
    const masked: GetFlowsResponse[] = [];
    for await (const r of obs.getFlows({ number: 1, field_mask: { paths: ['verdict', 'source.pod_name'] } }))
      masked.push(r);
    const m = decode(obs.frame(masked[0]!).subarray(5));
    expect(Object.keys(m.flow!).sort()).toEqual(['source', 'verdict']);
    expect(m.flow!.source).toEqual({ pod_name: expect.any(String) });
    obs.close();
  });
});
