// "The outside": a namespace on the fabric that stands for the world beyond the cluster, with a
// real TCP/UDP echo server (outside-echo.ts) that reports the source address it sees. It has an
// address in the node subnet and NO route to the pod CIDRs, so a pod's packet gets a reply only
// when it left its node masqueraded to the node's address (enable-ipv4-masquerade). Named from the
// run id like every namespace of the run, so `down` (destroyRun) removes it and stops the server.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { compiledEntry } from '../../cdk8s/process-launch.js';
import { NODES_DEFAULTS, type NodesLayout, type NodesState } from './layout.js';
import { NODE_BIN } from './processes.js';
import { NodesError, NodesErrorCode } from './errors.js';
import { hostAddress, parseCidr } from './ranges.js';
import { ROUTED_MAX_NODES, routedNode } from './topology.js';
import { join } from 'node:path';

export interface OutsideInfo {
  /** Its network namespace (under /var/run/netns). */
  netns: string;
  /** Its address on the fabric, in the node subnet. */
  ip: string;
  /** The echo server's TCP and UDP port. */
  port: number;
}

export const OUTSIDE_DEFAULTS = {
  /** Host number in the node subnet: far above the nodes' (node i is host i). */
  host: 254,
  port: 7000,
  /** The fabric bridge port of the outside (the nodes' are n1, n2, …). */
  bridgePort: 'out0',
};

const ECHO = compiledEntry('devcluster/nodes/outside-echo.ts');

const ip = (...args: string[]): string =>
  execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export const outsideNetnsName = (runId: string): string => `kts${runId}-outside`;

/** Where the outside of `s` is (and will be): tests read it from the state file. */
export function outsideOf(s: Pick<NodesState, 'runId' | 'ranges' | 'topology'>): OutsideInfo {
  // routed: a subnet of its own behind the router, after the nodes'
  if (s.topology === 'routed')
    return {
      netns: outsideNetnsName(s.runId),
      ip: routedNode(s.ranges.nodeSubnet, ROUTED_MAX_NODES + 1).ip,
      port: OUTSIDE_DEFAULTS.port,
    };
  const { bits } = parseCidr(s.ranges.nodeSubnet);
  const host = Math.min(OUTSIDE_DEFAULTS.host, 2 ** (32 - bits) - 2);
  return { netns: outsideNetnsName(s.runId), ip: hostAddress(s.ranges.nodeSubnet, host), port: OUTSIDE_DEFAULTS.port };
}

/**
 * Starts the echo server inside the outside namespace as nobody's child (the shell that starts it
 * exits at once): `down` stops it like every process of the run's namespaces, and a caller that
 * is busy at that moment leaves no zombie of it behind.
 */
function startEcho(o: OutsideInfo, log: string): void {
  if (!existsSync(ECHO)) throw new NodesError(NodesErrorCode.Start, `${ECHO} is not built: run \`npm run build\``);
  execFileSync(
    'nsenter',
    [
      `--net=/var/run/netns/${o.netns}`,
      'sh',
      '-c',
      'log="$1"; shift; "$@" </dev/null >>"$log" 2>&1 &',
      'sh',
      log,
      NODE_BIN,
      ECHO,
      String(o.port),
    ],
    { stdio: 'ignore' },
  );
}

/** Creates the outside namespace on the fabric of `s` and starts its echo server; returns where. */
export function createOutside(s: NodesState, layout: NodesLayout): OutsideInfo {
  const o = outsideOf(s);
  const { bits } = parseCidr(s.ranges.nodeSubnet);
  ip('netns', 'add', o.netns);
  ip('-n', o.netns, 'link', 'set', 'lo', 'up');
  ip(
    '-n',
    s.fabricNetns,
    'link',
    'add',
    OUTSIDE_DEFAULTS.bridgePort,
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    o.netns,
  );
  if (s.topology === 'routed') {
    // behind the router like a node, on its own /24; its default route reaches the nodes' subnets
    const r = routedNode(s.ranges.nodeSubnet, ROUTED_MAX_NODES + 1);
    ip('-n', s.fabricNetns, 'addr', 'add', `${r.router}/24`, 'dev', OUTSIDE_DEFAULTS.bridgePort);
    ip('-n', s.fabricNetns, 'link', 'set', OUTSIDE_DEFAULTS.bridgePort, 'up');
    ip('-n', o.netns, 'addr', 'add', `${o.ip}/24`, 'dev', 'eth0');
    ip('-n', o.netns, 'link', 'set', 'eth0', 'up');
    ip('-n', o.netns, 'route', 'add', 'default', 'via', r.router, 'dev', 'eth0');
  } else {
    ip('-n', s.fabricNetns, 'link', 'set', OUTSIDE_DEFAULTS.bridgePort, 'master', NODES_DEFAULTS.bridge, 'up');
    ip('-n', o.netns, 'addr', 'add', `${o.ip}/${bits}`, 'dev', 'eth0');
    ip('-n', o.netns, 'link', 'set', 'eth0', 'up');
  }
  // No route to the pod CIDRs on purpose: only the node subnet is reachable from here.
  startEcho(o, join(layout.root, 'outside.log'));
  return o;
}
