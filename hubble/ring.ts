// The flow ring: a fixed number of the latest events, overwritten oldest first. Capacity is
// 2^n − 1 as upstream's (Capacity1 … Capacity65535, pkg/hubble/container/ring.go). Readers hold a sequence
// number instead of a pointer, so a reader that the writer laps learns exactly how many events it
// missed and can say so (a HUBBLE_RING_BUFFER LostEvent) rather than silently skipping them.
//
// Flows are kept as columns, not objects. A flow object (its uuid string and L4 objects too)
// that lives in the ring for 65,535 events survives young-generation GC, is copied and later
// collected from the old generation: that was ~40 % of observe(). A flow's parts are shared
// objects and constants (hubble/intern.ts), so a column of references holds each field and the
// per-flow numbers (ports, uuid counter) go in typed arrays; a flow object is made again when
// read, and dies young. A flow with a field outside these columns (an L7 record, …) is kept as
// the object it is.
import { HubbleError, HubbleErrorCode } from './errors.js';
import type { Flow, Layer4, LostEvent } from './types.js';
import type { FlowIds } from './uuid.js';

export interface RingEntry {
  /** position in the stream of everything ever written (0-based) */
  seq: number;
  /** event time in ns since the epoch */
  timeNs: number;
  flow?: Flow;
  lost?: LostEvent;
}

export type ReadResult = { entry: RingEntry } | { lost: number; next: number } | undefined;

export const MAX_RING_CAPACITY = 65535;

export function isValidCapacity(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_RING_CAPACITY && ((n + 1) & n) === 0;
}

/** Flow fields kept by reference, in the order a read flow gets them (uuid and l4 are columns of their own). */
const FIELDS = [
  'time',
  'verdict',
  'drop_reason',
  'ethernet',
  'IP',
  'Type',
  'node_name',
  'drop_reason_desc',
  'event_type',
  'interface',
  'trace_observation_point',
  'is_reply',
  'reply',
  'proxy_port',
  'policy_match_type',
  'traffic_direction',
  'source',
  'destination',
  'source_service',
  'destination_service',
  'source_names',
  'destination_names',
] as const;
type Field = (typeof FIELDS)[number];
const FIELD_BIT = new Map<string, number>(FIELDS.map((f, i) => [f, 1 << i]));
const UUID_BIT = 1 << FIELDS.length;
const L4_BIT = 1 << (FIELDS.length + 1);
/** slot kinds */
const EMPTY = 0;
const COLUMNS = 1;
const OBJECT = 2;
const LOST = 3;
/** l4 kinds: which Layer4 member, and whether TCP carries flags */
const L4_KINDS = ['TCP', 'UDP', 'SCTP', 'ICMPv4', 'ICMPv6'] as const;

export class FlowRing {
  private readonly kind: Uint8Array;
  private readonly times: Float64Array;
  /** a lost event, or a flow kept whole */
  private readonly objects: (Flow | LostEvent | undefined)[];
  private readonly present: Uint32Array;
  private readonly cols: unknown[][];
  private readonly uuidSeq: Float64Array;
  private readonly l4Kind: Uint8Array;
  private readonly portA: Uint16Array;
  private readonly portB: Uint16Array;
  private readonly tcpFlags: (object | undefined)[];
  /** a flow's framed GetFlowsResponse bytes, made when it is first sent (hubble/wire.ts) */
  private readonly wire: (Buffer | undefined)[];
  private writeSeq = 0;
  private readonly waiters = new Set<() => void>();

