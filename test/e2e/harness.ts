// Test harness for suites that need a devcluster: a fresh etcd + API server per suite (own
// directory and free ports), a real kubectl 1.32 bound to its kubeconfig with a private cache
// directory, and helpers that wait for output from long-running kubectl commands.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Devcluster, type DevclusterOptions } from '../../devcluster/cluster.js';
import { toolPath } from '../../hack/tools.js';

/** The project's one kubectl (1.32, extracted by hack/setup.sh); a clear error when it is missing. */
export const KUBECTL = toolPath('kubectl');

export async function startDevcluster(name: string, o: Partial<DevclusterOptions> = {}): Promise<Devcluster> {
  const dir = mkdtempSync(join(tmpdir(), `kts-${name}-`));
  return Devcluster.start({ dir, ...o });
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Kubectl {
  private readonly running = new Set<ChildProcess>();

  constructor(private readonly cluster: Devcluster) {}

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      KUBECONFIG: this.cluster.kubeconfig,
      KUBECACHEDIR: join(this.cluster.dir, 'kubecache'),
      HOME: this.cluster.dir,
    };
  }

  /** Runs kubectl to completion (asynchronously: the API server may live in this process). */
  run(args: string[], stdin?: string): Promise<KubectlResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(KUBECTL, args, { env: this.env(), stdio: ['pipe', 'pipe', 'pipe'] });
      this.running.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        this.running.delete(child);
        resolve({ code: code ?? -1, stdout, stderr });
      });
      child.stdin.end(stdin ?? '');
    });
  }

  /** Runs kubectl and fails with its stderr when it exits non-zero. */
  async ok(args: string[], stdin?: string): Promise<string> {
    const r = await this.run(args, stdin);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** Starts a long-running kubectl (e.g. `get -w`); stop it with stopAll or the handle. */
  start(args: string[]): {
    child: ChildProcess;
    output: () => string;
    waitFor: (re: RegExp, ms?: number) => Promise<void>;
  } {
    const child = spawn(KUBECTL, args, { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.running.add(child);
    child.on('close', () => this.running.delete(child));
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const waitFor = async (re: RegExp, ms = 20_000): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!re.test(out)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} in kubectl output:\n${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    return { child, output: () => out, waitFor };
  }

  stopAll(): void {
    for (const c of this.running) c.kill('SIGKILL');
    this.running.clear();
  }
}

/** Polls `fn` until it returns true (or throws after `ms`). */
export async function eventually(fn: () => Promise<boolean> | boolean, ms = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const CRD_DIR = fileURLToPath(new URL('../../crds/v2', import.meta.url));
