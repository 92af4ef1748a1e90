// Installs cilium-cni for a devcluster (or a test) exactly as the agent's init container does on a
// real node: images/agent/install-cni.sh copies the plugin `npm run build` bundled into one ESM file
// next to a copy of the pinned node binary and writes the conflist. Per-node conflists then add
// what differs between simulated nodes (the agent's socket, the log file).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT, PINNED_NODE } from '../../cdk8s/process-launch.js';

export const REPO_ROOT = PACKAGE_ROOT;
export const CONFLIST_NAME = '05-cilium.conflist';

export interface CniInstall {
  /** CNI_PATH: the directory holding the `cilium-cni` executable. */
  binDir: string;
  /** The conflist install-cni.sh wrote (the template of the per-node ones). */
  conflist: Conflist;
}

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

/** Runs install-cni.sh into `<dir>/bin` and `<dir>/net.d` (two copies: the bundle and node). */
export function installCni(dir: string): CniInstall {
  const binDir = join(dir, 'bin');
  const confDir = join(dir, 'net.d');
  mkdirSync(binDir, { recursive: true });
  execFileSync('sh', [join(REPO_ROOT, 'images', 'agent', 'install-cni.sh')], {
    env: {
      ...process.env,
      APP_DIR: REPO_ROOT,
      NODE_BIN: PINNED_NODE,
      CNI_BIN_DIR: binDir,
      CNI_CONF_DIR: confDir,
      // Never move aside other configurations: this directory is ours alone anyway.
      CNI_EXCLUSIVE: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { binDir, conflist: readConflist(join(confDir, CONFLIST_NAME)) };
}

export function readConflist(path: string): Conflist {
  return JSON.parse(readFileSync(path, 'utf8')) as Conflist;
}

/** A node's conflist: the installed one with this node's agent socket and log file. */
export function writeNodeConflist(
  install: CniInstall,
  confDir: string,
  o: { socketPath: string; logFile: string },
): string {
  mkdirSync(confDir, { recursive: true });
  const list: Conflist = {
    ...install.conflist,
    plugins: install.conflist.plugins.map((p) =>
      p.type === 'cilium-cni' ? { ...p, 'socket-path': o.socketPath, 'log-file': o.logFile } : p,
    ),
  };
  const path = join(confDir, CONFLIST_NAME);
  writeFileSync(path, JSON.stringify(list, null, 2) + '\n');
  return path;
}
