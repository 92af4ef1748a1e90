// The nodes' network: one namespace per node and a fabric namespace holding a bridge that every
// node's `eth0` plugs into (a veth whose other end is a bridge port), one L2 segment with the node
// subnet. Pods on different nodes reach each other by native routing: each node routes the other
// nodes' pod CIDRs via their fabric address (the agent installs those routes from CiliumNodes).
// Nothing here touches the host namespace: the links are created inside our namespaces.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { NODES_DEFAULTS, netnsPath, type NodesState } from './layout.js';
import { removeRunCgroups, runCgroup } from './cgroups.js';
import { mountsUnder, unmountUnder } from './mounts.js';
import { parseCidr } from './ranges.js';
import { createRouter } from './topology.js';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function sysctlIn(netns: string, ...settings: string[]): void {
  execFileSync('nsenter', [`--net=${netnsPath(netns)}`, 'sysctl', '-qw', ...settings], { stdio: 'ignore' });
}

/** Creates the fabric and the node namespaces of `s` (idempotent per namespace is not needed: names are per run). */
export function createFabric(s: NodesState): void {
  if (s.topology === 'routed') return createRouter(s);
  const { bridge, nodeIfName } = NODES_DEFAULTS;
  const prefix = parseCidr(s.ranges.nodeSubnet).bits;
  ip('netns', 'add', s.fabricNetns);
  ip('-n', s.fabricNetns, 'link', 'set', 'lo', 'up');
  ip('-n', s.fabricNetns, 'link', 'add', bridge, 'type', 'bridge');
  ip('-n', s.fabricNetns, 'link', 'set', bridge, 'up');
  s.nodes.forEach((n, i) => {
    ip('netns', 'add', n.netns);
    ip('-n', n.netns, 'link', 'set', 'lo', 'up');
    // A node forwards between its pods, the fabric and its cilium_host; IPv6 stays off (no DAD noise).
    sysctlIn(
      n.netns,
      'net.ipv4.ip_forward=1',
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
    );
    const port = `n${i + 1}`;
    ip('-n', s.fabricNetns, 'link', 'add', port, 'type', 'veth', 'peer', 'name', nodeIfName, 'netns', n.netns);
    ip('-n', s.fabricNetns, 'link', 'set', port, 'master', bridge, 'up');
    ip('-n', n.netns, 'addr', 'add', `${n.ip}/${prefix}`, 'dev', nodeIfName);
    ip('-n', n.netns, 'link', 'set', nodeIfName, 'up');
  });
}

/** Our namespaces on this machine: every name with the run's prefix (also pods' and half-made ones). */
export function runNamespaces(runId: string): string[] {
  let names: string[];
  try {
    names = readdirSync('/var/run/netns');
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(`kts${runId}-`));
}

/** Pids of processes living in a namespace (agents, forwarders, containers), via `ip netns pids`. */
export function pidsIn(netns: string): number[] {
  try {
    return ip('netns', 'pids', netns).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Processes with an argument under `dir` (`dir/…` or `unix:dir/…`): the daemon's detached children
 * outlive it when it is killed, and one in a pod namespace already deleted has no namespace left to
 * find it by (the hubble-relay port-forward, whose pod went first).
 */
export function pidsReferencing(dir: string): number[] {
  const prefix = `${dir.replace(/\/$/, '')}/`;
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.startsWith(prefix) || a.includes(`:${prefix}`))) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

/** Alive and not a zombie (an orphan whose reaper has not run yet is already gone for us). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** Stops processes: SIGTERM, up to `graceMs`, then SIGKILL. */
export async function stopPids(pids: number[], graceMs = 3000): Promise<void> {
  const live = pids.filter((p) => p > 1 && p !== process.pid && alive(p));
  for (const p of live) kill(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (live.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const p of live) if (alive(p)) kill(p, 'SIGKILL');
  for (let i = 0; i < 40 && live.some(alive); i++) await new Promise((r) => setTimeout(r, 25));
}

/** Removes every namespace of the run (after stopping what runs inside) and the run's bpffs pins. */
export async function destroyRun(runId: string, bpfRoot?: string): Promise<string[]> {
  const names = runNamespaces(runId);
  await stopPids(names.flatMap(pidsIn));
  for (const n of names) {
    try {
      ip('netns', 'del', n);
    } catch {
      // raced with another cleanup
    }
  }
  // Removing a bpffs file unpins it; the maps go once no program holds them. Each node's bpffs is
  // a mount of its own (mount-bpf-fs): its pins go first, then the mount, then the directory.
  if (bpfRoot && (bpfRoot.startsWith('/sys/fs/bpf/kts') || bpfRoot.endsWith('/nodes/bpffs'))) {
    for (const m of mountsUnder(bpfRoot).filter((p) => p !== bpfRoot))
      for (const e of existsSync(m) ? readdirSync(m) : [])
        try {
          rmSync(join(m, e), { recursive: true, force: true });
        } catch {
          // maps.debug and progs.debug: the kernel's own, not removable; they go with the mount
        }
    unmountUnder(bpfRoot);
    rmSync(bpfRoot, { recursive: true, force: true });
  }
  const cgroup = runCgroup(runId);
  if (cgroup) unmountUnder(cgroup);
  removeRunCgroups(runId);
  return names;
}
