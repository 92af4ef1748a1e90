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
import { join, normalize, posix } from 'node:path';

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

export const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Parents before children (a volume at /tmp, then a configMap at /tmp/cilium/config-map). */
function ordered(mounts: readonly BindMount[]): BindMount[] {
  return [...mounts]
    .filter((m) => normalize(m.source) !== normalize(m.target))
    .sort((a, b) => a.target.split('/').length - b.target.split('/').length);
}

/** A scratch mountpoint every host has: a tmpfs over it holds the sources while the targets are mounted. */
const STAGE = '/mnt';

/** Whether `path` is `dir` or below it, with /var/run and /run one directory (canonicalHostPath). */
const isUnder = (path: string, dir: string): boolean => {
  const [p, d] = [canonicalHostPath(path), canonicalHostPath(dir)];
  return p === d || p.startsWith(d === '/' ? '/' : `${d}/`);
};

/**
 * The shell lines that bind every mount, run inside the new namespace after `prelude`. When a
 * target would hide another mount's source (an emptyDir at /tmp while the devcluster lives under
 * /tmp), every source is first bound into a scratch tmpfs, which goes again at the end. Each line
 * that is not a builtin is a process, and a pod start runs this script once per container and
 * once for its CNI call: one `mkdir -p` makes the mountpoints, one `mount` per bind.
 */
export function mountScript(mounts: readonly BindMount[], prelude: readonly string[] = []): string {
  const list = ordered(mounts);
  const lines = ['set -e', ...prelude];
  const shared = list.filter((m) => m.bidirectional).map((m) => m.source);
  // With a Bidirectional mount the namespace starts with the host's propagation unchanged (a
  // copy of a shared mount stays its peer only then); every other mount is made a slave first,
  // one by one, so that nothing we mount here leaks out; the shared sources stay peers.
  if (shared.length)
    lines.push(
      `awk '{print $5}' /proc/self/mountinfo | while read -r m; do case "$m" in ${shared.map(quote).join('|')}) ;; *) mount --make-slave "$m" ;; esac; done`,
    );
  const file = list.map((m) => existsSync(m.source) && !statSync(m.source).isDirectory());
  const stage = list.some((m, i) => list.some((o, j) => j !== i && isUnder(m.source, o.target)));
  if (stage) {
    lines.push(`mount -t tmpfs -o size=64k,mode=0700 kts-stage ${STAGE}`);
    const dirs = list.flatMap((_, i) => (file[i] ? [] : [`${STAGE}/${i}`]));
    if (dirs.length) lines.push(`mkdir ${dirs.join(' ')}`);
    list.forEach((m, i) => {
      if (file[i]) lines.push(`: > ${STAGE}/${i}`);
      lines.push(`mount --bind ${quote(m.source)} ${STAGE}/${i}`);
    });
  }
  // A mountpoint inside an earlier target is made once that target is mounted; the others at once.
  const dirOf = (i: number) => (file[i] ? posix.dirname(list[i]!.target) : list[i]!.target);
  const nested = list.map((_, i) => list.slice(0, i).some((o) => isUnder(dirOf(i), o.target)));
  const early = [...new Set(list.flatMap((_, i) => (nested[i] ? [] : [dirOf(i)])))];
  if (early.length) lines.push(`mkdir -p ${early.map(quote).join(' ')}`);
  list.forEach((m, i) => {
    const t = quote(m.target);
    if (nested[i]) lines.push(`mkdir -p ${quote(dirOf(i))}`);
    if (file[i]) lines.push(`[ -e ${t} ] || : > ${t}`);
    // util-linux makes "bind,ro" the bind and its read-only remount in one call
    lines.push(`mount ${m.readOnly ? '-o bind,ro' : '--bind'} ${stage ? `${STAGE}/${i}` : quote(m.source)} ${t}`);
  });
  if (stage) lines.push(`umount -l ${STAGE}`);
  lines.push('exec "$@"');
  return lines.join('\n');
}

/** What else the namespace gets: a UTS namespace too (`uts`), shell lines run first in it (`prelude`). */
export interface NamespaceOptions {
  uts?: boolean;
  prelude?: readonly string[];
}

/** The argv that runs `argv` in a new mount namespace with these mounts (and nothing else changed). */
export function withMounts(mounts: readonly BindMount[], argv: readonly string[], o: NamespaceOptions = {}): string[] {
  if (!mounts.length && !o.uts && !o.prelude?.length) return [...argv];
  const propagation = mounts.some((m) => m.bidirectional) ? 'unchanged' : 'slave';
  return [
    'unshare',
    '--mount',
    ...(o.uts ? ['--uts'] : []),
    '--propagation',
    propagation,
    '--',
    'sh',
    '-c',
    mountScript(mounts, o.prelude),
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
