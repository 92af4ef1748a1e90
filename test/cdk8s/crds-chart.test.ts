import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { synthCrdFiles } from '../../cdk8s/crds-chart.js';

describe('cdk8s CRD chart', () => {
  it('regenerating crds/v2/*.yaml changes nothing (run `npm run synth` when this fails)', () => {
    const dir = new URL('../../crds/v2/', import.meta.url);
    const files = synthCrdFiles();
    expect(
      readdirSync(dir)
        .filter((f) => f.endsWith('.yaml'))
        .sort(),
    ).toEqual([...files.keys()].sort());
    for (const [name, text] of files) {
      expect({ name, text: readFileSync(new URL(name, dir), 'utf8') }).toEqual({ name, text });
    }
  });
});
