// A longest-prefix-match table over byte keys, with the semantics of BPF_MAP_TYPE_LPM_TRIE:
// a key is (prefixlen, data); a lookup with full-length data returns the entry with the longest
// prefix whose first prefixlen bits equal the data's. Used by the sim backend; small and exact
// rather than fast (one hash probe per distinct prefix length present).
import { maskBytes } from './ip.js';

export class LpmTable<V> {
  private readonly byLen = new Map<number, Map<string, V>>();
  private lens: number[] = [];

  get size(): number {
    let n = 0;
    for (const m of this.byLen.values()) n += m.size;
    return n;
  }

  set(prefixlen: number, data: Uint8Array, value: V): void {
    let m = this.byLen.get(prefixlen);
    if (!m) {
      m = new Map();
      this.byLen.set(prefixlen, m);
      this.lens = [...this.byLen.keys()].sort((a, b) => b - a);
    }
    m.set(hex(maskBytes(data, prefixlen)), value);
  }

  delete(prefixlen: number, data: Uint8Array): boolean {
    return this.byLen.get(prefixlen)?.delete(hex(maskBytes(data, prefixlen))) ?? false;
  }

  lookup(data: Uint8Array, maxlen: number): V | undefined {
    for (const len of this.lens) {
      if (len > maxlen) continue;
      const v = this.byLen.get(len)?.get(hex(maskBytes(data, len)));
      if (v !== undefined) return v;
    }
    return undefined;
  }

  clear(): void {
    this.byLen.clear();
    this.lens = [];
  }
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
