// images/: every file a Dockerfile copies exists after the build (context files in the repository,
// build-stage files where `hack/setup.sh` — the same npm ci + make + npm run build the build stage
// runs — puts them), every command the manifests run is in its image and runs compiled JavaScript,
// and the agent's install-cni script really installs a runnable plugin and its conflist.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDockerfile } from '../../hack/dockerfile.js';
import { parseManifests } from './kube-schema.js';
import { REPO } from './tools.js';

/** Whether a context path is excluded by the (simple) .dockerignore patterns used here. */
function ignored(path: string, patterns: string[]): boolean {
  const parts = path.replace(/\/$/, '').split('/');
  return patterns.some((p) =>
    p.startsWith('**/') ? parts.includes(p.slice(3)) : path === p || path.startsWith(`${p}/`),
  );
}

const IMAGES = ['agent', 'operator', 'relay'];
const dockerfile = (image: string) => parseDockerfile(readFileSync(join(REPO, 'images', image, 'Dockerfile'), 'utf8'));

describe('Dockerfiles', () => {
  it.each(IMAGES)('%s: every COPY source exists after the build', (image) => {
    const stages = dockerfile(image);
    const ignore = readFileSync(join(REPO, 'images', image, 'Dockerfile.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const checked: string[] = [];
    for (const stage of stages) {
      for (const copy of stage.copies) {
        for (const src of copy.sources) {
          if (copy.from === undefined) {
            // From the build context (the repository root), and not dropped by the .dockerignore.
            const rel = src === '.' || src === './' ? '' : src.replace(/^\.\//, '');
            expect({ src, exists: existsSync(join(REPO, rel)), ignored: rel !== '' && ignored(rel, ignore) }).toEqual({
              src,
              exists: true,
              ignored: false,
            });
          } else {
            // From the build stage: its WORKDIR /src is the repository after npm ci and the build.
            const producer = stages.find((s) => s.name === copy.from);
            expect({ src, stage: producer?.name }).toEqual({ src, stage: copy.from });
            expect(src.startsWith('/src/')).toBe(true);
            expect({ src, exists: existsSync(join(REPO, src.slice('/src/'.length))) }).toEqual({ src, exists: true });
          }
          checked.push(src);
        }
      }
    }
    expect(checked.length).toBeGreaterThanOrEqual(4);
  });

  it('the agent image builds the datapath and ships both of its artifacts', () => {
    const [build, runtime] = dockerfile('agent');
    expect(build!.runs.some((r) => r.includes('make -s -C datapath'))).toBe(true);
    const shipped = runtime!.copies.flatMap((c) => c.sources);
    expect(shipped).toEqual(
      expect.arrayContaining(['/src/datapath/build/lxc.bpf.o', '/src/datapath/build/ebpf_loader.node']),
    );
    // The addon links libbpf dynamically: the runtime stage must install the library.
    expect(runtime!.runs.some((r) => /\blibbpf1\b/.test(r))).toBe(true);
  });

  it.each(IMAGES)(
    '%s: the build stage compiles the binaries and the image runs them without a TypeScript loader',
    (image) => {
      const [build, runtime] = dockerfile(image);
      expect(build!.runs.some((r) => r.includes('npm run build'))).toBe(true);
      const wrapper = readFileSync(join(REPO, 'images', 'bin', 'cmd-wrapper.sh'), 'utf8');
      expect(wrapper).toContain('exec node "/app/build/cmd/${name}.js" "$@"');
      expect(wrapper).not.toMatch(/tsx|\.ts\b/);
      // Every name the image links to the wrapper has its compiled entry after the build.
      const names = runtime!.runs.flatMap((r) => [
        ...[...r.matchAll(/for b in ([^;]+); do ln -s cmd-wrapper/g)].flatMap((m) => m[1]!.trim().split(/\s+/)),
        ...[...r.matchAll(/ln -s cmd-wrapper \/usr\/local\/bin\/(\S+)/g)].map((m) => m[1]!),
      ]);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names)
        expect({ name, compiled: existsSync(join(REPO, 'build', 'cmd', `${name}.js`)) }).toEqual({
          name,
          compiled: true,
        });
    },
  );

  it('every command the manifests run exists in its image', () => {
    const provided = (image: string): Set<string> => {
      const runtime = dockerfile(image).at(-1)!;
      const names = new Set(runtime.copies.map((c) => c.dest.split('/').pop()!).filter(Boolean));
      for (const r of runtime.runs) {
        for (const m of r.matchAll(/for b in ([^;]+); do ln -s cmd-wrapper/g))
          m[1]!
            .trim()
            .split(/\s+/)
            .forEach((n) => names.add(n));
        for (const m of r.matchAll(/ln -s cmd-wrapper \/usr\/local\/bin\/(\S+)/g)) names.add(m[1]!);
      }
      return names;
    };
    const objects = parseManifests(readFileSync(join(REPO, 'dist', 'install.yaml'), 'utf8'));
    const imageOf: Record<string, string> = {
      'ghcr.io/cilium-ts/cilium': 'agent',
      'ghcr.io/cilium-ts/operator': 'operator',
      'ghcr.io/cilium-ts/hubble-relay': 'relay',
      'ghcr.io/cilium-ts/hubble-ui': 'hubble-ui',
    };
    let commands = 0;
    for (const o of objects) {
      const spec = (
        o.spec as
          | {
              template?: {
                spec: {
                  containers: { image: string; command?: string[] }[];
                  initContainers?: { image: string; command?: string[] }[];
                };
              };
            }
          | undefined
      )?.template?.spec;
      for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) {
        const image = imageOf[c.image.split(':')[0]!]!;
        const cmd = c.command![0]!.split('/').pop()!;
        expect({ image, cmd, provided: provided(image).has(cmd) }).toEqual({ image, cmd, provided: true });
        commands++;
      }
    }
    expect(commands).toBe(8); // agent, its three init containers, operator, relay, hubble-ui, cilium-l7proxy
  });
});

describe('images/agent/install-cni.sh', () => {
  let dir: string;
  // A stand-in plugin bundled the way hack/build.ts bundles the real one (install-cni.sh only copies).
  const fixtureDir = mkdtempSync(join(tmpdir(), 'cilium-ts-cni-fixture-'));
  const FIXTURE = join(fixtureDir, 'cni-version.mjs');
  beforeAll(async () => {
    await build({
      entryPoints: [join(REPO, 'test', 'install', 'fixtures', 'cni-version.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: FIXTURE,
      logLevel: 'error',
    });
  });
  afterAll(() => rmSync(fixtureDir, { recursive: true, force: true }));
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cilium-ts-install-cni-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const install = (exclusive: string, runtimeDir?: string, bundle: string | undefined = FIXTURE) =>
    spawnSync('sh', [join(REPO, 'images', 'agent', 'install-cni.sh')], {
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        CNI_BIN_DIR: join(dir, 'bin'),
        CNI_CONF_DIR: join(dir, 'net.d'),
        CNI_EXCLUSIVE: exclusive,
        APP_DIR: REPO,
        NODE_BIN: process.execPath,
        // this machine is the host (the host check finds node's loader here)
        HOST_ROOT: '/',
        ...(bundle ? { CNI_BUNDLE: bundle } : {}),
        ...(runtimeDir ? { CNI_RUNTIME_DIR: runtimeDir } : {}),
      },
    });

  it('installs a runnable plugin and the conflist, and moves other configurations aside', () => {
    rmSync(join(dir, 'net.d'), { recursive: true, force: true });
    spawnSync('mkdir', ['-p', join(dir, 'net.d')]);
    writeFileSync(join(dir, 'net.d', '10-bridge.conflist'), '{"cniVersion":"1.0.0","name":"bridge","plugins":[]}');
    const r = install('true');
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });

    const plugin = join(dir, 'bin', 'cilium-cni');
    expect(statSync(plugin).mode & 0o111).not.toBe(0);
    const run = spawnSync(plugin, [], { encoding: 'utf8', env: { CNI_COMMAND: 'VERSION' }, timeout: 30_000 });
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });

    expect(readdirSync(join(dir, 'net.d')).sort()).toEqual(['05-cilium.conflist', '10-bridge.conflist.cilium_bak']);
    const conf = JSON.parse(readFileSync(join(dir, 'net.d', '05-cilium.conflist'), 'utf8')) as {
      cniVersion: string;
      name: string;
      plugins: { type: string }[];
    };
    expect(conf).toMatchObject({ cniVersion: '1.0.0', name: 'cilium', plugins: [{ type: 'cilium-cni' }] });
    // No temp files left behind in the host directories.
    expect(readdirSync(join(dir, 'bin')).sort()).toEqual(['cilium-cni', 'cilium-cni.d']);
  });

  it('leaves other configurations alone when not exclusive, and is idempotent', () => {
    spawnSync('mkdir', ['-p', join(dir, 'net.d')]);
    writeFileSync(join(dir, 'net.d', '10-bridge.conflist'), '{}');
    expect(install('false').status).toBe(0);
    expect(install('false').status).toBe(0);
    expect(readdirSync(join(dir, 'net.d')).sort()).toEqual(['05-cilium.conflist', '10-bridge.conflist']);
  });

  it('the wrapper calls the plugin where the host sees it (CNI_RUNTIME_DIR), not where the init container wrote it', () => {
    expect(install('true', '/opt/cni/bin').status).toBe(0);
    const wrapper = readFileSync(join(dir, 'bin', 'cilium-cni'), 'utf8');
    expect(wrapper).toContain('exec "/opt/cni/bin/cilium-cni.d/node" "/opt/cni/bin/cilium-cni.d/cilium-cni.mjs" "$@"');
    expect(wrapper).not.toContain(dir);
  });

  it('installs the real plugin (build/bundle/cilium-cni.mjs, the default bundle), which answers VERSION', () => {
    const r = install('true', undefined, undefined);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    const run = spawnSync(join(dir, 'bin', 'cilium-cni'), [], {
      encoding: 'utf8',
      input: '{"cniVersion":"1.0.0","name":"cilium","type":"cilium-cni"}',
      env: { CNI_COMMAND: 'VERSION' },
      timeout: 30_000,
    });
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout) as { cniVersion: string; supportedVersions: string[] };
    expect(out.supportedVersions).toEqual(expect.arrayContaining(['0.4.0', '1.0.0', '1.1.0']));
  });

  it('fails clearly without its directories', () => {
    const r = spawnSync('sh', [join(REPO, 'images', 'agent', 'install-cni.sh')], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/CNI_BIN_DIR is required/);
  });

  it('fails clearly without the bundle, before touching the host directories', () => {
    const r = install('true', undefined, join(dir, 'missing.mjs'));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/missing\.mjs does not exist \(run npm run build\)/);
    expect(existsSync(join(dir, 'bin'))).toBe(false);
  });
});
