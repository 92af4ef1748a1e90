// Golden layout test for the masquerading maps: the C compiler, not this file, says where every
// field of datapath/bpf/nat.h lives (sizeof, offsetof, the bytes of a filled-in struct and every
// define), compared with datapath/snat-codecs.ts.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { ipv4CtTuple } from '../../datapath/codecs.js';
import { SnatDefines, snatStructs } from '../../datapath/snat-codecs.js';
import { bpfDir, probeLayouts, sampleValue as sample } from './c-layout-probe.js';

let out: Map<string, string>;

beforeAll(() => {
  out = probeLayouts(
    'nat.h',
    snatStructs,
    Object.keys(SnatDefines).map((name) => ({ kind: 'define', name, expr: name })),
  );
});

describe('snat-codecs mirror datapath/bpf/nat.h', () => {
  it.each(snatStructs.map((s, i) => [s.name, i] as const))('%s: size, offsets and bytes', (name, si) => {
    const st = snatStructs[si]!;
    expect(Number(out.get(`size ${name}`))).toBe(st.size);
    for (const f of st.fields)
      expect([f.name, Number(out.get(`offset ${name}.${f.name}`))]).toEqual([f.name, f.offset]);
    const values = Object.fromEntries(st.fields.map((f, fi) => [f.name, sample(si, fi, f)]));
    const bytes = st.encode(values);
    expect(Buffer.from(bytes).toString('hex')).toBe(out.get(`bytes ${name}`));
    expect(st.decode(bytes)).toEqual(values);
  });

  it('every define of the header has its value in snat-codecs.ts', () => {
    const header = readFileSync(`${bpfDir}/nat.h`, 'utf8');
    const defines = [...header.matchAll(/^#define\s+((?:SNAT|NAT)_\w+)\s/gm)].map((m) => m[1]);
    expect(Object.keys(SnatDefines).sort()).toEqual(defines.sort());
    for (const [name, value] of Object.entries(SnatDefines))
      expect([name, Number(out.get(`define ${name}`))]).toEqual([name, value]);
  });

  it('the NAT key is upstream-sized: the 14-byte conntrack tuple, the 40-byte ipv4_nat_entry value', () => {
    expect([ipv4CtTuple.size, snatStructs[0]!.size]).toEqual([14, 40]);
  });
});
