// Golden layout test for the tunnel maps: the C compiler, not this file, says where every field of
// datapath/bpf/overlay.h lives (sizeof, offsetof, the bytes of a filled-in struct and every
// define), compared with datapath/overlay-codecs.ts; and the entries the agent writes, byte by byte.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { OverlayDefines, decodeTunnelEntry, overlayStructs, tunnelEntry } from '../../datapath/overlay-codecs.js';
import { bpfDir, probeLayouts, sampleValue as sample } from './c-layout-probe.js';

let out: Map<string, string>;

beforeAll(() => {
  out = probeLayouts(
    'overlay.h',
    overlayStructs,
    Object.keys(OverlayDefines).map((name) => ({ kind: 'define', name, expr: name })),
  );
});

describe('overlay-codecs mirror datapath/bpf/overlay.h', () => {
  it.each(overlayStructs.map((s, i) => [s.name, i] as const))('%s: size, offsets and bytes', (name, si) => {
    const st = overlayStructs[si]!;
    expect(Number(out.get(`size ${name}`))).toBe(st.size);
    for (const f of st.fields)
      expect([f.name, Number(out.get(`offset ${name}.${f.name}`))]).toEqual([f.name, f.offset]);
    const values = Object.fromEntries(st.fields.map((f, fi) => [f.name, sample(si, fi, f)]));
    const bytes = st.encode(values);
    expect(Buffer.from(bytes).toString('hex')).toBe(out.get(`bytes ${name}`));
    expect(st.decode(bytes)).toEqual(values);
  });

  it('every define of the header has its value in overlay-codecs.ts', () => {
    const header = readFileSync(`${bpfDir}/overlay.h`, 'utf8');
    const defines = [...header.matchAll(/^#define\s+(\w+)\s/gm)]
      .map((m) => m[1])
      .filter((d) => d !== 'CILIUM_TS_OVERLAY_H');
    expect(Object.keys(OverlayDefines).sort()).toEqual(defines.sort());
    for (const [name, value] of Object.entries(OverlayDefines))
      expect([name, Number(out.get(`define ${name}`))]).toEqual([name, value]);
  });
});

describe('tunnel map entries', () => {
  it.each([
    // pod CIDR, node IP, key hex, value hex, the prefix address listed
    [
      '10.0.2.0/24',
      '172.30.2.2',
      `0a000200${'00'.repeat(12)}01000000`,
      `ac1e0202${'00'.repeat(12)}01000000`,
      '10.0.2.0',
    ],
    [
      '10.0.2.77/24',
      '172.30.2.2',
      `0a000200${'00'.repeat(12)}01000000`,
      `ac1e0202${'00'.repeat(12)}01000000`,
      '10.0.2.0',
    ],
    [
      '10.244.0.0/16',
      '192.168.1.10',
      `0af40000${'00'.repeat(12)}01000000`,
      `c0a8010a${'00'.repeat(12)}01000000`,
      '10.244.0.0',
    ],
  ])('%s via %s: the prefix address and the node IP', (podCidr, nodeIp, key, value, prefix) => {
    const e = tunnelEntry({ podCidr, nodeIp });
    expect(Buffer.from(e.key).toString('hex')).toBe(key);
    expect(Buffer.from(e.value).toString('hex')).toBe(value);
    expect(decodeTunnelEntry(e.key, e.value)).toEqual({ prefix, nodeIp });
  });

  it('refuses IPv6 (the datapath encapsulates IPv4 only)', () => {
    expect(() => tunnelEntry({ podCidr: 'fd00::/64', nodeIp: '172.30.2.2' })).toThrow(/IPv4 only/);
    expect(() => tunnelEntry({ podCidr: '10.0.2.0/24', nodeIp: 'fd00::2' })).toThrow(/IPv4 only/);
  });
});
