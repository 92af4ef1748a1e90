// A container's filesystem view, as a runtime gives it but without images: the host's filesystem
// in a private mount namespace (`unshare --mount`), with the pod's volumes bind-mounted at their
// mountPaths and the node's own directories over the host paths a hostPath volume names. Mount
// propagation is "slave" (HostToContainer): namespaces that `ip netns add` mounts under
// /run/netns after the container started still appear inside it, none of ours leak out.
//
// Mountpoints that do not exist are created on the host (empty directories or files, as a
// runtime would create them in the image's rootfs); nothing is mounted outside the namespace.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, normalize } from 'node:path';

export interface BindMount {
  /** A host path (file or directory). */
  source: string;
  /** Where the container sees it. */
  target: string;
  readOnly?: boolean;
  /**
   * Kubernetes' `mountPropagation: Bidirectional`: what the container mounts under the target
   * appears at the source on the host (and in every other container of it). The source must be a
   * shared mount point on the host (`shareHostPath`).
   */
  bidirectional?: boolean;
  /**
   * Kubernetes' `mountPropagation: HostToContainer`: what is mounted under the source on the host
   * later (by another pod's Bidirectional mount) appears in the container too.
   */
  hostToContainer?: boolean;
}

/** Host paths that stay the host's in every node (the real bpffs is mapped per node instead). */
// '/' (exactly; not its subpaths): install-cni's host check reads the libc loader there, and the
// plugin it installs runs on this machine, with this machine's loader.
const SHARED_HOST_PATHS = ['/var/run/netns', '/run/netns', '/proc', '/dev', '/lib/modules', '/'];

/** `/var/run/x` is `/run/x` (a symlink on every current distribution); one spelling per path. */
export function canonicalHostPath(path: string): string {
  const p = normalize(path).replace(/\/+$/, '') || '/';
  return p === '/var/run' || p.startsWith('/var/run/') ? p.slice('/var'.length) : p;
}

export interface NodeView {
  /** The node's own root: a hostPath /x is <root>/x. */
  root: string;
  /** The node's directory on the real bpffs (/sys/fs/bpf in its view). */
  bpfRoot: string;
  /**
   * The node's cgroup v2 subtree (cgroups.ts), which a hostPath of the agent's `cgroup-root`
   * (/run/cilium/cgroupv2) maps to: that node's agent attaches its socket-LB there, where that
   * node's pods run. Without cgroup v2: a plain directory as for any hostPath.
   */
  cgroupRoot?: string;
}

/** The agent's default `cgroup-root` (upstream's cgroup.hostRoot). */
export const CGROUP_ROOT_HOST_PATH = '/run/cilium/cgroupv2';

/**
 * Where a hostPath volume of a pod on this node lives on the host: the node's directory for it,
 * except the paths every node shares with the host (netns files) and /sys/fs/bpf (the node's own
 * directory on the real bpffs: pinned maps must live on a bpffs).
 */
