// The nodes daemon's side of its spawner (spawner.ts): one helper process, started on first use
// and again after it died, that runs one-shot commands for the daemon so that their forks copy
// the helper, not the daemon, and happen off the daemon's event loop.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { compiledEntry, PACKAGE_ROOT, PINNED_NODE } from '../../cdk8s/process-launch.js';
import type { OneShotReply, OneShotRequest } from './one-shot.js';
import { NodesError, NodesErrorCode } from './errors.js';

export const SPAWNER_ENTRY = compiledEntry('devcluster/nodes/spawner.ts');

interface Pending {
  resolve: (r: OneShotReply) => void;
  reject: (e: Error) => void;
}

export class Spawner {
  private child?: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly entry: string = SPAWNER_ENTRY) {}

  /** The helper's pid while it runs (for tests and `down`'s process list). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Runs one command through the helper; resolves as runOneShot does, rejects when the helper dies. */
  readonly run = (req: OneShotRequest): Promise<OneShotReply> => {
    if (this.closed) return Promise.reject(new NodesError(NodesErrorCode.Spawner, 'the spawner is closed'));
    const child = this.child ?? this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      child.stdin!.write(`${JSON.stringify({ id, ...req })}\n`);
    });
  };

  /** Ends the helper (it stops what still runs); later calls reject. */
  close(): void {
    this.closed = true;
    this.child?.stdin?.end();
  }

  private start(): ChildProcess {
    // Only the helper's own file: no environment or open descriptors of ours beyond its pipes.
    const child = spawn(PINNED_NODE, [this.entry], {
      cwd: PACKAGE_ROOT,
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.child = child;
    child.stdin.on('error', () => undefined); // it died: 'exit' rejects what was pending
    createInterface({ input: child.stdout }).on('line', (line) => {
      let r: OneShotReply & { id: number };
      try {
        r = JSON.parse(line) as OneShotReply & { id: number };
      } catch {
        return;
      }
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      const { id: _id, ...reply } = r;
      p.resolve(reply);
    });
    const died = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      const lost = [...this.pending.values()];
      this.pending.clear();
      for (const p of lost) p.reject(new NodesError(NodesErrorCode.Spawner, `the spawner ${why}`));
    };
    child.on('error', (e) => died(`could not start: ${e.message}`));
    child.on('exit', (code, signal) => died(`exited (${code ?? signal}) with commands running`));
    // the helper must not keep a test's process alive by itself
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    return child;
  }
}
