// "The outside": a namespace on the fabric that stands for the world beyond the cluster, with a
// real TCP/UDP echo server (outside-echo.ts) that reports the source address it sees. It has an
// address in the node subnet and NO route to the pod CIDRs, so a pod's packet gets a reply only
// when it left its node masqueraded to the node's address (enable-ipv4-masquerade). Named from the
// run id like every namespace of the run, so `down` (destroyRun) removes it and stops the server.
import { execFileSync } from 'node:child_process';
import { compiledEntry } from '../../cdk8s/process-launch.js';
import { NODES_DEFAULTS, type NodesLayout, type NodesState } from './layout.js';
import { startCompiled } from './processes.js';
import { hostAddress, parseCidr } from './ranges.js';
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
export function outsideOf(s: Pick<NodesState, 'runId' | 'ranges'>): OutsideInfo {
  const { bits } = parseCidr(s.ranges.nodeSubnet);
  const host = Math.min(OUTSIDE_DEFAULTS.host, 2 ** (32 - bits) - 2);
  return { netns: outsideNetnsName(s.runId), ip: hostAddress(s.ranges.nodeSubnet, host), port: OUTSIDE_DEFAULTS.port };
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
  ip('-n', s.fabricNetns, 'link', 'set', OUTSIDE_DEFAULTS.bridgePort, 'master', NODES_DEFAULTS.bridge, 'up');
  ip('-n', o.netns, 'addr', 'add', `${o.ip}/${bits}`, 'dev', 'eth0');
  ip('-n', o.netns, 'link', 'set', 'eth0', 'up');
  // No route to the pod CIDRs on purpose: only the node subnet is reachable from here.
  const echo = startCompiled(ECHO, [String(o.port)], { log: join(layout.root, 'outside.log'), netns: o.netns });
  echo.unref();
  return o;
}
