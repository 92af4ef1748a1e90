// Golden layout test: the C compiler, not this file, says where every field of lxc.h lives.
// We generate a probe program from the codec descriptions (field names camelCase -> snake_case),
// compile it against datapath/bpf/lxc.h with the host compiler, and compare: sizeof, offsetof of
// every field, and the bytes of a struct filled with the same values on both sides.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { allStructs } from '../../datapath/codecs.js';
import { DROP_REASONS } from '../../datapath/drop-reasons.js';
import { enumNames } from '../../hubble/proto.js';
import { fieldSize, type Field } from '../../datapath/layout.js';

const bpfDir = fileURLToPath(new URL('../../datapath/bpf/', import.meta.url));
const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A deterministic sample value per field, valid for its type. */
function sample(structIdx: number, fieldIdx: number, f: Field): number | Uint8Array {
  const seed = (structIdx * 31 + fieldIdx * 7 + 1) & 0xff;
  if (typeof f.type === 'object') return Uint8Array.from({ length: f.type.bytes }, (_, i) => (seed + i * 13) & 0xff);
  const size = fieldSize(f.type);
  if (f.type === 'i8') return -((seed % 100) + 1);
  if (f.type === 'i32') return -(seed * 1000 + 7);
  return size === 1
    ? seed
    : size === 2
      ? seed * 251
      : size === 4
        ? (seed * 16777259) % 4294967296
        : seed * 1099511627 + 5;
}

function probeSource(): string {
  const lines = [
    '#include <stdio.h>',
    '#include <stddef.h>',
    '#include <string.h>',
    '#include <arpa/inet.h>',
    '#include "lxc.h"',
    'static void hex(const void *p, size_t n) { const unsigned char *b = p; for (size_t i = 0; i < n; i++) printf("%02x", b[i]); printf("\\n"); }',
    'int main(void) {',
  ];
  allStructs.forEach((st, si) => {
    lines.push(`  printf("size ${st.name} %zu\\n", sizeof(struct ${st.name}));`);
    for (const f of st.fields)
      lines.push(`  printf("offset ${st.name}.${f.name} %zu\\n", offsetof(struct ${st.name}, ${snake(f.name)}));`);
    lines.push(`  { struct ${st.name} s; memset(&s, 0, sizeof(s));`);
    st.fields.forEach((f, fi) => {
      const v = sample(si, fi, f);
      const c = snake(f.name);
      if (v instanceof Uint8Array)
        lines.push(`    { const unsigned char b[] = {${[...v].join(',')}}; memcpy(&s.${c}, b, sizeof(b)); }`);
      else if (f.type === 'be16') lines.push(`    s.${c} = htons(${v}u);`);
      else if (f.type === 'be32') lines.push(`    s.${c} = htonl(${v}u);`);
      else if (f.type === 'u64') lines.push(`    s.${c} = ${v}ull;`);
      else lines.push(`    s.${c} = ${v};`);
    });
    lines.push(`    printf("bytes ${st.name} "); hex(&s, sizeof(s)); }`);
  });
  for (const { define } of DROP_REASONS.values()) lines.push(`  printf("drop ${define} %d\\n", ${define});`);
  lines.push('  return 0;', '}');
  return lines.join('\n');
}

let dir: string;
let out: Map<string, string>;

beforeAll(() => {
  dir = mkdtempSync(`${tmpdir()}/cilium-ts-layout-`);
  writeFileSync(`${dir}/probe.c`, probeSource());
  execFileSync('cc', ['-Wall', '-Werror', '-I', bpfDir, '-o', `${dir}/probe`, `${dir}/probe.c`]);
  out = new Map();
  for (const line of execFileSync(`${dir}/probe`).toString().trim().split('\n')) {
    const [kind, name, value] = line.split(' ');
    out.set(`${kind} ${name}`, value ?? '');
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
