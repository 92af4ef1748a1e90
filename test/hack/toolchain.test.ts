import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';

describe('toolchain', () => {
  it('runs the tests on the pinned Node 24', () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
  });

  it('pins node@24 and records the approval of its install script', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(pkg.devDependencies.node).toMatch(/^\^?24\./);
    expect(pkg.allowScripts.node).toBe(true);
    expect(pkg.type).toBe('module');
    expect(pkg.engines.node).toBe('>=22.19');
  });
});
