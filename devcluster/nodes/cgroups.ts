// Per-node cgroup v2 subtrees: one cluster runs one agent per node on one kernel, and each agent
// attaches its socket-LB programs at its own node's cgroup (its `cgroup-root`), so every process of
// a node's pods must live below that node's directory: `<cgroup2>/kts<run>/<node>/`. Created at
// `up`, removed at `down` (after the processes in them are gone).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

/** The cgroup v2 mount: /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones. */
export function cgroup2Mount(mounts = '/proc/mounts'): string | undefined {
  const found = readFileSync(mounts, 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup2')
    .map((f) => f[1]!);
  return found.includes('/sys/fs/cgroup') ? '/sys/fs/cgroup' : found[0];
}

export function runCgroup(runId: string, mount = cgroup2Mount()): string | undefined {
  return mount ? join(mount, `kts${runId}`) : undefined;
}

/** `<cgroup2>/kts<run>/<node>`: the node agent's cgroup-root; undefined without cgroup v2. */
export function nodeCgroup(runId: string, node: string, mount = cgroup2Mount()): string | undefined {
  const run = runCgroup(runId, mount);
  return run ? join(run, node) : undefined;
}

export function createNodeCgroups(runId: string, nodes: readonly string[]): void {
  for (const n of nodes) {
    const dir = nodeCgroup(runId, n);
    if (dir) mkdirSync(dir, { recursive: true });
  }
}

/**
 * argv that first moves the process into `cgroup` and then execs `argv`, so not one syscall of the
 * command runs outside it (writing the pid after spawn would race the command's first connect).
 * Without the cgroup directory, argv as it is.
 */
export function inCgroup(cgroup: string | undefined, argv: readonly string[]): [string, string[]] {
  if (!cgroup || !existsSync(cgroup)) return [argv[0]!, argv.slice(1)];
  return ['sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...argv]];
}

/** Removes the run's cgroups, deepest first; a cgroup with processes left is reported, not forced. */
export function removeRunCgroups(runId: string): string[] {
  const run = runCgroup(runId);
  const left: string[] = [];
  if (!run || !existsSync(run)) return left;
  const remove = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) remove(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch {
      left.push(dir);
    }
  };
  remove(run);
  return left;
}
