import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { GENERATED_DIRS, synthOutputs } from '../../cdk8s/outputs.js';

const root = join(import.meta.dirname, '..', '..');

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)],
  );
}

describe('generated install outputs', () => {
  const files = synthOutputs();

  it('regenerating changes no committed file (run `npm run synth` when this fails)', () => {
    for (const [rel, text] of files) {
      expect({ file: rel, text: readFileSync(join(root, rel), 'utf8') }).toEqual({ file: rel, text });
    }
  });

  it('the generated directories hold no stale file', () => {
    for (const dir of GENERATED_DIRS) {
      const present = walk(join(root, dir))
        .map((f) => relative(root, f))
        .filter((f) => !(dir === 'crds/v2' && !f.endsWith('.yaml')));
      expect(present.sort()).toEqual([...files.keys()].filter((f) => f.startsWith(`${dir}/`)).sort());
    }
  });

  it('writes dist/install.yaml, the kustomize base and the chart', () => {
    const names = [...files.keys()];
    expect(names).toContain('dist/install.yaml');
    expect(names).toEqual(
      expect.arrayContaining([
        'deploy/base/kustomization.yaml',
        'charts/cilium-ts/Chart.yaml',
        'charts/cilium-ts/values.yaml',
        'charts/cilium-ts/values.schema.json',
        'charts/cilium-ts/templates/NOTES.txt',
      ]),
    );
  });
});
