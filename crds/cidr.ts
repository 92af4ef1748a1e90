// IP prefixes as numbers, to check `cidr` syntax and that every `except` lies inside its `cidr`.
import { isIPv4, isIPv6 } from 'node:net';

export interface Prefix {
  family: 4 | 6;
  /** The address as a number (IPv4: 32 bits, IPv6: 128 bits). */
  address: bigint;
  length: number;
}

function ipv4ToBigInt(ip: string): bigint {
  return ip.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

function ipv6ToBigInt(ip: string): bigint {
  let text = ip;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4?.[1]) {
    const n = ipv4ToBigInt(v4[1]);
    text = `${text.slice(0, -v4[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headParts = head ? head.split(':') : [];
  const tailParts = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - headParts.length - tailParts.length;
  const parts = [...headParts, ...Array<string>(zeros).fill('0'), ...tailParts];
  return parts.reduce((acc, h) => (acc << 16n) | BigInt(parseInt(h, 16)), 0n);
}

/** Parses `a.b.c.d/n` or `x::y/n`; a bare address is a host prefix. Returns undefined if invalid. */
export function parsePrefix(text: string): Prefix | undefined {
  const slash = text.indexOf('/');
  const ip = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? undefined : text.slice(slash + 1);
  const family = isIPv4(ip) ? 4 : isIPv6(ip) ? 6 : undefined;
  if (!family) return undefined;
  const bits = family === 4 ? 32 : 128;
  if (lenText !== undefined && !/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return undefined;
  const length = lenText === undefined ? bits : Number(lenText);
  if (length > bits) return undefined;
  return { family, address: family === 4 ? ipv4ToBigInt(ip) : ipv6ToBigInt(ip), length };
}

/** True when `text` is a CIDR with an explicit length (what `format: cidr` accepts). */
export function isCidr(text: string): boolean {
  return text.includes('/') && parsePrefix(text) !== undefined;
}

function network(p: Prefix): bigint {
  const bits = p.family === 4 ? 32 : 128;
  const hostBits = BigInt(bits - p.length);
  return (p.address >> hostBits) << hostBits;
}

/** True when `inner` lies entirely inside `outer` (same family, longer or equal prefix). */
export function prefixContains(outer: Prefix, inner: Prefix): boolean {
  if (outer.family !== inner.family || inner.length < outer.length) return false;
  const bits = outer.family === 4 ? 32 : 128;
  const shift = BigInt(bits - outer.length);
  return network(inner) >> shift === network(outer) >> shift;
}
