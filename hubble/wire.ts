// Flows → protobuf bytes without protobufjs. grpc-js's serializer (protobufjs `fromObject` then
// `encode`) cost ~70 µs per flow and ran again for every stream that sent the flow; here the
// Flow fields the parser produces are written directly (wire format:
// https://protobuf.dev/programming-guides/encoding/), the shared parts of a flow (interned
// endpoints, addresses, flags; hubble/intern.ts) are encoded once and copied, and the observer
// keeps each flow's bytes with it in the ring, so a flow is encoded once however many GetFlows
// streams send it. Any Flow field not known here (L7 records, future fields) is encoded by
// protobufjs on its own and appended: concatenated messages merge (each field appears once), so
// the result decodes to the same Flow. A field present in the object is written even when it is
// zero, as protobufjs does, so a decoded flow has exactly the fields of the object that was sent.
import { enumNames, serializeGetFlowsResponse } from './proto.js';
import type { Endpoint, Flow, GetFlowsResponse, Timestamp } from './types.js';

const LEN = 2;
const VARINT = 0;

function enumValues(fullName: string): Map<string, number> {
  return new Map([...enumNames(fullName)].map(([n, name]) => [name, n]));
}
const VERDICT = enumValues('flow.Verdict');
const FLOW_TYPE = enumValues('flow.FlowType');
const DIRECTION = enumValues('flow.TrafficDirection');
const OBS_POINT = enumValues('flow.TraceObservationPoint');
const DROP_REASON = enumValues('flow.DropReason');
const IP_VERSION = enumValues('flow.IPVersion');

/** An enum field given as a name or a number (proto-loader accepts both). */
function enumNumber(table: Map<string, number>, v: string | number): number | undefined {
  return typeof v === 'number' ? v : table.get(v);
}

/** A growable byte buffer with protobuf's primitive writes. */
export class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size = 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }
  private grow(n: number): void {
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }
  /** unsigned varint of a non-negative integer below 2^53 */
  varint(n: number): void {
    this.ensure(10);
    const b = this.buf;
    while (n > 0x7f) {
      b[this.pos++] = (n & 0x7f) | 0x80;
      n = n > 0xffffffff ? Math.floor(n / 128) : n >>> 7;
    }
    b[this.pos++] = n;
  }
  /** int32/int64 varint: negatives take ten bytes (two's complement), as protobuf's */
  int(n: number): void {
    if (n >= 0) return this.varint(n);
    this.ensure(10);
    let lo = n >>> 0;
    let hi = Math.floor(n / 2 ** 32) >>> 0;
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = (lo >>> 7) | ((hi & 0x7f) << 25);
      hi >>>= 7;
    }
    this.buf[this.pos++] = lo & 0x01;
  }
  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }
  string(field: number, s: string): void {
    this.tag(field, LEN);
    // ASCII (names, labels, addresses) is byte per char; anything else goes through utf8 encoding
    const n = s.length;
    if (n < 128) {
      this.ensure(n * 3 + 1);
      const b = this.buf;
      const at = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[at + i] = c;
      }
      if (i === n) {
        b[this.pos] = n;
        this.pos = at + n;
        return;
      }
    }
    const len = Buffer.byteLength(s);
    this.varint(len);
    this.ensure(len);
    this.buf.write(s, this.pos, len, 'utf8');
    this.pos += len;
  }
  bytes(field: number, bytes: Uint8Array): void {
    this.tag(field, LEN);
    this.varint(bytes.length);
    this.raw(bytes);
  }
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
  uint(field: number, n: number): void {
    this.tag(field, VARINT);
    this.varint(n);
  }
  bool(field: number, v: boolean): void {
    this.tag(field, VARINT);
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }
  /** Starts a length-delimited field; `end(mark)` fills its length in. */
  begin(field: number): number {
    this.tag(field, LEN);
    this.ensure(1);
    return this.pos++;
  }
  end(mark: number): void {
    const len = this.pos - mark - 1;
    if (len < 128) {
      this.buf[mark] = len;
      return;
    }
    // a long message: move its body to make room for a longer length prefix
    let extra = 0;
    for (let n = len; n > 0x7f; n = Math.floor(n / 128)) extra++;
    this.ensure(extra);
    this.buf.copy(this.buf, mark + 1 + extra, mark + 1, this.pos);
    const end = this.pos + extra;
    this.pos = mark;
    this.varint(len);
    this.pos = end;
  }
  /** A copy of what was written since `from`. */
  take(from = 0): Buffer {
    return Buffer.from(this.buf.subarray(from, this.pos));
  }
}