  /** `ids`: the parser's uuid source, whose ids are stored as their counter values */
  constructor(
    readonly capacity: number,
    private readonly ids?: FlowIds,
  ) {
    if (!isValidCapacity(capacity)) {
      throw new HubbleError(
        HubbleErrorCode.BadCapacity,
        `ring capacity ${capacity} is not 2^n-1 between 1 and ${MAX_RING_CAPACITY} (e.g. 4095)`,
      );
    }
    this.kind = new Uint8Array(capacity);
    this.times = new Float64Array(capacity);
    this.objects = new Array(capacity);
    this.present = new Uint32Array(capacity);
    this.cols = FIELDS.map(() => new Array(capacity));
    this.uuidSeq = new Float64Array(capacity);
    this.l4Kind = new Uint8Array(capacity);
    this.portA = new Uint16Array(capacity);
    this.portB = new Uint16Array(capacity);
    this.tcpFlags = new Array(capacity);
    this.wire = new Array(capacity);
  }

  /** events ever written */
  get seen(): number {
    return this.writeSeq;
  }
  /** events held now */
  get length(): number {
    return Math.min(this.writeSeq, this.capacity);
  }
  /** sequence number of the oldest event still held */
  get oldest(): number {
    return Math.max(0, this.writeSeq - this.capacity);
  }
  /** sequence number the next write gets */
  get next(): number {
    return this.writeSeq;
  }

  write(timeNs: number, payload: { flow: Flow } | { lost: LostEvent }): void {
    const at = this.writeSeq % this.capacity;
    if ('flow' in payload) {
      if (this.kind[at] === COLUMNS) this.clearColumns(at);
      if (this.store(at, payload.flow)) {
        this.kind[at] = COLUMNS;
        this.objects[at] = undefined;
      } else {
        this.kind[at] = OBJECT;
        this.objects[at] = payload.flow;
      }
    } else {
      if (this.kind[at] === COLUMNS) this.clearColumns(at);
      this.kind[at] = LOST;
      this.objects[at] = payload.lost;
    }
    this.times[at] = timeNs;
    this.wire[at] = undefined;
    this.writeSeq++;
    if (this.waiters.size) for (const w of [...this.waiters]) w();
  }

  /** Puts a flow in the columns; false (nothing kept) when it has a field they do not hold. */
  private store(at: number, f: Flow): boolean {
    let bits = 0;
    for (const key in f) {
      const v = (f as Record<string, unknown>)[key];
      if (v === undefined) continue;
      const bit = FIELD_BIT.get(key);
      if (bit !== undefined) bits |= bit;
      else if (key === 'uuid') {
        if (!this.ids || v !== this.ids.lastUuid) return this.undo(at, bits);
        bits |= UUID_BIT;
      } else if (key === 'l4') {
        if (!this.storeL4(at, v as Layer4)) return this.undo(at, bits);
        bits |= L4_BIT;
      } else return this.undo(at, bits);
    }
    for (let i = 0; i < FIELDS.length; i++) if (bits & (1 << i)) this.cols[i]![at] = f[FIELDS[i]!];
    if (bits & UUID_BIT) this.uuidSeq[at] = this.ids!.lastSeq;
    this.present[at] = bits;
    return true;
  }

  private undo(at: number, _bits: number): false {
    this.tcpFlags[at] = undefined;
    this.present[at] = 0;
    return false;
  }

  /** Layer4 with exactly one member of the usual shape; anything else is kept as an object. */
  private storeL4(at: number, l4: Layer4): boolean {
    let kind = 0;
    let n = 0;
    for (const key in l4) {
      const v = (l4 as Record<string, unknown>)[key];
      if (v === undefined) continue;
      n++;
      kind = L4_KINDS.indexOf(key as (typeof L4_KINDS)[number]) + 1;
      if (kind === 0) return false;
    }
    if (n !== 1) return false;
    const m = l4[L4_KINDS[kind - 1]!] as Record<string, unknown>;
    const icmp = kind >= 4;
    const a = icmp ? 'type' : 'source_port';
    const b = icmp ? 'code' : 'destination_port';
    let fields = 0;
    for (const key in m) {
      const v = m[key];
      if (v === undefined) continue;
      if ((key === a || key === b) && typeof v === 'number' && v >= 0 && v <= 0xffff && Number.isInteger(v)) fields++;
      else if (key === 'flags' && kind === 1 && typeof v === 'object' && v !== null) this.tcpFlags[at] = v;
      else return false;
    }
    if (fields !== 2) return false;
    this.l4Kind[at] = kind;
    this.portA[at] = m[a] as number;
    this.portB[at] = m[b] as number;
    return true;
  }

