// `cni-exclusive`: only Cilium's configuration stays active in the CNI configuration directory.
// Another plugin's configuration would win (a lower name sorts first) or race with ours, so it is
// renamed to `<name>.cilium_bak` (kept, so an uninstall can restore it), at start-up and whenever
// the directory changes, as upstream's agent does. images/agent/install-cni.sh does the same once,
// before the agent starts.
import { existsSync, readdirSync, renameSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

/** The conflist the install-cni init container writes. */
export const CILIUM_CONFLIST = '05-cilium.conflist';

/** Renames every other CNI configuration in `dir` to `*.cilium_bak`; returns the renamed names. */
export function moveOtherCniConfigs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const moved: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === CILIUM_CONFLIST || !/\.(conf|conflist|json)$/.test(name)) continue;
    const path = join(dir, name);
    try {
      if (!statSync(path).isFile()) continue;
      renameSync(path, `${path}.cilium_bak`);
      moved.push(name);
    } catch (e) {
      // gone meanwhile: nothing to move
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return moved;
}

/** Keeps `dir` exclusive while running. */
export class CniExclusiveGuard {
  private watcher?: FSWatcher;
  private pending?: NodeJS.Timeout;

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** Moves the others aside now, then on every change of the directory (debounced). */
  start(): void {
    if (!existsSync(this.dir)) {
      this.log.warn(
        { dir: this.dir },
        'cni-exclusive: the CNI configuration directory does not exist; nothing to keep exclusive',
      );
      return;
    }
    this.sweep();
    this.watcher = watch(this.dir, () => {
      clearTimeout(this.pending);
      this.pending = setTimeout(() => this.sweep(), 100).unref();
    });
    this.watcher.on('error', (e) =>
      this.log.warn(
        { dir: this.dir, err: e.message },
        'cni-exclusive: watching the CNI configuration directory failed',
      ),
    );
  }

  sweep(): void {
    try {
      const moved = moveOtherCniConfigs(this.dir);
      if (moved.length)
        this.log.info({ dir: this.dir, moved }, 'cni-exclusive: renamed other CNI configurations to *.cilium_bak');
    } catch (e) {
      this.log.warn(
        { dir: this.dir, err: (e as Error).message },
        'cni-exclusive: renaming other CNI configurations failed',
      );
    }
  }

  stop(): void {
    clearTimeout(this.pending);
    this.watcher?.close();
    this.watcher = undefined;
  }
}
