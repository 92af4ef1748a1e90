// A tiny struct-layout engine: a C struct is described once as an ordered list of typed fields
// with explicit offsets, and encode/decode are derived from that description. Explicit offsets
// (not computed from field order) are deliberate: they are what the golden test compares with
// offsetof() from the C compiler, so padding mistakes show up as a test failure, not as a
// silently shifted field.

export type FieldType = 'u8' | 'i8' | 'u16' | 'be16' | 'u32' | 'i32' | 'be32' | 'u64' | { bytes: number };

export interface Field {
  readonly name: string;
  readonly type: FieldType;
  readonly offset: number;
}

export function fieldSize(t: FieldType): number {
  if (typeof t === 'object') return t.bytes;
  switch (t) {
    case 'u8':
    case 'i8':
      return 1;
    case 'u16':
    case 'be16':
      return 2;
    case 'u32':
    case 'i32':
    case 'be32':
      return 4;
    case 'u64':
      return 8;
  }
}

/** Field values: numbers for integers (u64 as a number; counters stay far below 2^53), byte arrays for arrays. */
export type FieldValue = number | Uint8Array;
export type Record_ = Record<string, FieldValue>;

export interface Struct<T> {
  readonly name: string;
  readonly size: number;
  readonly fields: readonly Field[];
  encode(value: Partial<T>, into?: Uint8Array, at?: number): Uint8Array;
  decode(bytes: Uint8Array, at?: number): T;
}

/**
 * Defines a struct codec. Missing fields encode as zero; `size` includes trailing padding
 * (it must equal sizeof()).
 */
export function defineStruct<T>(name: string, size: number, fields: Field[]): Struct<T> {
  for (const f of fields) {
    if (f.offset + fieldSize(f.type) > size) throw new Error(`layout ${name}.${f.name} overruns size ${size}`);
  }
  return {
    name,
    size,
    fields,
    encode(value: Partial<T>, into?: Uint8Array, at = 0): Uint8Array {
      const out = into ?? new Uint8Array(size);
      const dv = new DataView(out.buffer, out.byteOffset + at, size);
      const v = value as Record<string, FieldValue | undefined>;
      for (const f of fields) {
        const x = v[f.name];
        if (x === undefined) continue;
        writeField(dv, out, at, f, x, name);
      }
      return out;
    },
    decode(bytes: Uint8Array, at = 0): T {
      if (bytes.length - at < size) throw new RangeError(`${name}: need ${size} bytes, have ${bytes.length - at}`);
      const dv = new DataView(bytes.buffer, bytes.byteOffset + at, size);
      const r: Record<string, FieldValue> = {};
      for (const f of fields) r[f.name] = readField(dv, bytes, at, f);
      return r as T;
    },
  };
}

function writeField(dv: DataView, out: Uint8Array, at: number, f: Field, x: FieldValue, struct: string): void {
  const t = f.type;
  if (typeof t === 'object') {
    if (!(x instanceof Uint8Array) || x.length > t.bytes)
      throw new TypeError(`${struct}.${f.name}: expected at most ${t.bytes} bytes`);
    out.set(x, at + f.offset);
    return;
  }
  if (typeof x !== 'number' || !Number.isInteger(x)) throw new TypeError(`${struct}.${f.name}: expected an integer`);
  switch (t) {
    case 'u8':
      dv.setUint8(f.offset, x);
      break;
    case 'i8':
      dv.setInt8(f.offset, x);
      break;
    case 'u16':
      dv.setUint16(f.offset, x, true);
      break;
    case 'be16':
      dv.setUint16(f.offset, x, false);
      break;
    case 'u32':
      dv.setUint32(f.offset, x >>> 0, true);
      break;
    case 'i32':
      dv.setInt32(f.offset, x, true);
      break;
    case 'be32':
      dv.setUint32(f.offset, x >>> 0, false);
      break;
    case 'u64':
      dv.setBigUint64(f.offset, BigInt(x), true);
      break;
  }
}

function readField(dv: DataView, bytes: Uint8Array, at: number, f: Field): FieldValue {
  const t = f.type;
  if (typeof t === 'object') return new Uint8Array(bytes.subarray(at + f.offset, at + f.offset + t.bytes)); // a plain copy, never a Buffer view
  switch (t) {
    case 'u8':
      return dv.getUint8(f.offset);
    case 'i8':
      return dv.getInt8(f.offset);
    case 'u16':
      return dv.getUint16(f.offset, true);
    case 'be16':
      return dv.getUint16(f.offset, false);
    case 'u32':
      return dv.getUint32(f.offset, true);
    case 'i32':
      return dv.getInt32(f.offset, true);
    case 'be32':
      return dv.getUint32(f.offset, false);
    case 'u64':
      return Number(dv.getBigUint64(f.offset, true));
  }
}

/** Shorthand used by codecs.ts: [name, type, offset] triples. */
export function fields(...list: [string, FieldType, number][]): Field[] {
  return list.map(([name, type, offset]) => ({ name, type, offset }));
}
