// `npm run image-size`: what each image's final stage holds, measured without a container engine
// or registry. For every images/*/Dockerfile the final stage's COPY lines (hack/dockerfile.ts, the
// parser the Dockerfile tests use) are staged into a temporary directory — build-stage paths from
// this checkout after `npm run build` and `make -C datapath`, node_modules from a fresh install of
// the lockfile — twice: with every dependency (`npm ci`, what an image without the prune would
// carry) and with production ones only (`npm ci --omit=dev --ignore-scripts`, what the images
// ship). Prints the bytes of each (du -sb) side by side. Not counted: the node:24-bookworm-slim
// base and the apt packages the agent's final stage installs.
//
// It then checks that the production tree is enough to run: every entry point the images run
// (build/cmd/*.js) is bundled from the staged agent image, so an import of a package missing from
// `dependencies` fails here instead of in a pod.
//   npm run image-size [-- --keep]
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { parseDockerfile } from './dockerfile.js';

const ROOT = resolve(import.meta.dirname, '..');
const IMAGES = ['agent', 'operator', 'relay', 'hubble-ui'];
const keep = process.argv.includes('--keep');
const tmp = mkdtempSync(join(tmpdir(), 'cilium-ts-image-size-'));

const run = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, {
    cwd,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
const bytes = (path: string) => Number(execFileSync('du', ['-sb', path], { encoding: 'utf8' }).split('\t')[0]);
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** node_modules from the lockfile, as the image's build stage would get it. */
function installDeps(variant: string, args: string[]): string {
  const dir = join(tmp, `deps-${variant}`);
  mkdirSync(dir);
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, f), join(dir, f));
  const started = performance.now();
  run('npm', ['ci', '--no-audit', '--no-fund', ...args], dir);
  console.log(`  npm ci ${args.join(' ')}: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return join(dir, 'node_modules');
}

/** Copies like Docker's COPY: a directory's contents into dest, a file to dest (or into it when dest ends in /). */
function dockerCopy(src: string, dest: string, destIsDir: boolean, link: boolean): void {
  if (statSync(src).isDirectory()) {
    mkdirSync(dest, { recursive: true });
    if (link) run('cp', ['-al', `${src}/.`, dest], ROOT);
    else cpSync(src, dest, { recursive: true, verbatimSymlinks: true });
    return;
  }
  const to = destIsDir ? join(dest, basename(src)) : dest;
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(src, to);
}

/** The final stage of one image, staged under `into`, with `nodeModules` for /src/node_modules. */
function stageImage(image: string, into: string, nodeModules: string): void {
  const stages = parseDockerfile(readFileSync(join(ROOT, 'images', image, 'Dockerfile'), 'utf8'));
  const final = stages.at(-1)!;
  const workdir = final.workdir ?? '/';
  for (const c of final.copies) {
    const dest = join(into, posix.resolve(workdir, c.dest));
    const destIsDir = c.dest.endsWith('/') || c.sources.length > 1;
    for (const s of c.sources) {
      if (c.from === undefined) {
        dockerCopy(join(ROOT, s), dest, destIsDir, false);
        continue;
      }
      // the build stage's WORKDIR /src is this checkout after npm ci, make and npm run build
      const rel = posix.relative('/src', s);
      if (rel === 'node_modules') dockerCopy(nodeModules, dest, true, true);
      else dockerCopy(join(ROOT, rel), dest, destIsDir, false);
    }
  }
}

/** Every entry point the images run, bundled from a staged image: fails on an import the tree cannot resolve. */
async function checkResolvable(appDir: string): Promise<string[]> {
  const entries = readdirSync(join(appDir, 'build', 'cmd'))
    .filter((f) => f.endsWith('.js'))
    .map((f) => join(appDir, 'build', 'cmd', f));
  const r = await build({
    entryPoints: entries,
    absWorkingDir: appDir,
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    outdir: join(appDir, 'out'),
    logLevel: 'silent',
    // native addons and optional peers are loaded at run time, not by the bundler
    external: ['*.node'],
  }).catch((e: { errors?: { text: string }[] }) => ({ errors: e.errors ?? [{ text: String(e) }] }));
  return r.errors.map((e) => e.text);
}

try {
  for (const f of ['build/cmd/cilium-agent.js', 'datapath/build/ebpf_loader.node']) statSync(join(ROOT, f)); // throws: run `npm run build` and `make -C datapath` first
  console.log(`image-size: staging ${IMAGES.join(', ')} in ${tmp}`);
  const all = installDeps('all', []);
  const prod = installDeps('prod', ['--omit=dev', '--ignore-scripts']);
  const rows: string[][] = [['image', 'all deps', '--omit=dev', 'ratio']];
  rows.push(['node_modules', mb(bytes(all)), mb(bytes(prod)), (bytes(prod) / bytes(all)).toFixed(2)]);
  for (const image of IMAGES) {
    const before = join(tmp, 'all', image);
    const after = join(tmp, 'prod', image);
    stageImage(image, before, all);
    stageImage(image, after, prod);
    rows.push([image, mb(bytes(before)), mb(bytes(after)), (bytes(after) / bytes(before)).toFixed(2)]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => (i ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  '));
  console.log('(bytes the final stage copies, du -sb; without the node:24-bookworm-slim base and apt packages)');
  const errors = await checkResolvable(join(tmp, 'prod', 'agent', 'app'));
  if (errors.length) {
    console.error(`image-size: the production tree cannot run every entry point:\n  ${errors.join('\n  ')}`);
    process.exitCode = 1;
  } else console.log('every build/cmd entry point resolves all its imports from the --omit=dev tree');
} finally {
  if (keep) console.log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
