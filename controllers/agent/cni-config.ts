// The node's CNI configuration as the agent owns it (upstream's `write-cni-conf-when-ready`): the
// agent writes 05-cilium.conflist once it is ready, so that the container runtime hands the node
// no pod before the agent can wire it (until then the node reports NetworkNotReady and pods wait,
// instead of failing with "agent unreachable"). With `cni-uninstall` the agent removes it again on
// shutdown and restores the configurations `cni-exclusive` renamed to `*.cilium_bak`, so that an
// uninstalled node is left as it was found.
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** What the plugin's entry in the conflist carries. */
export interface CniConfOptions {
  /** MTU of the pods' veths: the node device's, so that pod traffic is never fragmented or dropped. */
  mtu: number;
  /** Where cilium-cni logs one line per call (the agent's /var/run/cilium, on the host). */
  logFile: string;
  debug: boolean;
}

export const CNI_CONF_DEFAULTS: CniConfOptions = {
  mtu: 1500,
  logFile: '/var/run/cilium/cilium-cni.log',
  debug: false,
};

/** The conflist text (CNI spec 1.0.0; the plugin type is the binary install-cni put in /opt/cni/bin). */
export function cniConflist(o: Partial<CniConfOptions> = {}): string {
  const c = { ...CNI_CONF_DEFAULTS, ...o };
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'cilium',
      plugins: [{ type: 'cilium-cni', mtu: c.mtu, 'enable-debug': c.debug, 'log-file': c.logFile }],
    },
    null,
    2,
  )}\n`;
}

/** Writes the conflist atomically (a runtime reading the directory never sees half a file). */
export function writeCniConf(path: string, o: Partial<CniConfOptions> = {}): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp`);
  writeFileSync(tmp, cniConflist(o));
  renameSync(tmp, path);
}

/**
 * Removes the conflist and renames every `<name>.cilium_bak` in its directory back to `<name>`
 * (unless a file of that name exists again); returns the restored names.
 */
export function removeCniConf(path: string): string[] {
  rmSync(path, { force: true });
  const dir = dirname(path);
  if (!existsSync(dir)) return [];
  const restored: string[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.cilium_bak')) continue;
    const original = name.slice(0, -'.cilium_bak'.length);
    if (existsSync(join(dir, original))) continue;
    renameSync(join(dir, name), join(dir, original));
    restored.push(original);
  }
  return restored;
}