/** Sub-messages the interner shares between flows: encoded once each (keyed by object identity). */
const shared = new WeakMap<object, Buffer>();
const scratch = new Writer(256);

function sharedBytes<T extends object>(o: T, write: (w: Writer, o: T) => void): Buffer {
  let b = shared.get(o);
  if (!b) {
    scratch.pos = 0;
    write(scratch, o);
    b = scratch.take();
    shared.set(o, b);
  }
  return b;
}

function writeTimestamp(w: Writer, field: number, t: Timestamp): void {
  const m = w.begin(field);
  if (t.seconds != null) {
    w.tag(1, VARINT);
    w.int(Number(t.seconds));
  }
  if (t.nanos != null) {
    w.tag(2, VARINT);
    w.int(t.nanos);
  }
  w.end(m);
}

function writeEndpoint(w: Writer, e: Endpoint): void {
  if (e.ID != null) w.uint(1, e.ID);
  if (e.identity != null) w.uint(2, e.identity);
  if (e.namespace != null) w.string(3, e.namespace);
  if (e.labels) for (const l of e.labels) w.string(4, l);
  if (e.pod_name != null) w.string(5, e.pod_name);
  if (e.workloads)
    for (const wl of e.workloads) {
      const m = w.begin(6);
      if (wl.name != null) w.string(1, wl.name);
      if (wl.kind != null) w.string(2, wl.kind);
      w.end(m);
    }
}

function writePair(w: Writer, p: { source?: string; destination?: string }): void {
  if (p.source != null) w.string(1, p.source);
  if (p.destination != null) w.string(2, p.destination);
}

function writeIp(w: Writer, ip: NonNullable<Flow['IP']>): void {
  writePair(w, ip);
  if (ip.ipVersion != null) w.uint(3, enumNumber(IP_VERSION, ip.ipVersion) ?? 0);
  if (ip.encrypted != null) w.bool(4, ip.encrypted);
}

const FLAG_FIELDS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'] as const;

function writeFlags(w: Writer, f: NonNullable<NonNullable<NonNullable<Flow['l4']>['TCP']>['flags']>): void {
  for (let i = 0; i < FLAG_FIELDS.length; i++) {
    const v = f[FLAG_FIELDS[i]!];
    if (v != null) w.bool(i + 1, v);
  }
}

function writePorts(w: Writer, field: number, p: { source_port?: number; destination_port?: number }): number {
  const m = w.begin(field);
  if (p.source_port != null) w.uint(1, p.source_port);
  if (p.destination_port != null) w.uint(2, p.destination_port);
  return m;
}

/** Layer4 is a oneof: the first protocol present is the one written, as protobufjs does. */
function writeL4(w: Writer, l4: NonNullable<Flow['l4']>): void {
  const outer = w.begin(6);
  if (l4.TCP) {
    const m = writePorts(w, 1, l4.TCP);
    if (l4.TCP.flags) w.bytes(3, sharedBytes(l4.TCP.flags, writeFlags));
    w.end(m);
  } else if (l4.UDP) w.end(writePorts(w, 2, l4.UDP));
  else if (l4.ICMPv4 || l4.ICMPv6) {
    const icmp = (l4.ICMPv4 ?? l4.ICMPv6)!;
    const m = w.begin(l4.ICMPv4 ? 3 : 4);
    if (icmp.type != null) w.uint(1, icmp.type);
    if (icmp.code != null) w.uint(2, icmp.code);
    w.end(m);
  } else if (l4.SCTP) w.end(writePorts(w, 5, l4.SCTP));
  w.end(outer);
}

