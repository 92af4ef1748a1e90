// One short command run to its end, with its output collected: what the nodes daemon runs per pod
// start and stop (`ip netns add/del`, each CNI plugin call). Both the daemon's spawner helper
// (spawner.ts) and a caller without one run it through runOneShot, so the two behave alike. This
// module imports nothing but node:child_process: the spawner stays a small process to fork.
import { spawn, type ChildProcess } from 'node:child_process';

export interface OneShotRequest {
  file: string;
  args: string[];
  /** The whole environment of the command (as spawn's `env`); absent: the runner's own. */
  env?: Record<string, string | undefined>;
  /** Written to the command's stdin, which is then closed; absent: stdin is closed at once. */
  stdin?: string;
  /** SIGTERM after this long (spawn's `timeout`); absent: no limit. */
  timeoutMs?: number;
}

export interface OneShotReply {
  /** The exit code; null when a signal ended the command. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** The synchronous spawn call (fork and exec in the runner's process). */
  spawnMs: number;
  /** Spawn call to the command's exit, and to its output closing (the reply). */
  exitMs: number;
  ms: number;
  /** The command could not be started (ENOENT, EACCES): the spawn error's message. */
  error?: string;
}

/** Runs one command; never rejects (a failure to start is `error`). */
export type OneShot = (req: OneShotRequest) => Promise<OneShotReply>;

/** Runs the command from this process; `onChild` sees the process while it runs. */
export const runOneShot = (req: OneShotRequest, onChild?: (child: ChildProcess) => void): Promise<OneShotReply> =>
  new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(req.file, req.args, {
      ...(req.env ? { env: req.env } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(req.timeoutMs ? { timeout: req.timeoutMs } : {}),
    });
    const spawnMs = performance.now() - started;
    onChild?.(child);
    let exitMs = 0;
    let stdout = '';
    let stderr = '';
    let error: string | undefined;
    child.on('exit', () => (exitMs = performance.now() - started));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => (error ??= e.message));
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout,
        stderr,
        spawnMs,
        exitMs: exitMs || performance.now() - started,
        ms: performance.now() - started,
        ...(error !== undefined ? { error } : {}),
      }),
    );
    child.stdin.on('error', () => undefined); // a command may exit before reading its stdin
    child.stdin.end(req.stdin ?? '');
  });
