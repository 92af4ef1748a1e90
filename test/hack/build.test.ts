// The compiled binaries (`npm run build`, hack/build.ts): what package.json `bin` points to, what
// runs from the compiled tree (its own paths and packages), the one-file CNI plugin, and the CLIs
// answering --help through npx from the checkout, as a user runs them after `npm test`.
import { describe, expect, it } from '@jest/globals';
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BUILD_DIR, binaryEntry, PACKAGE_ROOT, PINNED_NODE } from '../../cdk8s/process-launch.js';

const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  dependencies: Record<string, string>;
};
const BINARIES = [
  'cilium',
  'cilium-dbg',
  'hubble',
  'hubble-relay',
  'hubble-ui',
  'cilium-agent',
  'cilium-operator',
  'cilium-cni',
  'cilium-l7proxy',
];
const sources = readdirSync(join(PACKAGE_ROOT, 'cmd')).filter((f) => f.endsWith('.ts'));

/** Every compiled JavaScript file under build/ (not following the asset links). */
function compiledFiles(dir = BUILD_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? compiledFiles(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : [],
  );
}

describe('package.json bin', () => {
  it('names every binary, one per cmd/*.ts, each the compiled entry', () => {
    expect(Object.keys(pkg.bin).sort()).toEqual([...BINARIES].sort());
    expect(sources.map((f) => f.replace(/\.ts$/, '')).sort()).toEqual([...BINARIES].sort());
    for (const name of BINARIES) expect(join(PACKAGE_ROOT, pkg.bin[name]!)).toBe(binaryEntry(name as never));
  });

  it.each(BINARIES)('%s: built, executable, with a node shebang', (name) => {
    const file = binaryEntry(name as never);
    expect(readFileSync(file, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    expect(statSync(file).mode & 0o111).not.toBe(0);
  });
});

describe('the compiled tree', () => {
  it('finds every path it resolves next to itself (import.meta.url) inside build/', () => {
    const resolved: string[] = [];
    for (const file of compiledFiles()) {
      for (const m of readFileSync(file, 'utf8').matchAll(
        /new URL\(\s*["'](\.{1,2}\/[^"']*)["'],\s*import\.meta\.url\s*\)/g,
      )) {
        const target = join(dirname(file), m[1]!);
        expect({ file, target, exists: existsSync(target) }).toEqual({ file, target, exists: true });
        resolved.push(target);
      }
    }
    // The two assets today: the Hubble protos and the datapath's BPF object and addon.
    expect(resolved.some((t) => t.includes(join('hubble', 'proto')))).toBe(true);
    expect(resolved.some((t) => t.endsWith(join('datapath', 'build')) || t.endsWith(join('datapath', 'build/')))).toBe(
      true,
    );
  });

  it('imports only production dependencies (the images prune the dev ones)', async () => {
    const r = await build({
      entryPoints: sources.map((f) => join(PACKAGE_ROOT, 'cmd', f)),
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      write: false,
      metafile: true,
      outdir: join(tmpdir(), 'unused'),
      logLevel: 'error',
    });
    const packages = new Set(
      Object.values(r.metafile.inputs)
        .flatMap((i) => i.imports)
        .filter((i) => i.external && !i.path.startsWith('node:'))
        .map((i) =>
          i.path
            .split('/')
            .slice(0, i.path.startsWith('@') ? 2 : 1)
            .join('/'),
        ),
    );
    expect(packages.size).toBeGreaterThan(0);
    expect([...packages].filter((p) => !(p in pkg.dependencies))).toEqual([]);
  });

  it('is rebuilt incrementally: a second build writes nothing and removes outputs whose source is gone', () => {
    const stale = join(BUILD_DIR, 'cmd', 'cilium', 'no-such-source.js');
    copyFileSync(binaryEntry('cilium'), stale);
    const r = spawnSync(PINNED_NODE, [join(PACKAGE_ROOT, 'hack', 'build.ts')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\(0 written, 1 removed\)/);
    expect(existsSync(stale)).toBe(false);
  });
});

describe('the CNI plugin bundle', () => {
  it('runs on its own, away from the checkout and its node_modules', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cilium-ts-cni-bundle-'));
    try {
      copyFileSync(join(BUILD_DIR, 'bundle', 'cilium-cni.mjs'), join(dir, 'cilium-cni.mjs'));
      const r = spawnSync(PINNED_NODE, [join(dir, 'cilium-cni.mjs')], {
        cwd: dir,
        encoding: 'utf8',
        input: '{"cniVersion":"1.0.0","name":"cilium","type":"cilium-cni"}',
        env: { CNI_COMMAND: 'VERSION' },
        timeout: 30_000,
      });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
      expect((JSON.parse(r.stdout) as { supportedVersions: string[] }).supportedVersions).toEqual(
        expect.arrayContaining(['0.4.0', '1.0.0', '1.1.0']),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the bundled agent (build/cmd/cilium-agent.js)', () => {
  const bundle = binaryEntry('cilium-agent').replace(/\.js$/, '.bundle.js');

  it('is one pure-ASCII file (V8 reads a one-byte source fast) behind a launcher that imports it', () => {
    expect(readFileSync(binaryEntry('cilium-agent'), 'utf8')).toContain("await import('./cilium-agent.bundle.js')");
    const text = readFileSync(bundle, 'utf8');
    expect(text.match(/[^\0-\x7f]/g) ?? []).toEqual([]);
    // our modules are inside, not imported from the per-file tree
    expect(text).not.toMatch(/from ["']\.\.?\//);
  });

  it('loads whole and stops on a bad configuration value, naming the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cilium-ts-agent-bundle-'));
    try {
      writeFileSync(join(dir, 'routing-mode'), 'bogus');
      const r = spawnSync(PINNED_NODE, [binaryEntry('cilium-agent'), `--config-dir=${dir}`], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect({ status: r.status, stderr: r.stderr }).toEqual({
        status: 1,
        stderr: expect.stringMatching(/^cilium-agent: invalid configuration: .*routing-mode/),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('npx from the checkout', () => {
  it.each([
    ['cilium-dbg', /^usage: cilium-dbg status/],
    ['hubble', /^Usage: hubble <command>/],
    ['cilium', /^usage: cilium <command>/],
  ])(
    'npx %s --help prints the usage and exits 0',
    (name, usage) => {
      const r = spawnSync('npx', ['--yes', name, '--help'], { cwd: PACKAGE_ROOT, encoding: 'utf8', timeout: 60_000 });
      expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 0, stdout: expect.stringMatching(usage) });
    },
    60_000,
  );

  it('npx cilium status without any kubeconfig says what is missing', () => {
    const home = mkdtempSync(join(tmpdir(), 'cilium-ts-home-'));
    try {
      // npx's cache stays where it is: only the kubeconfig lookup ($HOME/.kube/config) must find nothing.
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, npm_config_cache: join(homedir(), '.npm') };
      delete env.KUBECONFIG;
      delete env.KUBERNETES_SERVICE_HOST;
      const r = spawnSync('npx', ['--yes', 'cilium', 'status'], {
        cwd: PACKAGE_ROOT,
        env,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('cilium: no kubeconfig: set KUBECONFIG or pass --kubeconfig');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 60_000);
});
