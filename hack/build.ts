// `npm run build`: every binary (cmd/*.ts) and every process the devcluster launches, compiled to
// JavaScript under build/ (gitignored) — what the images, the devcluster and the package bins run.
//
// esbuild, not tsc: type checking is `npm run typecheck`'s job, and a transpile of the whole graph
// takes well under a second, so callers (setup, the test runner, `npm run devcluster`) can run it
// every time instead of trusting a stale tree.
//   1. the import graph: a bundle pass over the entry points that writes nothing, so a file is
//      compiled because an entry imports it — nobody lists internal files;
//   2. each file of that graph transpiled on its own into the same place under build/, so that
//      paths a module resolves next to itself (`new URL('./proto', import.meta.url)`) keep their
//      shape; ASSETS links those folders into build/;
//   3. the CNI plugin bundled into one file: the runtime executes it on the host, outside the image
//      and its node_modules (images/agent/install-cni.sh copies it there).
// Only files whose content changed are rewritten, and outputs of deleted sources are removed.
//   node hack/build.ts [--quiet]
import { build, type BuildOptions, type OutputFile } from 'esbuild';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const OUT = join(ROOT, 'build');
const quiet = process.argv.includes('--quiet');

/** Programs started as processes: the binaries, and the devcluster's own (its CLI, API server, nodes daemon, forwarder). */
const ENTRIES = [
  ...readdirSync(join(ROOT, 'cmd'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `cmd/${f}`),
  'devcluster/cli.ts',
  'devcluster/apiserver/main.ts',
  'devcluster/nodes/daemon.ts',
  'devcluster/nodes/forwarder.ts',
  'devcluster/nodes/outside-echo.ts',
  'devcluster/dns/main.ts',
  // a thread's entry, started by URL (proxy/http-workers.ts), so no import brings it in
  'proxy/http-worker.ts',
];
/** Folders the compiled code finds through import.meta.url, linked (not copied) so `make -C datapath` needs no rebuild. */
const ASSETS = ['datapath/build', 'hubble/proto'];
/** The one-file CNI plugin (see images/agent/install-cni.sh). */
const CNI_BUNDLE = 'bundle/cilium-cni.mjs';
/** The Hubble UI page: React, Mantine and dagre bundled for the browser, next to the server that serves it. */
const WEB_ENTRY = 'hubble-ui/web/main.tsx';
const WEB_OUT = join(OUT, 'hubble-ui', 'web');

const common: BuildOptions = {
  platform: 'node',
  format: 'esm',
  target: 'node22',
  logLevel: 'error',
  absWorkingDir: ROOT,
};

const started = performance.now();
const graph = await build({
  ...common,
  entryPoints: ENTRIES,
  bundle: true,
  packages: 'external',
  outdir: OUT,
  write: false,
  metafile: true,
});
const sources = Object.keys(graph.metafile.inputs).filter((f) => f.endsWith('.ts') && !f.startsWith('node_modules/'));

const compiled = await build({
  ...common,
  entryPoints: sources,
  outbase: ROOT,
  outdir: OUT,
  sourcemap: 'linked',
  write: false,
});
const cni = await build({
  ...common,
  entryPoints: ['cmd/cilium-cni.ts'],
  bundle: true,
  outfile: join(OUT, CNI_BUNDLE),
  // CommonJS packages inside an ESM bundle call require(): give them one.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  write: false,
});

/** A binary's output: runnable as `./build/cmd/hubble.js` and as a package bin. */
const isBinary = (path: string) => dirname(path) === join(OUT, 'cmd') && path.endsWith('.js');

let written = 0;
function emit(f: OutputFile): void {
  const contents = isBinary(f.path) ? `#!/usr/bin/env node\n${f.text}` : f.text;
  const same = existsSync(f.path) && readFileSync(f.path, 'utf8') === contents;
  if (!same) {
    mkdirSync(dirname(f.path), { recursive: true });
    // Through a rename: a process starting meanwhile (another test run) never reads half a file.
    writeFileSync(`${f.path}.tmp-${process.pid}`, contents);
    renameSync(`${f.path}.tmp-${process.pid}`, f.path);
    written++;
  }
  if (isBinary(f.path)) chmodSync(f.path, 0o755);
}
// Split (the map's layout engine and the detail pane load after first paint) and content-hashed,
// so the server can let browsers cache them for good; index.html names this build's files.
const web = await build({
  entryPoints: { app: WEB_ENTRY },
  bundle: true,
  splitting: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  jsx: 'automatic',
  minify: true,
  sourcemap: 'linked',
  entryNames: '[name]-[hash]',
  chunkNames: '[name]-[hash]',
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'error',
  absWorkingDir: ROOT,
  outdir: WEB_OUT,
  write: false,
  metafile: true,
});
const webEntry = Object.entries(web.metafile.outputs).find(([, o]) => o.entryPoint === WEB_ENTRY)!;
const webName = (p: string | undefined) => relative(WEB_OUT, join(ROOT, p ?? ''));
const html = {
  path: join(WEB_OUT, 'index.html'),
  text: readFileSync(join(ROOT, 'hubble-ui/web/index.html'), 'utf8')
    .replaceAll('app.js', webName(webEntry[0]))
    .replaceAll('app.css', webName(webEntry[1].cssBundle))
    // the entry's own imports are fetched with it, not after it has been parsed
    .replace(
      '<!--hubble-ui:preload-->',
      webEntry[1].imports
        .filter((i) => i.kind === 'import-statement')
        .map((i) => `<link rel="modulepreload" href="${webName(i.path)}" />`)
        .join('\n    '),
    ),
};
const outputs = [...compiled.outputFiles, ...cni.outputFiles, ...web.outputFiles, html as OutputFile];
outputs.forEach(emit);

for (const asset of ASSETS) {
  const link = join(OUT, asset);
  const target = relative(dirname(link), join(ROOT, asset));
  if (lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) continue;
  rmSync(link, { recursive: true, force: true });
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(target, link);
}

// Outputs whose source is gone (a file renamed or split) would otherwise linger and mislead.
const keep = new Set(outputs.map((f) => f.path));
let removed = 0;
function prune(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) {
      prune(path);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
    } else if (/\.(m?js|map|css|html)$/.test(e.name) && !keep.has(path)) {
      rmSync(path);
      removed++;
    }
  }
}
prune(OUT);

if (!quiet)
  console.log(
    `[build] ${sources.length} files from ${ENTRIES.length} entry points → build/ (${written} written, ${removed} removed) in ${Math.round(performance.now() - started)} ms`,
  );