/** One field as protobufjs would encode it (a Flow holding only that field), for fields not written here. */
function fallbackField(w: Writer, key: string, value: unknown): void {
  const resp = serializeGetFlowsResponse({ flow: { [key]: value } });
  // GetFlowsResponse { flow = 1 }: tag 0x0a, varint length, then the Flow's bytes
  let at = 1;
  while (resp[at]! & 0x80) at++;
  w.raw(resp.subarray(at + 1));
}

function enumField(w: Writer, field: number, table: Map<string, number>, key: string, v: string | number): void {
  const n = enumNumber(table, v);
  if (n === undefined) return fallbackField(w, key, v);
  w.uint(field, n);
}

/** Writes a Flow's fields (the body of a flow.Flow message). */
export function writeFlow(w: Writer, f: Flow): void {
  for (const key in f) {
    const v = (f as Record<string, unknown>)[key];
    if (v == null) continue;
    switch (key) {
      case 'time':
        writeTimestamp(w, 1, v as Timestamp);
        break;
      case 'uuid':
        w.string(34, v as string);
        break;
      case 'verdict':
        enumField(w, 2, VERDICT, key, v as string);
        break;
      case 'drop_reason':
        w.uint(3, v as number);
        break;
      case 'ethernet':
        w.bytes(4, sharedBytes(v as object, writePair));
        break;
      case 'IP':
        w.bytes(5, sharedBytes(v as NonNullable<Flow['IP']>, writeIp));
        break;
      case 'l4':
        writeL4(w, v as NonNullable<Flow['l4']>);
        break;
      case 'source':
        w.bytes(8, sharedBytes(v as Endpoint, writeEndpoint));
        break;
      case 'destination':
        w.bytes(9, sharedBytes(v as Endpoint, writeEndpoint));
        break;
      case 'Type':
        enumField(w, 10, FLOW_TYPE, key, v as string);
        break;
      case 'node_name':
        w.string(11, v as string);
        break;
      case 'source_names':
        for (const s of v as string[]) w.string(13, s);
        break;
      case 'destination_names':
        for (const s of v as string[]) w.string(14, s);
        break;
      case 'reply':
        w.bool(16, v as boolean);
        break;
      case 'event_type':
        w.bytes(
          19,
          sharedBytes(v as NonNullable<Flow['event_type']>, (x, e) => {
            if (e.type != null) {
              x.tag(1, VARINT);
              x.int(e.type);
            }
            if (e.sub_type != null) {
              x.tag(2, VARINT);
              x.int(e.sub_type);
            }
          }),
        );
        break;
      case 'source_service':
      case 'destination_service': {
        const s = v as NonNullable<Flow['source_service']>;
        const m = w.begin(key === 'source_service' ? 20 : 21);
        if (s.name != null) w.string(1, s.name);
        if (s.namespace != null) w.string(2, s.namespace);
        w.end(m);
        break;
      }
      case 'traffic_direction':
        enumField(w, 22, DIRECTION, key, v as string);
        break;
      case 'policy_match_type':
        w.uint(23, v as number);
        break;
      case 'trace_observation_point':
        enumField(w, 24, OBS_POINT, key, v as string);
        break;
      case 'drop_reason_desc':
        enumField(w, 25, DROP_REASON, key, v as string);
        break;
      case 'is_reply': {
        const m = w.begin(26);
        const b = (v as { value?: boolean }).value;
        if (b != null) w.bool(1, b);
        w.end(m);
        break;
      }
      case 'interface': {
        const i = v as NonNullable<Flow['interface']>;
        const m = w.begin(28);
        if (i.index != null) w.uint(1, i.index);
        if (i.name != null) w.string(2, i.name);
        w.end(m);
        break;
      }
      case 'proxy_port':
        w.uint(29, v as number);
        break;
      default:
        fallbackField(w, key, v);
    }
  }
}

const flowWriter = new Writer(4096);

/** A flow.Flow's protobuf bytes. */
export function encodeFlow(f: Flow): Buffer {
  flowWriter.pos = 0;
  writeFlow(flowWriter, f);
  return flowWriter.take();
}

const respWriter = new Writer(4096);

/**
 * A GetFlowsResponse carrying a flow, as gRPC framed it (5-byte prefix: not compressed, length;
 * https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md), from the flow's bytes.
 */
