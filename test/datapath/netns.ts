// A two-pod topology in network namespaces for the kernel datapath tests:
//   pod A (netns, eth0 10.200.1.2) ── veth ── node netns (routes, forwarding) ── veth ── pod B (eth0 10.200.2.2)
// The node namespace stands in for the host, so nothing touches the real host's links or routes.
// Names carry the pid and a random suffix; destroy() removes every namespace (and with them the veths).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { EndpointSpec } from '../../datapath/datapath.js';

export const peerScript = fileURLToPath(new URL('./fixtures/netpeer.mjs', import.meta.url));

function ip(...args: string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

export interface Pod {
  ns: string;
  nsPath: string;
  ip: string;
  gw: string;
  hostVeth: string;
}

export class Topology {
  readonly tag = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
  readonly node = `cts-${this.tag}-node`;
  readonly nodePath = `/run/netns/${this.node}`;
  readonly a: Pod;
  readonly b: Pod;
  private readonly children = new Set<ChildProcess>();
  private readonly created: string[] = [];

  constructor() {
    const pod = (name: string, n: number): Pod => ({
      ns: `cts-${this.tag}-${name}`,
      nsPath: `/run/netns/cts-${this.tag}-${name}`,
      ip: `10.200.${n}.2`,
      gw: `10.200.${n}.1`,
      hostVeth: `h${this.tag}${name}`.slice(0, 15),
    });
    this.a = pod('a', 1);
    this.b = pod('b', 2);
  }

  create(): void {
    for (const ns of [this.node, this.a.ns, this.b.ns]) {
      ip('netns', 'add', ns);
      this.created.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      // IPv4-only topology: no IPv6 link-local chatter (MLD, DAD) hitting the programs
      execFileSync('ip', [
        'netns',
        'exec',
        ns,
        'sysctl',
        '-qw',
        'net.ipv6.conf.all.disable_ipv6=1',
        'net.ipv6.conf.default.disable_ipv6=1',
      ]);
    }
    execFileSync('ip', ['netns', 'exec', this.node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    for (const p of [this.a, this.b]) {
      ip('-n', this.node, 'link', 'add', p.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p.ns);
      ip('-n', this.node, 'addr', 'add', `${p.gw}/24`, 'dev', p.hostVeth);
      ip('-n', this.node, 'link', 'set', p.hostVeth, 'up');
      ip('-n', p.ns, 'addr', 'add', `${p.ip}/24`, 'dev', 'eth0');
      ip('-n', p.ns, 'link', 'set', 'eth0', 'up');
      ip('-n', p.ns, 'route', 'add', 'default', 'via', p.gw);
    }
  }

  /** Starts a long-running peer in a pod; resolves once it printed its first line. */
  start(pod: Pod, ...args: string[]): Promise<{ child: ChildProcess; output: () => string }> {
    const child = spawn('ip', ['netns', 'exec', pod.ns, process.execPath, peerScript, ...args], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    let out = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`peer ${args.join(' ')} did not start`)), 5000);
      child.stdout!.on('data', (d: Buffer) => {
        const first = out === '';
        out += d.toString();
        if (first) {
          clearTimeout(timer);
          resolve({ child, output: () => out });
        }
      });
      child.on('exit', (code) => reject(new Error(`peer ${args.join(' ')} exited with ${code}`)));
    });
  }

  /** Runs any command inside a namespace in the background; destroy() kills it. */
  spawnIn(ns: string, cmd: string, ...args: string[]): ChildProcess {
    // own process group and no pipes: daemons that fork (nginx workers) die with the group
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'ignore', detached: true });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs a command inside a namespace to completion; returns stdout. */
  execIn(ns: string, cmd: string, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    }).toString();
  }

  /**
   * One probe from a pod: true if the echo came back. The default timeout is generous (a loaded CI
   * machine); probes expected to fail pass a short one.
   */
  probe(from: Pod, proto: 'tcp' | 'udp', to: Pod, port: number, timeoutMs = 3000): Promise<boolean> {
    return new Promise((resolve) => {
      const child = spawn(
        'ip',
        [
          'netns',
          'exec',
          from.ns,
          process.execPath,
          peerScript,
          `${proto}-probe`,
          to.ip,
          String(port),
          String(timeoutMs),
        ],
        { stdio: 'ignore' },
      );
      this.children.add(child);
      child.on('exit', (code) => {
        this.children.delete(child);
        resolve(code === 0);
      });
    });
  }

  /** The pod's eth0 MAC and its host-side veth's (what the CNI plugin reports to the agent). */
  macs(pod: Pod): { mac: string; nodeMac: string } {
    const mac = (out: string): string => /link\/ether ([0-9a-f:]{17})/.exec(out)?.[1] ?? '';
    return {
      mac: mac(ip('-n', pod.ns, '-o', 'link', 'show', 'dev', 'eth0')),
      nodeMac: mac(ip('-n', this.node, '-o', 'link', 'show', 'dev', pod.hostVeth)),
    };
  }

  /**
   * A pod as the agent programs it; with its MACs (as the CNI plugin reports them) traffic between
   * two such endpoints takes local delivery, without them the node's routed path.
   */
  endpoint(pod: Pod, ep: { id: number; identity: number }, withMacs: boolean): EndpointSpec {
    return {
      id: ep.id,
      ips: [pod.ip],
      ifindex: this.ifindex(pod),
      identity: ep.identity,
      ...(withMacs ? this.macs(pod) : {}),
    };
  }

  /** IP datagrams the node namespace has forwarded (its routed path) so far. */
  forwarded(): number {
    return forwardedDatagrams(this.node);
  }

  ifindex(pod: Pod): number {
    const m = /^(\d+):/.exec(ip('-n', this.node, '-o', 'link', 'show', 'dev', pod.hostVeth));
    return Number(m?.[1]);
  }

  destroy(): void {
    for (const c of this.children) {
      try {
        if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
      } catch {
        c.kill('SIGKILL'); // not a group leader (start()/probe() children)
      }
    }
    for (const ns of this.created.reverse()) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  }
}

/** IP datagrams a network namespace has forwarded so far (`ForwDatagrams` of /proc/net/snmp). */
export function forwardedDatagrams(ns: string): number {
  const snmp = execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'])
    .toString()
    .split('\n')
    .filter((l) => l.startsWith('Ip:'));
  return Number(snmp[1]!.split(/\s+/)[snmp[0]!.split(/\s+/).indexOf('ForwDatagrams')]);
}
