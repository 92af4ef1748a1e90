// The veth pair of an endpoint, built with iproute2. Every value (CNI_NETNS, CNI_IFNAME, the
// agent's addresses) travels as its own argv element, never inside text that a shell or
// `ip -batch` parses, so a newline or `#` in an input cannot change what runs as root. The plugin
// runs in the node's network namespace; the pod side is reached with `nsenter --net=<CNI_NETNS>`
// (`ip -n` only takes names under /run/netns while runtimes pass arbitrary paths), in one process:
// a constant script that reads its values as positional parameters.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { CniError, CniErrorCode } from './errors.js';

export interface LinkInfo {
  ifindex: number;
  ifname: string;
  address: string;
  mtu: number;
}

export interface VethSpec {
  hostName: string;
  /** The pod's namespace (path) and the interface name inside it. */
  netns: string;
  ifName: string;
  ip: string;
  gateway: string;
  mtu: number;
  /** The agent hands out no IPv6: switch IPv6 off in the pod (as upstream's plugin does), no link-local chatter. */
  disableIpv6?: boolean;
}

/** `lxc` + 11 hex characters of the container id's SHA-256 (15 characters at most, like upstream). */
export function hostVethName(containerId: string): string {
  return 'lxc' + createHash('sha256').update(containerId).digest('hex').slice(0, 11);
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => reject(new CniError(CniErrorCode.Io, `cannot run ${cmd}: ${e.message}`, { cause: e })));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** `ip -j link show` prints one JSON array; the last one printed is the link asked for. */
function lastLink(stdout: string): LinkInfo {
  const arrays = stdout
    .trim()
    .split(/\n(?=\[)/)
    .filter(Boolean);
  const parsed = JSON.parse(arrays[arrays.length - 1] ?? '[]') as {
    ifindex: number;
    ifname: string;
    address: string;
    mtu: number;
  }[];
  const l = parsed[0];
  if (!l) throw new CniError(CniErrorCode.Io, 'iproute2 printed no link');
  return { ifindex: l.ifindex, ifname: l.ifname, address: l.address, mtu: l.mtu };
}

function failed(what: string, r: Run): CniError {
  return new CniError(CniErrorCode.Io, `${what}: ${r.stderr.trim().split('\n')[0] ?? 'failed'}`, {
    details: r.stderr.trim(),
  });
}

/**
 * Host side: the pair (the peer created directly inside the pod's namespace under its final name,
 * so no temporary name can clash in the node), up, proxy ARP, the /32 route to the pod.
 * A stale host veth of the same container (an ADD without DEL) is replaced once.
 */
export async function createHostSide(s: VethSpec): Promise<LinkInfo> {
  const mtu = String(s.mtu);
  const add = ['link', 'add', s.hostName, 'mtu', mtu, 'type', 'veth', 'peer', 'name', s.ifName, 'mtu', mtu];
  let r = await run('ip', [...add, 'netns', s.netns]);
  if (r.code !== 0 && /File exists/.test(r.stderr)) {
    await deleteHostSide(s.hostName);
    r = await run('ip', [...add, 'netns', s.netns]);
  }
  if (r.code !== 0) throw failed(`creating veth ${s.hostName} (peer ${s.ifName} in ${s.netns})`, r);
  for (const args of [
    ['link', 'set', 'dev', s.hostName, 'up'],
    ['route', 'replace', `${s.ip}/32`, 'dev', s.hostName],
  ]) {
    const step = await run('ip', args);
    if (step.code !== 0) throw failed(`ip ${args.slice(0, 2).join(' ')} for ${s.hostName}`, step);
  }
  // proc/sys/net answers for the opener's namespace: the node's, where the plugin runs.
  try {
    writeFileSync(`/proc/sys/net/ipv4/conf/${s.hostName}/proxy_arp`, '1');
  } catch (e) {
    throw new CniError(CniErrorCode.Io, `enabling proxy_arp on ${s.hostName}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const shown = await run('ip', ['-j', 'link', 'show', 'dev', s.hostName]);
  if (shown.code !== 0) throw failed(`reading ${s.hostName}`, shown);
  return lastLink(shown.stdout);
}

// Inside the pod's namespace, one process for the whole pod side. The script is constant: the
// interface ($1), address ($2), gateway ($3) and whether to switch IPv6 off ($4) are positional
// parameters, which the shell never parses as code. /proc/sys/net answers for the namespace of
// whoever opens it, so the IPv6 switch happens here too.
const POD_SIDE = [
  'set -e',
  'if [ "$4" = 1 ]; then for k in all default; do printf 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6 2>/dev/null || true; done; fi',
  'ip link set dev lo up',
  'ip addr add "$2/32" dev "$1"',
  'ip link set dev "$1" up',
  'ip route add "$3/32" dev "$1" scope link',
  'ip route add default via "$3" dev "$1"',
  'ip -j link show dev "$1"',
].join('\n');

/** Pod side: loopback and the interface up, `<ip>/32`, a link route to the gateway, the default route. */
export async function configurePodSide(s: VethSpec): Promise<LinkInfo> {
  const r = await run('nsenter', [
    `--net=${s.netns}`,
    'sh',
    '-c',
    POD_SIDE,
    'cilium-cni-pod-side',
    s.ifName,
    s.ip,
    s.gateway,
    s.disableIpv6 ? '1' : '0',
  ]);
  if (r.code !== 0) throw failed(`configuring ${s.ifName} in ${s.netns}`, r);
  return lastLink(r.stdout);
}

/** Removes the pair by its host side (the peer goes with it). Absent is fine (DEL is idempotent). */
export async function deleteHostSide(hostName: string): Promise<boolean> {
  const r = await run('ip', ['link', 'del', 'dev', hostName]);
  if (r.code === 0) return true;
  if (/Cannot find device|does not exist/.test(r.stderr)) return false;
  throw failed(`deleting ${hostName}`, r);
}

/** What CHECK compares: the host link, and the pod interface with its addresses and routes. */
export async function inspect(
  hostName: string,
  netns: string,
  ifName: string,
): Promise<{ host?: LinkInfo; pod?: LinkInfo; podAddrs: string[]; podRoutes: { dst: string; gateway?: string }[] }> {
  const host = await run('ip', ['-j', 'link', 'show', 'dev', hostName]);
  const pod = await run('nsenter', [`--net=${netns}`, 'ip', '-j', 'addr', 'show', 'dev', ifName]);
  const routes = await run('nsenter', [`--net=${netns}`, 'ip', '-j', 'route', 'show', 'dev', ifName]);
  const podParsed =
    pod.code === 0
      ? (JSON.parse(pod.stdout || '[]') as (LinkInfo & {
          addr_info?: { family: string; local: string; prefixlen: number }[];
        })[])
      : [];
  const p = podParsed[0];
  return {
    ...(host.code === 0 ? { host: lastLink(host.stdout) } : {}),
    ...(p ? { pod: { ifindex: p.ifindex, ifname: p.ifname, address: p.address, mtu: p.mtu } } : {}),
    podAddrs: (p?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    podRoutes: routes.code === 0 ? (JSON.parse(routes.stdout || '[]') as { dst: string; gateway?: string }[]) : [],
  };
}
