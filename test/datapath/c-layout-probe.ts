// The C compiler as the judge of a TS mirror of a header: generates a probe program from the codec
// descriptions (field names camelCase -> snake_case), compiles it against datapath/bpf/<header>
// with the host compiler, and returns what it printed: sizeof, offsetof of every field, the bytes
// of a struct filled with sampleValue() on the C side, and any extra values asked for.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { fieldSize, type Field, type Struct } from '../../datapath/layout.js';

export const bpfDir = fileURLToPath(new URL('../../datapath/bpf/', import.meta.url));
const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A deterministic sample value per field, valid for its type (negative for the signed ones). */
export function sampleValue(structIdx: number, fieldIdx: number, f: Field): number | Uint8Array {
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

/** An integer the probe prints as `<kind> <name> <value>`, e.g. a #define. */
export interface ProbeValue {
  kind: string;
  name: string;
  /** A C expression of an integer type that fits an int. */
  expr: string;
}

function probeSource(header: string, structs: readonly Struct<unknown>[], values: readonly ProbeValue[]): string {
  const lines = [
    '#include <stdio.h>',
    '#include <stddef.h>',
    '#include <string.h>',
    '#include <arpa/inet.h>',
    `#include "${header}"`,
    'static void hex(const void *p, size_t n) { const unsigned char *b = p; for (size_t i = 0; i < n; i++) printf("%02x", b[i]); printf("\\n"); }',
    'int main(void) {',
  ];
  structs.forEach((st, si) => {
    lines.push(`  printf("size ${st.name} %zu\\n", sizeof(struct ${st.name}));`);
    for (const f of st.fields)
      lines.push(`  printf("offset ${st.name}.${f.name} %zu\\n", offsetof(struct ${st.name}, ${snake(f.name)}));`);
    lines.push(`  { struct ${st.name} s; memset(&s, 0, sizeof(s));`);
    st.fields.forEach((f, fi) => {
      const v = sampleValue(si, fi, f);
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
  for (const v of values) lines.push(`  printf("${v.kind} ${v.name} %d\\n", (int)(${v.expr}));`);
  lines.push('  return 0;', '}');
  return lines.join('\n');
}

/**
 * Compiles and runs the probe; the answer maps `size NAME`, `offset NAME.field`, `bytes NAME` and
 * `<kind> <name>` to what the compiled program printed.
 */
export function probeLayouts(
  header: string,
  structs: readonly Struct<unknown>[],
  values: readonly ProbeValue[] = [],
): Map<string, string> {
  const dir = mkdtempSync(`${tmpdir()}/cilium-ts-layout-`);
  try {
    writeFileSync(`${dir}/probe.c`, probeSource(header, structs, values));
    execFileSync('cc', ['-Wall', '-Werror', '-I', bpfDir, '-o', `${dir}/probe`, `${dir}/probe.c`]);
    const out = new Map<string, string>();
    for (const line of execFileSync(`${dir}/probe`).toString().trim().split('\n')) {
      const [kind, name, value] = line.split(' ');
      out.set(`${kind} ${name}`, value ?? '');
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The golden layout suite of one header: for every struct its size, field offsets and the bytes of
 * a sample (encoded here, compared with the C side's, decoded back), and every `#define` matching
 * `defines` has its value in `values`. Returns the probe's output for a file's own extra tests.
 */
export function describeHeaderMirror(o: {
  header: string;
  structs: readonly Struct<unknown>[];
  /** the defines of the header the codecs mirror (a regex with one group: the name) */
  defines: RegExp;
  values: Readonly<Record<string, number>>;
  /** where the TS side of the defines lives, for the test's name */
  codecs: string;
}): () => Map<string, string> {
  let out = new Map<string, string>();
  beforeAll(() => {
    out = probeLayouts(
      o.header,
      o.structs,
      Object.keys(o.values).map((name) => ({ kind: 'define', name, expr: name })),
    );
  });
  describe(`${o.codecs} mirror datapath/bpf/${o.header}`, () => {
    it.each(o.structs.map((s, i) => [s.name, i] as const))('%s: size, offsets and bytes', (name, si) => {
      const st = o.structs[si]!;
      expect(Number(out.get(`size ${name}`))).toBe(st.size);
      for (const f of st.fields)
        expect([f.name, Number(out.get(`offset ${name}.${f.name}`))]).toEqual([f.name, f.offset]);
      const values = Object.fromEntries(st.fields.map((f, fi) => [f.name, sampleValue(si, fi, f)]));
      const bytes = st.encode(values);
      expect(Buffer.from(bytes).toString('hex')).toBe(out.get(`bytes ${name}`));
      expect(st.decode(bytes)).toEqual(values);
    });

    it(`every define of the header has its value in ${o.codecs}`, () => {
      const header = readFileSync(`${bpfDir}/${o.header}`, 'utf8');
      const defines = [...header.matchAll(o.defines)].map((m) => m[1]);
      expect(Object.keys(o.values).sort()).toEqual(defines.sort());
      for (const [name, value] of Object.entries(o.values))
        expect([name, Number(out.get(`define ${name}`))]).toEqual([name, value]);
    });
  });
  return () => out;
}
