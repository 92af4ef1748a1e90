// MAC addresses as the maps store them (6 bytes, all-zero = not known) and as text.
/** "aa:bb:cc:dd:ee:ff"; undefined for the all-zero MAC (not known). */
export function formatMac(b: Uint8Array): string | undefined {
  return b.some((x) => x !== 0) ? [...b].map((x) => x.toString(16).padStart(2, '0')).join(':') : undefined;
}

export function parseMac(mac: string | undefined): Uint8Array {
  const out = new Uint8Array(6);
  if (!mac) return out;
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new TypeError(`invalid MAC "${mac}"`);
  parts.forEach((p, i) => (out[i] = parseInt(p, 16)));
  return out;
}
