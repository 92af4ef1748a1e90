// IP addresses and prefixes as the maps store them: 16 bytes, IPv4 in the first four, plus a
// family (lxc.h ENDPOINT_KEY_IPV4/IPV6). Parsing is strict: a bad address is an error, never a
// silently zero key.
import { Family, type FamilyId } from './constants.js';

export interface Addr {
  family: FamilyId;
  bytes: Uint8Array; // always 16
}

export interface Prefix extends Addr {
  bits: number;
}

export function parseIp(s: string): Addr {
  const bytes = new Uint8Array(16);
  if (s.includes(':')) {
    parseV6(s, bytes);
    return { family: Family.ipv6, bytes };
  }
  const parts = s.split('.');
  if (parts.length !== 4) throw new TypeError(`invalid IP address "${s}"`);
  parts.forEach((p, i) => {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new TypeError(`invalid IP address "${s}"`);
    bytes[i] = Number(p);
  });
  return { family: Family.ipv4, bytes };
}

function parseV6(s: string, out: Uint8Array): void {
  const bad = (): never => {
    throw new TypeError(`invalid IP address "${s}"`);
  };
  const halves = s.split('::');
  if (halves.length > 2) bad();
  const groups = (h: string | undefined): number[] => {
    if (!h) return [];
    return h.split(':').map((g) => {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) bad();
      return parseInt(g, 16);
    });
  };
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  if (halves.length === 1 ? head.length !== 8 : head.length + tail.length > 7) bad();
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
}

export function parsePrefix(s: string): Prefix {
  const [ip, len] = s.split('/');
  const a = parseIp(ip ?? '');
  const max = a.family === Family.ipv4 ? 32 : 128;
  const bits = len === undefined ? max : Number(len);
  if (!Number.isInteger(bits) || bits < 0 || bits > max) throw new TypeError(`invalid prefix "${s}"`);
  return { ...a, bytes: maskBytes(a.bytes, bits), bits };
}

/** Zeroes every bit after the first `bits` (the LPM trie ignores them; keys must not differ in them). */
export function maskBytes(b: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i] = (b[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

export function formatIp(family: number, b: Uint8Array): string {
  if (family === Family.ipv4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push((((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)).toString(16));
  // compress the longest run of zero groups
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return g.join(':');
  return `${g.slice(0, best).join(':')}::${g.slice(best + bestLen).join(':')}`;
}

export function formatPrefix(p: Prefix): string {
  return `${formatIp(p.family, p.bytes)}/${p.bits}`;
}
