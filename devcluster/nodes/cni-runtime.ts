// Calls CNI plugins the way a container runtime (libcni) does: for each plugin of the conflist,
// the executable `<CNI_PATH>/<type>` with CNI_* in the environment and the plugin's entry plus the
// list's cniVersion and name (and prevResult for DEL/CHECK) on stdin; DEL walks the list backwards.
// The plugin runs in the node's network namespace and, when `mounts` are given, in the node's own
// filesystem view (mounts.ts: its /opt/cni/bin, /etc/cni/net.d, /run/cilium and bpffs directory),
// as a runtime on that node would run it; without them the mount namespace stays the caller's.
import { join } from 'node:path';
import type { Conflist } from './cni-install.js';
import { CniCallError, NodesError, NodesErrorCode } from './errors.js';
import { runOneShot, type OneShot } from './one-shot.js';
import { type BindMount, withMounts } from './mounts.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';

export interface CniCall {
  binDir: string;
  conflist: Conflist;
  command: CniCommand;
  /** The node's network namespace path (e.g. /var/run/netns/kts…-node-1); absent: the caller's. */
  nodeNetns?: string;
  /** The node's filesystem view the plugin runs in (binDir is then the host path of its /opt/cni/bin). */
  mounts?: readonly BindMount[];
  /** CNI_PATH as the plugin sees it (default binDir). */
  cniPath?: string;
  containerId?: string;
  netns?: string;
  ifName?: string;
  /** CNI_ARGS pairs (K8S_POD_NAME, K8S_POD_NAMESPACE, K8S_POD_INFRA_CONTAINER_ID). */
  args?: Record<string, string>;
  prevResult?: unknown;
  /** Extra top-level keys for stdin (GC's cni.dev/valid-attachments). */
  extra?: Record<string, unknown>;
  timeoutMs?: number;
  /** Runs the plugin process (the nodes daemon's spawner, spawner-client.ts); default: from this process. */
  exec?: OneShot;
}

export interface CniOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The parsed stdout (result, error result), undefined when empty. */
  json?: Record<string, unknown>;
  ms: number;
  /** The synchronous spawn call (fork and exec in the spawning process), and that call to the plugin's exit. */
  spawnMs?: number;
  exitMs?: number;
}

/** One plugin execution (the conflist's plugin `index`). */
export async function execPlugin(call: CniCall, index = 0): Promise<CniOutcome> {
  const plugin = call.conflist.plugins[index] ?? {};
  const stdin = {
    ...plugin,
    cniVersion: call.conflist.cniVersion,
    name: call.conflist.name,
    ...(call.prevResult ? { prevResult: call.prevResult } : {}),
    ...call.extra,
  };
  const exe = join(call.binDir, String(plugin.type));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: call.command,
    CNI_PATH: call.cniPath ?? call.binDir,
    ...(call.containerId !== undefined ? { CNI_CONTAINERID: call.containerId } : {}),
    ...(call.netns !== undefined ? { CNI_NETNS: call.netns } : {}),
    ...(call.ifName !== undefined ? { CNI_IFNAME: call.ifName } : {}),
    ...(call.args
      ? {
          CNI_ARGS: Object.entries(call.args)
            .map(([k, v]) => `${k}=${v}`)
            .join(';'),
        }
      : {}),
  };
  const inView = withMounts(call.mounts ?? [], [exe]);
  const [cmd, ...argv] = call.nodeNetns ? ['nsenter', `--net=${call.nodeNetns}`, '--', ...inView] : inView;
  const r = await (call.exec ?? runOneShot)({
    file: cmd!,
    args: argv,
    env,
    stdin: JSON.stringify(stdin),
    timeoutMs: call.timeoutMs ?? 60_000,
  });
  if (r.error !== undefined) throw new NodesError(NodesErrorCode.Spawner, `CNI ${call.command}: ${cmd}: ${r.error}`);
  let json: Record<string, unknown> | undefined;
  try {
    json = r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  return {
    exitCode: r.code ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    ...(json ? { json } : {}),
    ms: r.ms,
    spawnMs: r.spawnMs,
    exitMs: r.exitMs,
  };
}

/** ADD through the whole list (each plugin gets the previous result); throws CniCallError on failure. */
export async function cniAdd(
  call: Omit<CniCall, 'command'>,
  trace?: (o: CniOutcome) => void,
): Promise<Record<string, unknown>> {
  let prev: unknown;
  for (let i = 0; i < call.conflist.plugins.length; i++) {
    const o = await execPlugin({ ...call, command: 'ADD', ...(prev ? { prevResult: prev } : {}) }, i);
    trace?.(o);
    if (o.exitCode !== 0) throw new CniCallError(o, `CNI ADD ${call.containerId}`);
    prev = o.json;
  }
  return (prev ?? {}) as Record<string, unknown>;
}

/** DEL through the list in reverse; throws CniCallError on failure. */
export async function cniDel(call: Omit<CniCall, 'command'>): Promise<void> {
  for (let i = call.conflist.plugins.length - 1; i >= 0; i--) {
    const o = await execPlugin({ ...call, command: 'DEL' }, i);
    if (o.exitCode !== 0) throw new CniCallError(o, `CNI DEL ${call.containerId}`);
  }
}
