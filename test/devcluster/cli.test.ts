// The devcluster CLI contract: `up` returns once the server is ready and writes the kubeconfig,
// `status` reports it, `down` stops every process it started and removes what it made.
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledEntry } from '../../cdk8s/process-launch.js';
import { alive, downDetached, readState } from '../../devcluster/cluster.js';
import { KUBECTL } from '../e2e/harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const base = mkdtempSync(join(tmpdir(), 'kts-cli-'));
const dir = join(base, 'devcluster');

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

// What `npm run devcluster` runs: the compiled CLI on the pinned Node.
const cli = (...args: string[]): Promise<{ code: number; out: string }> =>
  run(join(ROOT, 'node_modules', '.bin', 'node'), [compiledEntry('devcluster/cli.ts'), ...args, '--dir', dir]);

afterAll(async () => {
  // On failure too: stop whatever `up` left running.
  await downDetached(dir);
  rmSync(base, { recursive: true, force: true });
});

describe('npm run devcluster -- up|status|down', () => {
  it('brings a cluster up that kubectl can use, reports it, and takes it down completely', async () => {
    const up = await cli('up', '--port', '0');
    // Progress as it goes, then what to run next.
    expect(up.out).toMatch(/etcd: https:\/\/127\.0\.0\.1:\d+ \(pid \d+/);
    expect(up.out).toMatch(/API server: https:\/\/127\.0\.0\.1:\d+ \(pid \d+/);
    expect(up.out).toContain(`devcluster is up. Next:\n  export KUBECONFIG=${join(dir, 'kubeconfig')}`);
    expect(up.code).toBe(0);
    const st = readState(dir);
    expect(st).toBeDefined();
    expect(up.out).toContain(`API server: ${st?.url} (pid ${st?.apiserverPid}`);
    expect(alive(st?.apiserverPid ?? 0)).toBe(true);
    expect(alive(st?.etcdPid ?? 0)).toBe(true);
    expect(readFileSync(join(dir, 'kubeconfig'), 'utf8')).toContain(`server: ${st?.url}`);

    const ns = await run(KUBECTL, ['get', 'namespaces', '-o', 'name'], {
      ...process.env,
      KUBECONFIG: join(dir, 'kubeconfig'),
      KUBECACHEDIR: join(base, 'cache'),
    });
    expect(ns.out).toContain('namespace/default');
    expect(ns.out).toContain('namespace/kube-system');

    const status = await cli('status');
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/apiserver https:\/\/127\.0\.0\.1:\d+: ready/);

    const down = await cli('down');
    expect(down.code).toBe(0);
    expect(alive(st?.apiserverPid ?? 0)).toBe(false);
    expect(alive(st?.etcdPid ?? 0)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect((await cli('status')).code).toBe(1);
  }, 90_000);
});
