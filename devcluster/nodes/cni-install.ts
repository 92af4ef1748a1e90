// Installs cilium-cni for a test, or for a devcluster's nodes without agent pods, exactly as the
// agent's init container does on a real node: images/agent/install-cni.sh copies the plugin `npm
// run build` bundled into one ESM file next to a copy of the pinned node binary and writes the
// conflist. (With agents, the agent pod's install-cni init container runs the same script.)
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
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

/**
 * Runs install-cni.sh into `<dir>/bin` and `<dir>/net.d` (two copies: the bundle and node), or
 * into a node's own directories: `binDir`, `confDir`, and `runtimeDir` where the plugin's wrapper
 * finds the bundle when it runs (a node's /opt/cni/bin in its own view).
 */
export function installCni(
  dir: string,
  o: { binDir?: string; confDir?: string; runtimeDir?: string } = {},
): CniInstall {
  const binDir = o.binDir ?? join(dir, 'bin');
  const confDir = o.confDir ?? join(dir, 'net.d');
  mkdirSync(binDir, { recursive: true });
  execFileSync('sh', [join(REPO_ROOT, 'images', 'agent', 'install-cni.sh')], {
    env: {
      ...process.env,
      APP_DIR: REPO_ROOT,
      NODE_BIN: PINNED_NODE,
      CNI_BIN_DIR: binDir,
      CNI_CONF_DIR: confDir,
      // the plugin runs on this very host: its check of the node binary looks at this root
      HOST_ROOT: '/',
      ...(o.runtimeDir ? { CNI_RUNTIME_DIR: o.runtimeDir } : {}),
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
