// Golden layout test: the C compiler, not this file, says where every field of lxc.h lives.
// A probe generated from the codec descriptions (c-layout-probe.ts) is compiled against
// datapath/bpf/lxc.h; we compare sizeof, offsetof of every field, and the bytes of a struct filled
// with the same values on both sides.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { allStructs } from '../../datapath/codecs.js';
import { DROP_REASONS } from '../../datapath/drop-reasons.js';
import { enumNames } from '../../hubble/proto.js';
import { bpfDir, probeLayouts, sampleValue as sample } from './c-layout-probe.js';

let out: Map<string, string>;

beforeAll(() => {
  const drops = [...DROP_REASONS.values()].map(({ define }) => ({ kind: 'drop', name: define, expr: define }));
  out = probeLayouts('lxc.h', allStructs, drops);
});

describe('codecs mirror datapath/bpf/lxc.h', () => {
  it.each(allStructs.map((s, i) => [s.name, i] as const))('%s: size, offsets and bytes', (name, si) => {
    const st = allStructs[si]!;
    expect(Number(out.get(`size ${name}`))).toBe(st.size);
    for (const f of st.fields)
      expect([f.name, Number(out.get(`offset ${name}.${f.name}`))]).toEqual([f.name, f.offset]);
    const values = Object.fromEntries(st.fields.map((f, fi) => [f.name, sample(si, fi, f)]));
    const bytes = st.encode(values);
    expect(Buffer.from(bytes).toString('hex')).toBe(out.get(`bytes ${name}`));
    expect(st.decode(bytes)).toEqual(values);
  });
});

describe('the drop-reason table mirrors datapath/bpf/lxc.h and flow.proto', () => {
  it('every DROP_* of the header is in the table, with the value the compiler gives it', () => {
    const header = readFileSync(`${bpfDir}/lxc.h`, 'utf8');
    const defines = [...header.matchAll(/^#define\s+(DROP_\w+)\s/gm)].map((m) => m[1]);
    expect([...DROP_REASONS.values()].map((r) => r.define).sort()).toEqual(defines.sort());
    for (const [reason, { define }] of DROP_REASONS)
      expect([define, Number(out.get(`drop ${define}`))]).toEqual([define, -reason]);
  });

  it("each Hubble name is flow.DropReason's name for that number", () => {
    const names = enumNames('flow.DropReason');
    for (const [reason, { hubble }] of DROP_REASONS) expect([reason, names.get(reason)]).toEqual([reason, hubble]);
  });
});