export function frameFlowResponse(
  flowBytes: Uint8Array,
  nodeName: string | undefined,
  time: Timestamp | undefined,
): Buffer {
  const w = respWriter;
  w.pos = 5;
  w.bytes(1, flowBytes);
  if (nodeName != null) w.string(1000, nodeName);
  if (time) writeTimestamp(w, 1001, time);
  w.buf[0] = 0;
  w.buf.writeUInt32BE(w.pos - 5, 1);
  return w.take();
}

/** Any GetFlowsResponse, framed: flows by the writer above, the rest (lost events, node status) by protobufjs. */
export function frameResponse(r: GetFlowsResponse, flowBytes?: Uint8Array): Buffer {
  if (r.flow) return frameFlowResponse(flowBytes ?? encodeFlow(r.flow), r.node_name, r.time);
  return frame(serializeGetFlowsResponse(r));
}

/** A GetFlowsResponse kept as the bytes a node sent (relay forwards them as they are). */
export interface RawResponse {
  /** event time in ns (the response's `time`, else its flow's) */
  ns: number;
  /** the message without gRPC's 5-byte prefix */
  bytes: Buffer;
}

/** Reads a varint at `at`; returns [value, next position]. */
function readVarint(b: Uint8Array, at: number): [number, number] {
  let n = 0;
  let mul = 1;
  for (;;) {
    if (at >= b.length) throw new RangeError('truncated varint');
    const c = b[at++]!;
    n += (c & 0x7f) * mul;
    if (c < 0x80) return [n, at];
    mul *= 128;
  }
}

/** A google.protobuf.Timestamp's value in ns. */
function timestampNs(b: Uint8Array, from: number, to: number): number {
  let seconds = 0;
  let nanos = 0;
  for (let at = from; at < to;) {
    const [tag, p] = readVarint(b, at);
    if ((tag & 7) !== VARINT) throw new RangeError('unexpected wire type in Timestamp');
    const [v, q] = readVarint(b, p);
    // int32/int64 negatives are ten-byte varints: read as unsigned they are ≥ 2^63, i.e. invalid times
    if (tag >>> 3 === 1) seconds = v;
    else if (tag >>> 3 === 2) nanos = v;
    at = q;
  }
  return seconds * 1e9 + nanos;
}

/** A message field's value bounds, or undefined: scans the top level of `b[from, to)` for `field`. */
function findField(b: Uint8Array, from: number, to: number, field: number): [number, number] | undefined {
  for (let at = from; at < to;) {
    const [tag, p] = readVarint(b, at);
    const wt = tag & 7;
    if (wt === LEN) {
      const [len, q] = readVarint(b, p);
      if (tag >>> 3 === field) return [q, q + len];
      at = q + len;
    } else if (wt === VARINT) at = readVarint(b, p)[1];
    else if (wt === 1) at = p + 8;
    else if (wt === 5) at = p + 4;
    else throw new RangeError(`unexpected wire type ${wt}`);
  }
  return undefined;
}

/** A node's GetFlowsResponse bytes with their event time, read without decoding the flow. */
export function rawResponse(bytes: Buffer): RawResponse {
  const time = findField(bytes, 0, bytes.length, 1001);
  if (time) return { ns: timestampNs(bytes, time[0], time[1]), bytes };
  const flow = findField(bytes, 0, bytes.length, 1);
  const flowTime = flow && findField(bytes, flow[0], flow[1], 1);
  return { ns: flowTime ? timestampNs(bytes, flowTime[0], flowTime[1]) : 0, bytes };
}

/** Frames responses [from, to) into one buffer: one copy of each message, no buffer per message. */
export function frameAll(rs: readonly RawResponse[], from = 0, to = rs.length): Buffer {
  let total = 0;
  for (let i = from; i < to; i++) total += rs[i]!.bytes.length + 5;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = from; i < to; i++) {
    const b = rs[i]!.bytes;
    out[at] = 0;
    out.writeUInt32BE(b.length, at + 1);
    out.set(b, at + 5);
    at += b.length + 5;
  }
  return out;
}

/** Frames a message for stream.ts. */
export function frame(msg: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(msg.length + 5);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  out.set(msg, 5);
  return out;
}
