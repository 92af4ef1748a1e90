// Flow UUIDs without randomUUID() per flow: a UUIDv8 (RFC 9562 §5.8, custom layout, valid UUID
// form) made of a 48-bit hash of the node name, 12 random bits drawn at start and a 62-bit
// counter that starts at the start time in µs, so ids differ between nodes and between restarts
// of one node. The ring stores the counter (a number) instead of a 36-character string per flow
// and writes the string again when a flow is read.
import { randomInt } from 'node:crypto';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex(n: number, digits: number): string {
  let s = '';
  for (let i = digits - 2; i >= 0; i -= 2) s += HEX[Math.floor(n / 2 ** (i * 4)) & 0xff];
  return s;
}

/** FNV-1a 32-bit of a string, twice with different seeds: 48 bits of node identity */
function nodeHash(name: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x811c9dc5) >>> 0;
  }
  return [a, b & 0xffff];
}

/** 2^48: the counter's low part goes in the last 12 hex digits */
const LOW = 2 ** 48;

export class FlowIds {
  /** "hhhhhhhh-hhhh-8rrr-" */
  readonly prefix: string;
  private counter: number;

  constructor(nodeName: string, startUs = Date.now() * 1000) {
    const [a, b] = nodeHash(nodeName);
    this.prefix = `${hex(a, 8)}-${hex(b, 4)}-8${hex(randomInt(0x1000), 4).slice(1)}-`;
    // µs since 1970 stay below 2^53 for centuries; the 62-bit field holds them
    this.counter = Math.floor(startUs);
  }

  /** the next id's counter value */
  nextSeq(): number {
    return this.counter++;
  }

  /** the UUID of counter value `seq`: variant bits 10, then 14 high and 48 low bits of the counter */
  format(seq: number): string {
    const high = Math.floor(seq / LOW);
    return `${this.prefix}${hex(0x8000 | (high & 0x3fff), 4)}-${hex(seq % LOW, 12)}`;
  }

  /** the id next() returned last and its counter value (the ring keeps the number) */
  lastUuid: string | undefined;
  lastSeq = -1;

  next(): string {
    this.lastSeq = this.nextSeq();
    return (this.lastUuid = this.format(this.lastSeq));
  }
}
