// The images install production dependencies only (`npm ci --omit=dev`; images/*/Dockerfile), so
// every package the compiled entry points import — statically or by a literal dynamic import,
// through any file of build/ they reach — must be in package.json's `dependencies`. A runtime
// import of a devDependency would work on every developer machine and fail only in a pod.
import { describe, expect, it } from '@jest/globals';
import { build } from 'esbuild';
import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { REPO } from '../install/tools.js';

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
/** What the images run: build/cmd/<name>.js (images/bin/cmd-wrapper.sh). */
const ENTRIES = readdirSync(join(REPO, 'build', 'cmd'))
  .filter((f) => f.endsWith('.js'))
  .map((f) => join(REPO, 'build', 'cmd', f));

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
const packageOf = (spec: string) =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');

/** Every bare package import reachable from the entry points, with one file that imports it. */
async function packageImports(): Promise<Map<string, string>> {
  const r = await build({
    entryPoints: ENTRIES,
    absWorkingDir: REPO,
    bundle: true,
    packages: 'external',
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    outdir: join(REPO, 'build', '.runtime-deps-check'),
    logLevel: 'silent',
    external: ['*.node'],
  });
  const found = new Map<string, string>();
  for (const [file, input] of Object.entries(r.metafile.inputs))
    for (const imp of input.imports) {
      if (!imp.external || imp.path.startsWith('.') || imp.path.startsWith('/') || imp.path.endsWith('.node')) continue;
      if (imp.path.startsWith('node:') || builtinModules.includes(imp.path)) continue;
      if (!found.has(packageOf(imp.path))) found.set(packageOf(imp.path), file);
    }
  return found;
}

describe('runtime dependencies of the compiled entry points', () => {
  it('every package build/cmd/*.js reaches is a production dependency', async () => {
    expect(ENTRIES.length).toBeGreaterThanOrEqual(8);
    const found = await packageImports();
    // the scan sees real imports (not a vacuous pass)
    expect([...found.keys()]).toEqual(expect.arrayContaining(['@grpc/grpc-js', '@kubernetes/client-node', 'pino']));
    const wrong = [...found]
      .filter(([p]) => !(p in pkg.dependencies))
      .map(
        ([p, file]) =>
          `${p} (imported by ${file}; ${p in pkg.devDependencies ? 'a devDependency' : 'not in package.json'})`,
      );
    expect(wrong).toEqual([]);
  });
});