export function hostPathSource(view: NodeView, path: string): string {
  const p = canonicalHostPath(path);
  if (p === '/sys/fs/bpf' || p.startsWith('/sys/fs/bpf/')) return join(view.bpfRoot, p.slice('/sys/fs/bpf'.length));
  if (view.cgroupRoot && p === CGROUP_ROOT_HOST_PATH) return view.cgroupRoot;
  if (SHARED_HOST_PATHS.some((s) => p === canonicalHostPath(s) || p.startsWith(`${canonicalHostPath(s)}/`))) return p;
  return join(view.root, p);
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Parents before children (a volume at /tmp, then a configMap at /tmp/cilium/config-map). */
function ordered(mounts: readonly BindMount[]): BindMount[] {
  return [...mounts]
    .filter((m) => normalize(m.source) !== normalize(m.target))
    .sort((a, b) => a.target.split('/').length - b.target.split('/').length);
}

/** A scratch mountpoint every host has: a tmpfs over it holds the sources while the targets are mounted. */
const STAGE = '/mnt';

/**
 * The shell lines that bind every mount, run inside the new namespace. Every source is first bound
 * into a scratch tmpfs, so that a mount over a parent of a later source (an emptyDir at /tmp while
 * the devcluster lives under /tmp) cannot hide it; the scratch tmpfs goes again at the end.
 */
export function mountScript(mounts: readonly BindMount[]): string {
  const list = ordered(mounts);
  const lines = ['set -e'];
  const shared = list.filter((m) => m.bidirectional).map((m) => m.source);
  // With a Bidirectional mount the namespace starts with the host's propagation unchanged (a
  // copy of a shared mount stays its peer only then); every other mount is made a slave first,
  // one by one, so that nothing we mount here leaks out; the shared sources stay peers.
  if (shared.length)
    lines.push(
      `awk '{print $5}' /proc/self/mountinfo | while read -r m; do case "$m" in ${shared.map(quote).join('|')}) ;; *) mount --make-slave "$m" ;; esac; done`,
    );
  lines.push(`mount -t tmpfs -o size=64k,mode=0700 kts-stage ${STAGE}`);
  list.forEach((m, i) => {
    const file = existsSync(m.source) && !statSync(m.source).isDirectory();
    lines.push(`${file ? ':>' : 'mkdir'} ${STAGE}/${i}`, `mount --bind ${quote(m.source)} ${STAGE}/${i}`);
  });
  list.forEach((m, i) => {
    const file = existsSync(m.source) && !statSync(m.source).isDirectory();
    const t = quote(m.target);
    lines.push(
      file ? `mkdir -p "$(dirname ${t})"; [ -e ${t} ] || : > ${t}` : `mkdir -p ${t}`,
      `mount --bind ${STAGE}/${i} ${t}`,
    );
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${t}`);
  });
  lines.push(`umount -l ${STAGE}`, 'exec "$@"');
  return lines.join('\n');
}

/** The argv that runs `argv` in a new mount namespace with these mounts (and nothing else changed). */
export function withMounts(mounts: readonly BindMount[], argv: readonly string[]): string[] {
  if (!mounts.length) return [...argv];
  const propagation = mounts.some((m) => m.bidirectional) ? 'unchanged' : 'slave';
  return [
    'unshare',
    '--mount',
    '--propagation',
    propagation,
    '--',
    'sh',
    '-c',
    mountScript(mounts),
    'kts-mounts',
    ...argv,
  ];
}

/** Whether `path` is a mount point in this process's mount namespace. */
export function isMountPoint(path: string): boolean {
  const p = normalize(path).replace(/\/+$/, '') || '/';
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === p);
}

/**
 * Makes a host directory a shared mount point (a bind onto itself, as `ip netns` does for
 * /run/netns), so that a container's Bidirectional mount of it propagates back here, as a
 * runtime needs the host path of such a mount to be on a shared mount. Idempotent.
 */
export function shareHostPath(path: string): void {
  if (!isMountPoint(path)) execFileSync('mount', ['--bind', path, path], { stdio: 'ignore' });
  execFileSync('mount', ['--make-shared', path], { stdio: 'ignore' });
}

/** Every mount point at or below `dir` in this mount namespace, deepest first. */
export function mountsUnder(dir: string): string[] {
  const root = normalize(dir).replace(/\/+$/, '');
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === root || p.startsWith(`${root}/`))
    .reverse();
}

/** Lazily unmounts everything mounted at or below `dir` (shareHostPath's binds, what propagated onto them). */
export function unmountUnder(dir: string): void {
  for (const p of mountsUnder(dir))
    try {
      execFileSync('umount', ['-l', p], { stdio: 'ignore' });
    } catch {
      // gone with a parent's lazy unmount already
    }
}

/** The node's view for a process of the node itself (the CNI plugin): its CNI dirs, /run/cilium, bpffs. */
export function nodeMounts(view: NodeView): BindMount[] {
  return ['/opt/cni/bin', '/etc/cni/net.d', '/run/cilium', '/sys/fs/bpf'].map((p) => ({
    source: hostPathSource(view, p),
    target: p,
  }));
}