  private clearColumns(at: number): void {
    // drop references so overwritten parts can be collected
    const bits = this.present[at]!;
    for (let i = 0; i < FIELDS.length; i++) if (bits & (1 << i)) this.cols[i]![at] = undefined;
    this.tcpFlags[at] = undefined;
  }

  private flowAt(at: number): Flow {
    if (this.kind[at] !== COLUMNS) return this.objects[at] as Flow;
    const bits = this.present[at]!;
    const f: Flow = {};
    const out = f as Record<Field | 'uuid' | 'l4', unknown>;
    if (bits & 1) out.time = this.cols[0]![at];
    if (bits & UUID_BIT) out.uuid = this.ids!.format(this.uuidSeq[at]!);
    for (let i = 1; i < FIELDS.length; i++) if (bits & (1 << i)) out[FIELDS[i]!] = this.cols[i]![at];
    if (bits & L4_BIT) {
      const kind = this.l4Kind[at]!;
      if (kind >= 4) {
        const icmp = { type: this.portA[at]!, code: this.portB[at]! };
        f.l4 = kind === 4 ? { ICMPv4: icmp } : { ICMPv6: icmp };
      } else {
        const ports: { source_port: number; destination_port: number; flags?: object } = {
          source_port: this.portA[at]!,
          destination_port: this.portB[at]!,
        };
        const flags = this.tcpFlags[at];
        if (flags) ports.flags = flags;
        f.l4 = kind === 1 ? { TCP: ports } : kind === 2 ? { UDP: ports } : { SCTP: ports };
      }
    }
    return f;
  }

  private entryAt(seq: number): RingEntry {
    const at = seq % this.capacity;
    return this.kind[at] === LOST
      ? { seq, timeNs: this.times[at]!, lost: this.objects[at] as LostEvent }
      : { seq, timeNs: this.times[at]!, flow: this.flowAt(at) };
  }

  /** Event time (ns) of the entry at `seq`, which must be held; cheaper than reading the entry. */
  timeAt(seq: number): number {
    return this.times[seq % this.capacity]!;
  }

  /**
   * The entry at `seq`; `{lost, next}` when it was overwritten before being read (`next` is the
   * oldest still held); undefined when nothing has been written there yet.
   */
  read(seq: number): ReadResult {
    if (seq >= this.writeSeq) return undefined;
    const oldest = this.oldest;
    if (seq < oldest) return { lost: oldest - seq, next: oldest };
    return { entry: this.entryAt(seq) };
  }

  /**
   * The bytes `make` gives for the flow at `seq`, made once: kept with the flow while the ring
   * holds it (a flow already overwritten is not cached).
   */
  wireOf(seq: number, flow: Flow, make: (f: Flow) => Buffer): Buffer {
    const at = seq % this.capacity;
    if (seq < this.oldest || seq >= this.writeSeq || this.kind[at] === LOST || this.kind[at] === EMPTY)
      return make(flow);
    return (this.wire[at] ??= make(flow));
  }

  /** Calls `wake` after every write until the returned function is called. */
  subscribe(wake: () => void): () => void {
    this.waiters.add(wake);
    return () => this.waiters.delete(wake);
  }

  /** Oldest to newest. */
  *entries(from = this.oldest): Generator<RingEntry> {
    for (let s = Math.max(from, this.oldest); s < this.writeSeq; s++) yield this.entryAt(s);
  }

  /** Newest to oldest. */
  *reversed(): Generator<RingEntry> {
    for (let s = this.writeSeq - 1; s >= this.oldest; s--) yield this.entryAt(s);
  }
}
