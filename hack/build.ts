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
//      and its node_modules (images/agent/install-cni.sh copies it there);
//   4. the binaries whose start-up time matters (BUNDLED) bundled whole over their step-2 output.
// Only files whose content changed are rewritten, and outputs of deleted sources are removed.
//   node hack/build.ts [--quiet]
import { createHash } from 'node:crypto';
import { build, type BuildOptions, type OutputFile, type Plugin } from 'esbuild';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';

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
  'devcluster/nodes/spawner.ts',
  'devcluster/nodes/outside-echo.ts',
  'devcluster/dns/main.ts',
  // a thread's entry, started by URL (proxy/http-workers.ts), so no import brings it in
  'proxy/http-worker.ts',
];
/**
 * Binaries whose start-up is on a critical path (an agent restart is the time its node gets no
 * policy, endpoint or ipcache update), bundled whole, node_modules included (`bundle` below):
 * Node then reads, resolves and compiles one file instead of ≈1,900 (1,700 of them
 * @kubernetes/client-node's), which took 2–3 s of CPU and 16 s wall on a busy node. The per-file
 * tree keeps their modules (tests and the other binaries import them). Packages that find files next
 * to their own code (`__dirname`, `__filename`: etcd3's protos, pino's workers, re2's wasm) stay
 * external and load from node_modules as before.
 */
const BUNDLED = ['cmd/cilium-agent.ts'];
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

/** CommonJS packages inside an ESM bundle call require(): give them one. */
const REQUIRE_BANNER = {
  js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
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
  banner: REQUIRE_BANNER,
  write: false,
});

/** Where a source's step-2 output is, e.g. `datapath/addon.ts` → build/datapath/addon.js. */
const compiledPath = (source: string) => join(OUT, relative(ROOT, source)).replace(/\.ts$/, '.js');

/**
 * In a bundle, `import.meta.url` would be the bundle's: each of our files gets its step-2 output's
 * URL instead, so that what it finds next to itself (datapath/build, hubble/proto, linked there by
 * ASSETS) is found. Any other `import.meta` property stops the build (nothing uses one yet).
 */
const importMetaOf = (bundleFile: string): Plugin => ({
  name: 'import-meta-url-of-the-source',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes('/node_modules/')) return undefined;
      const src = readFileSync(args.path, 'utf8');
      if (!src.includes('import.meta')) return undefined;
      const other = /import\.meta\.(?!url\b)\w+/.exec(src);
      if (other) throw new Error(`${relative(ROOT, args.path)}: ${other[0]} is not supported in a bundled binary`);
      const rel = relative(dirname(bundleFile), compiledPath(args.path));
      return {
        contents: src.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`),
        loader: 'ts',
      };
    });
  },
});

/** The packages of these node_modules inputs whose code names `__dirname` or `__filename`. */
function packagesFindingFiles(inputs: string[]): string[] {
  const names = new Set<string>();
  for (const f of inputs) {
    if (!f.startsWith('node_modules/') || !/\.[cm]?js$/.test(f)) continue;
    if (!/\b__(dirname|filename)\b/.test(readFileSync(join(ROOT, f), 'utf8'))) continue;
    const parts = f.split('/');
    names.add(parts[1]!.startsWith('@') ? `${parts[1]}/${parts[2]}` : parts[1]!);
  }
  return [...names];
}

/**
 * One BUNDLED binary: NAME.bundle.js, whitespace-minified (a third smaller to read and parse;
 * `node --enable-source-maps` maps stack traces back through its linked map) and pure ASCII (V8
 * reads a one-byte source much faster: µ in a regex made the whole file two-byte), and NAME.js, a
 * launcher that turns on Node's compile cache before loading it (V8's code for the bundle is read
 * from `$NODE_COMPILE_CACHE`, default os.tmpdir()/node-compile-cache, instead of compiled again;
 * where that directory is not writable Node quietly runs without it).
 */
async function bundle(entry: string): Promise<OutputFile[]> {
  const launcher = compiledPath(join(ROOT, entry));
  const outfile = launcher.replace(/\.js$/, '.bundle.js');
  const files = [outfile, `${outfile}.map`];
  const stampFile = outfile.replace(/\.js$/, '.inputs.json');
  const launcherFile = {
    path: launcher,
    text: `import { enableCompileCache } from 'node:module';\nenableCompileCache();\nawait import('./${basename(outfile)}');\n`,
  } as OutputFile;
  // Bundling costs more than the rest of the build: when none of its inputs changed, keep it.
  const last = existsSync(stampFile) ? (JSON.parse(readFileSync(stampFile, 'utf8')) as BundleStamp) : undefined;
  if (last && files.every((f) => existsSync(f)) && bundleStamp(last.inputs).stamp === last.stamp)
    return [...files.map((path) => ({ path, text: readFileSync(path, 'utf8') }) as OutputFile), launcherFile];
  const o: BuildOptions = {
    ...common,
    entryPoints: [entry],
    bundle: true,
    outfile,
    minifyWhitespace: true,
    legalComments: 'none',
    sourcemap: 'linked',
    plugins: [importMetaOf(outfile)],
    banner: REQUIRE_BANNER,
    metafile: true,
    write: false,
  };
  const probe = await build({ ...o, sourcemap: false });
  const out = await build({ ...o, external: packagesFindingFiles(Object.keys(probe.metafile!.inputs)) });
  const text = (f: OutputFile) =>
    f.path === outfile
      ? f.text.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
      : f.text;
  const stamp = bundleStamp(Object.keys(out.metafile!.inputs));
  return [
    ...out.outputFiles!.map((f) => ({ path: f.path, text: text(f) }) as OutputFile),
    launcherFile,
    { path: stampFile, text: JSON.stringify(stamp) } as OutputFile,
  ];
}

interface BundleStamp {
  inputs: string[];
  stamp: string;
}
/**
 * What a bundle was made of: its inputs' sizes and mtimes, this script and package-lock.json (npm
 * gives every installed file the same mtime: a changed dependency shows in the lock file).
 */
function bundleStamp(inputs: string[]): BundleStamp {
  const h = createHash('sha256');
  for (const f of ['hack/build.ts', 'package-lock.json', ...inputs]) {
    const st = statSync(join(ROOT, f), { throwIfNoEntry: false });
    h.update(`${f}\0${st?.size}\0${st?.mtimeMs}\n`);
  }
  return { inputs, stamp: h.digest('hex') };
}
const bundles = (await Promise.all(BUNDLED.map(bundle))).flat();
const bundled = new Set(bundles.map((f) => f.path));

/** A binary's output: runnable as `./build/cmd/hubble.js` and as a package bin. */
const isBinary = (path: string) =>
  dirname(path) === join(OUT, 'cmd') && path.endsWith('.js') && !path.endsWith('.bundle.js');

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
const outputs = [
  ...compiled.outputFiles.filter((f) => !bundled.has(f.path.replace(/\.map$/, ''))),
  ...bundles,
  ...cni.outputFiles,
  ...web.outputFiles,
  html as OutputFile,
];
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
