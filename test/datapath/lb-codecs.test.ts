// Golden layout test for the load-balancer maps: the C compiler, not this file, says where every
// field of datapath/bpf/lb.h lives. A probe is generated from the codec descriptions (camelCase ->
// snake_case), compiled against lb.h with the host compiler, and compared: sizeof, offsetof of
// every field, the bytes of a struct filled with the same values on both sides, and every define.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { lbStructs } from '../../datapath/lb-codecs.js';
import { LbDefines } from '../../datapath/lb-constants.js';
import { fieldSize, type Field } from '../../datapath/layout.js';

const bpfDir = fileURLToPath(new URL('../../datapath/bpf/', import.meta.url));
const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function sample(structIdx: number, fieldIdx: number, f: Field): number | Uint8Array {
  const seed = (structIdx * 37 + fieldIdx * 11 + 3) & 0xff;
  if (typeof f.type === 'object') return Uint8Array.from({ length: f.type.bytes }, (_, i) => (seed + i * 17) & 0xff);
  const size = fieldSize(f.type);
  return size === 1
    ? seed
    : size === 2
      ? seed * 251
      : size === 4
        ? (seed * 16777259) % 4294967296
        : seed * 1099511627 + 9;
}

function probeSource(): string {
  const lines = [
    '#include <stdio.h>',
    '#include <stddef.h>',
    '#include <string.h>',
    '#include <arpa/inet.h>',
    '#include "lb.h"',
    'static void hex(const void *p, size_t n) { const unsigned char *b = p; for (size_t i = 0; i < n; i++) printf("%02x", b[i]); printf("\\n"); }',
    'int main(void) {',
  ];
  lbStructs.forEach((st, si) => {
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
  for (const name of Object.keys(LbDefines)) lines.push(`  printf("define ${name} %d\\n", ${name});`);
  lines.push('  return 0;', '}');
  return lines.join('\n');
}

let dir: string;
let out: Map<string, string>;

beforeAll(() => {
  dir = mkdtempSync(`${tmpdir()}/cilium-ts-lb-layout-`);
  writeFileSync(`${dir}/probe.c`, probeSource());
  execFileSync('cc', ['-Wall', '-Werror', '-I', bpfDir, '-o', `${dir}/probe`, `${dir}/probe.c`]);
  out = new Map();
  for (const line of execFileSync(`${dir}/probe`).toString().trim().split('\n')) {
    const [kind, name, value] = line.split(' ');
    out.set(`${kind} ${name}`, value ?? '');
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
