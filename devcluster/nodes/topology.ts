// The routed node topology (`up --nodes N --routed`): instead of one bridge, the fabric namespace
// is a router with one link per node, and every node sits alone on its own /24 of a free /16
// (node i: <a>.<b>.i.2, the router <a>.<b>.i.1), with its default route via the router. Nodes
// share no L2 segment, so `ip route … via <other node>` cannot work: pods on different nodes reach
// each other only if the network routes pod CIDRs (it does not here) or through a tunnel
// (routing-mode tunnel). Everything is created inside our namespaces; `down` removes them.
import { execFileSync } from 'node:child_process';
import { NODES_DEFAULTS, netnsPath, type NodesState } from './layout.js';
import { NodesError, NodesErrorCode } from './errors.js';
import { hostPrefixes, intToIp, overlaps, parseCidr } from './ranges.js';

/** /16s the routed topology carves per-node /24s from, first free wins. */
export const ROUTED_SUPERNETS = ['172.30.0.0/16', '172.27.0.0/16', '10.253.0.0/16'];

/** Nodes a routed topology has room for (one /24 each, .1 to .254). */
export const ROUTED_MAX_NODES = 254;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function sysctlIn(netns: string, ...settings: string[]): void {
  execFileSync('nsenter', [`--net=${netnsPath(netns)}`, 'sysctl', '-qw', ...settings], { stdio: 'ignore' });
}

/** A /16 that overlaps neither the host's prefixes nor the cluster pool. */
export function chooseRoutedSupernet(clusterPool: string, used: string[] = hostPrefixes()): string {
  const s = ROUTED_SUPERNETS.find((c) => ![...used, clusterPool].some((u) => overlaps(c, u)));
  if (!s)
    throw new NodesError(
      NodesErrorCode.NoFreeRange,
      `no free /16 for routed nodes among ${ROUTED_SUPERNETS.join(', ')} (host uses ${used.join(', ')})`,
    );
  return s;
}

/** Node i's (1-based) subnet, its address and the router's address on it; i = ROUTED_MAX_NODES + 1 is the outside's. */
export function routedNode(supernet: string, i: number): { subnet: string; ip: string; router: string } {
  if (!Number.isInteger(i) || i < 1 || i > ROUTED_MAX_NODES + 1)
    throw new NodesError(NodesErrorCode.Usage, `a routed topology has room for ${ROUTED_MAX_NODES} nodes`);
  const base = parseCidr(supernet).base + i * 256;
  return { subnet: `${intToIp(base)}/24`, ip: intToIp(base + 2), router: intToIp(base + 1) };
}

/**
 * Creates the router namespace (`s.fabricNetns`) and the node namespaces, each node on its own
 * link and subnet. The router forwards between the nodes' subnets and nothing else.
 */
export function createRouter(s: NodesState): void {
  const { nodeIfName } = NODES_DEFAULTS;
  ip('netns', 'add', s.fabricNetns);
  ip('-n', s.fabricNetns, 'link', 'set', 'lo', 'up');
  sysctlIn(
    s.fabricNetns,
    'net.ipv4.ip_forward=1',
    'net.ipv6.conf.all.disable_ipv6=1',
    'net.ipv6.conf.default.disable_ipv6=1',
  );
  s.nodes.forEach((n, i) => {
    const r = routedNode(s.ranges.nodeSubnet, i + 1);
    ip('netns', 'add', n.netns);
    ip('-n', n.netns, 'link', 'set', 'lo', 'up');
    sysctlIn(
      n.netns,
      'net.ipv4.ip_forward=1',
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
    );
    const port = `n${i + 1}`;
    ip('-n', s.fabricNetns, 'link', 'add', port, 'type', 'veth', 'peer', 'name', nodeIfName, 'netns', n.netns);
    ip('-n', s.fabricNetns, 'addr', 'add', `${r.router}/24`, 'dev', port);
    ip('-n', s.fabricNetns, 'link', 'set', port, 'up');
    ip('-n', n.netns, 'addr', 'add', `${n.ip}/24`, 'dev', nodeIfName);
    ip('-n', n.netns, 'link', 'set', nodeIfName, 'up');
    ip('-n', n.netns, 'route', 'add', 'default', 'via', r.router, 'dev', nodeIfName);
  });
}
