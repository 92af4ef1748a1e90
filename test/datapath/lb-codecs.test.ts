// Golden layout test for the load-balancer maps: the C compiler, not this file, says where every
// field of datapath/bpf/lb.h lives. A probe generated from the codec descriptions (c-layout-probe.ts)
// is compiled against lb.h with the host compiler, and compared: sizeof, offsetof of
// every field, the bytes of a struct filled with the same values on both sides, and every define.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { lbStructs } from '../../datapath/lb-codecs.js';
import { LbDefines } from '../../datapath/lb-constants.js';
import { bpfDir, probeLayouts, sampleValue as sample } from './c-layout-probe.js';

let out: Map<string, string>;

beforeAll(() => {
  out = probeLayouts(
    'lb.h',
    lbStructs,
    Object.keys(LbDefines).map((name) => ({ kind: 'define', name, expr: name })),
  );
});

describe('lb-codecs mirror datapath/bpf/lb.h', () => {
  it.each(lbStructs.map((s, i) => [s.name, i] as const))('%s: size, offsets and bytes', (name, si) => {
    const st = lbStructs[si]!;
    expect(Number(out.get(`size ${name}`))).toBe(st.size);
    for (const f of st.fields)
      expect([f.name, Number(out.get(`offset ${name}.${f.name}`))]).toEqual([f.name, f.offset]);
    const values = Object.fromEntries(st.fields.map((f, fi) => [f.name, sample(si, fi, f)]));
    const bytes = st.encode(values);
    expect(Buffer.from(bytes).toString('hex')).toBe(out.get(`bytes ${name}`));
    expect(st.decode(bytes)).toEqual(values);
  });

  it('every define of the header has its value in lb-constants.ts', () => {
    const header = readFileSync(`${bpfDir}/lb.h`, 'utf8');
    const defines = [...header.matchAll(/^#define\s+((?:LB|SVC|BE)_\w+)\s/gm)].map((m) => m[1]);
    expect(Object.keys(LbDefines).sort()).toEqual(defines.sort());
    for (const [name, value] of Object.entries(LbDefines))
      expect([name, Number(out.get(`define ${name}`))]).toEqual([name, value]);
  });
});
