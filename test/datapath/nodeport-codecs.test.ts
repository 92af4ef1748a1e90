// Golden layout test for the per-packet NodePort maps: the C compiler, not this file, says where
// every field of datapath/bpf/nodeport.h lives (sizeof, offsetof, the bytes of a filled-in struct
// and every define), compared with datapath/nodeport-codecs.ts.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { NodePortDefines, nodePortStructs } from '../../datapath/nodeport-codecs.js';
import { bpfDir, probeLayouts, sampleValue as sample } from './c-layout-probe.js';

let out: Map<string, string>;

beforeAll(() => {
  out = probeLayouts(
    'nodeport.h',
    nodePortStructs,
    Object.keys(NodePortDefines).map((name) => ({ kind: 'define', name, expr: name })),
  );
});

describe('nodeport-codecs mirror datapath/bpf/nodeport.h', () => {
  it.each(nodePortStructs.map((s, i) => [s.name, i] as const))('%s: size, offsets and bytes', (name, si) => {
    const st = nodePortStructs[si]!;
    expect(Number(out.get(`size ${name}`))).toBe(st.size);
    for (const f of st.fields)
      expect([f.name, Number(out.get(`offset ${name}.${f.name}`))]).toEqual([f.name, f.offset]);
    const values = Object.fromEntries(st.fields.map((f, fi) => [f.name, sample(si, fi, f)]));
    const bytes = st.encode(values);
    expect(Buffer.from(bytes).toString('hex')).toBe(out.get(`bytes ${name}`));
    expect(st.decode(bytes)).toEqual(values);
  });

  it('every define of the header has its value in nodeport-codecs.ts', () => {
    const header = readFileSync(`${bpfDir}/nodeport.h`, 'utf8');
    const defines = [...header.matchAll(/^#define\s+(NODEPORT_\w+)\s/gm)].map((m) => m[1]);
    expect(Object.keys(NodePortDefines).sort()).toEqual(defines.sort());
    for (const [name, value] of Object.entries(NodePortDefines))
      expect([name, Number(out.get(`define ${name}`))]).toEqual([name, value]);
  });
});
