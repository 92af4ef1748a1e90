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

/** Runs `cmd`; `input` goes to its stdin (an `ip -batch -` script). */
function run(cmd: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (input !== undefined) {
      child.stdin?.on('error', () => undefined); // an ip that failed early stops reading
      child.stdin?.end(input);
    }
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
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
  // One ip process for the rest (a pod start is counted in processes: each costs a fork and an
  // exec on a busy node). The names are ours, the address checked: nothing else reaches the script.
  const shown = await run(
    'ip',
    ['-j', '-batch', '-'],
    [`link set dev ${s.hostName} up`, `route replace ${ipv4(s.ip)}/32 dev ${s.hostName}`, `link show dev ${s.hostName}`]
      .map((l) => `${l}\n`)
      .join(''),
  );
  if (shown.code !== 0) throw failed(`bringing ${s.hostName} up with its route`, shown);
  // proc/sys/net answers for the opener's namespace: the node's, where the plugin runs.
  try {
    writeFileSync(`/proc/sys/net/ipv4/conf/${s.hostName}/proxy_arp`, '1');
  } catch (e) {
    throw new CniError(CniErrorCode.Io, `enabling proxy_arp on ${s.hostName}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return lastLink(shown.stdout);
}

// Inside the pod's namespace, one process for the whole pod side: a shell that switches IPv6 off
// when asked ($1 = 1; /proc/sys/net answers for the namespace of whoever opens it) and becomes
// `ip -batch` with the steps on stdin. The script is constant; the interface name is validated
// (config.ts) and the addresses checked here, so the batch holds nothing a caller chose freely.
const POD_SIDE = [
  'if [ "$1" = 1 ]; then for k in all default; do printf 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6 2>/dev/null || true; done; fi',
  'exec ip -j -batch -',
].join('\n');

/** An IPv4 address as it may appear in an ip batch line; anything else is refused. */
function ipv4(a: string): string {
  if (!/^(\d{1,3})(\.\d{1,3}){3}$/.test(a) || a.split('.').some((o) => Number(o) > 255))
    throw new CniError(CniErrorCode.Io, `not an IPv4 address: ${JSON.stringify(a.slice(0, 64))}`);
  return a;
}

/** Pod side: loopback and the interface up, `<ip>/32`, a link route to the gateway, the default route. */
export async function configurePodSide(s: VethSpec): Promise<LinkInfo> {
  const batch = [
    'link set dev lo up',
    `addr add ${ipv4(s.ip)}/32 dev ${s.ifName}`,
    `link set dev ${s.ifName} up`,
    `route add ${ipv4(s.gateway)}/32 dev ${s.ifName} scope link`,
    `route add default via ${s.gateway} dev ${s.ifName}`,
    `link show dev ${s.ifName}`,
  ];
  const r = await run(
    'nsenter',
    [`--net=${s.netns}`, 'sh', '-c', POD_SIDE, 'cilium-cni-pod-side', s.disableIpv6 ? '1' : '0'],
    batch.map((l) => `${l}\n`).join(''),
  );
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
