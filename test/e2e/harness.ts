// Test harness for suites that need a devcluster: a fresh etcd + API server per suite (own
// directory and free ports), a real kubectl 1.32 bound to its kubeconfig with a private cache
// directory, and helpers that wait for output from long-running kubectl commands.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeClient } from '../../controllers/framework/index.js';
import {
  Devcluster,
  downDetached,
  upDetached,
  type DetachedOptions,
  type DetachedState,
  type DevclusterOptions,
} from '../../devcluster/cluster.js';
import type { NodesState } from '../../devcluster/nodes/layout.js';
import { downNodes, upNodes, type UpNodesOptions } from '../../devcluster/nodes/nodes.js';
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

  constructor(private readonly cluster: Pick<Devcluster, 'kubeconfig' | 'dir'>) {}

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
      // A kubectl that exits before reading its stdin (all but `-f -`) closes the pipe under our write:
      // EPIPE, which would be thrown in this process. Its exit code and stderr say how it went.
      child.stdin.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EPIPE') reject(e);
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

/**
 * The devcluster as `npm run devcluster -- up` makes it, for one e2e suite: the API server in its
 * own process, simulated nodes, and cilium-ts running as the pods of its install. `down()` works
 * from the directory alone, so an `afterAll` cleans up after an `up()` that failed halfway.
 */
export class SelfHostedCluster {
  private running?: { client: KubeClient; kubectl: Kubectl };

  constructor(readonly dir: string) {}

  get kubeconfig(): string {
    return join(this.dir, 'kubeconfig');
  }

  async up(
    nodes: UpNodesOptions = { nodes: 2 },
    api: Omit<DetachedOptions, 'dir'> = {},
  ): Promise<{ api: DetachedState; state: NodesState; client: KubeClient; kubectl: Kubectl }> {
    const apiState = await upDetached({ port: 0, ...api, dir: this.dir });
    const state = await upNodes(this.dir, nodes);
    this.running = {
      client: KubeClient.fromFile(this.kubeconfig),
      kubectl: new Kubectl({ kubeconfig: this.kubeconfig, dir: this.dir }),
    };
    return { api: apiState, state, ...this.running };
  }

  /** Stops kubectl watchers, the client, the nodes and the API server; never throws. */
  async down(): Promise<void> {
    this.running?.kubectl.stopAll();
    this.running?.client.close();
    await downNodes(this.dir).catch(() => undefined);
    await downDetached(this.dir).catch(() => undefined);
  }
}
