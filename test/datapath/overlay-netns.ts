// Two "nodes" joined by an underlay, in network namespaces, for the tunnel datapath tests:
//   pod A (10.201.1.2) ── veth ── node A ── underlay veth 192.168.251.1 ↔ .2 ── node B ── veth ── pod B (10.201.2.2)
// VXLAN: each node has its own metadata-mode cilium_vxlan device. Geneve: no device, the datapath
// frames the packets itself (datapath/bpf/geneve.h) and its programs sit on the underlay veth.
// Neither node has a plain route to the other node's pod CIDR: only the tunnel can carry pod
// traffic across. Pods get the underlay MTU minus the 50 bytes of tunnel headers, as the agent gives. Names carry the pid and a
// random suffix; destroy() removes every namespace (and with them every link).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { TunnelProtocol } from '../../datapath/overlay-codecs.js';
import type { Pod } from './netns.js';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

function sysctl(ns: string, ...kv: string[]): void {
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', ...kv]);
}

export interface TunnelNode {
  ns: string;
  nsPath: string;
  underlayIp: string;
  podCidr: string;
  pod: Pod;
}

export const tunnelPort = (p: TunnelProtocol): number => (p === 'vxlan' ? 8472 : 6081);

export class TunnelTopology {
  readonly tag = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
  readonly a: TunnelNode;
  readonly b: TunnelNode;
  /** where tunnel traffic is counted: cilium_vxlan, or the underlay veth (Geneve) */
  readonly device: string;
  /** each node's underlay veth */
  readonly underlay: Map<TunnelNode, string>;
  private readonly created: string[] = [];

  constructor(readonly protocol: TunnelProtocol) {
    const node = (name: string, n: number): TunnelNode => ({
      ns: `cts-${this.tag}-n${name}`,
      nsPath: `/run/netns/cts-${this.tag}-n${name}`,
      underlayIp: `192.168.251.${n}`,
      podCidr: `10.201.${n}.0/24`,
      pod: {
        ns: `cts-${this.tag}-p${name}`,
        nsPath: `/run/netns/cts-${this.tag}-p${name}`,
        ip: `10.201.${n}.2`,
        gw: `10.201.${n}.1`,
        hostVeth: `h${this.tag}${name}`.slice(0, 15),
      },
    });
    this.a = node('a', 1);
    this.b = node('b', 2);
    this.underlay = new Map([
      [this.a, `u${this.tag}a`.slice(0, 15)],
      [this.b, `u${this.tag}b`.slice(0, 15)],
    ]);
    this.device = protocol === 'vxlan' ? 'cilium_vxlan' : this.underlay.get(this.a)!;
  }

  /** The device the tunnel's traffic of `n` is counted on. */
  deviceOf(n: TunnelNode): string {
    return this.protocol === 'vxlan' ? this.device : this.underlay.get(n)!;
  }

  create(): void {
    for (const n of [this.a, this.b])
      for (const ns of [n.ns, n.pod.ns]) {
        ip('netns', 'add', ns);
        this.created.push(ns);
        ip('-n', ns, 'link', 'set', 'lo', 'up');
        sysctl(ns, 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
      }
    const ua = this.underlay.get(this.a)!;
    const ub = this.underlay.get(this.b)!;
    ip('-n', this.a.ns, 'link', 'add', ua, 'type', 'veth', 'peer', 'name', ub, 'netns', this.b.ns);
    for (const [n, dev] of [
      [this.a, ua],
      [this.b, ub],
    ] as const) {
      sysctl(n.ns, 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0');
      ip('-n', n.ns, 'addr', 'add', `${n.underlayIp}/24`, 'dev', dev);
      ip('-n', n.ns, 'link', 'set', dev, 'up');
      const p = n.pod;
      ip('-n', n.ns, 'link', 'add', p.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p.ns);
      ip('-n', n.ns, 'addr', 'add', `${p.gw}/24`, 'dev', p.hostVeth);
      ip('-n', n.ns, 'link', 'set', p.hostVeth, 'mtu', '1450', 'up');
      ip('-n', p.ns, 'addr', 'add', `${p.ip}/24`, 'dev', 'eth0');
      ip('-n', p.ns, 'link', 'set', 'eth0', 'mtu', '1450', 'up');
      ip('-n', p.ns, 'route', 'add', 'default', 'via', p.gw);
      if (this.protocol === 'vxlan') {
        ip('-n', n.ns, 'link', 'add', this.device, 'type', 'vxlan', 'external', 'dstport', '8472');
        ip('-n', n.ns, 'link', 'set', this.device, 'arp', 'off', 'up');
      }
    }
  }

  other(n: TunnelNode): TunnelNode {
    return n === this.a ? this.b : this.a;
  }

  /** A node's own stack reaches the other node's pods through the tunnel device (as the agent routes). */
  routeHostTraffic(n: TunnelNode): void {
    const o = this.other(n);
    if (this.protocol === 'vxlan') ip('-n', n.ns, 'route', 'replace', o.podCidr, 'dev', this.device, 'src', n.pod.gw);
    // Geneve: towards the other node (the frame is addressed to it), framed at the underlay's egress
    else
      ip(
        '-n',
        n.ns,
        'route',
        'replace',
        o.podCidr,
        'via',
        o.underlayIp,
        'dev',
        this.underlay.get(n)!,
        'src',
        n.pod.gw,
        'mtu',
        '1450',
      );
  }

  ifindex(n: TunnelNode, dev: string): number {
    return Number(/^(\d+):/.exec(ip('-n', n.ns, '-o', 'link', 'show', 'dev', dev))?.[1]);
  }

  macs(n: TunnelNode): { mac: string; nodeMac: string } {
    const mac = (out: string): string => /link\/ether ([0-9a-f:]{17})/.exec(out)?.[1] ?? '';
    return {
      mac: mac(ip('-n', n.pod.ns, '-o', 'link', 'show', 'dev', 'eth0')),
      nodeMac: mac(ip('-n', n.ns, '-o', 'link', 'show', 'dev', n.pod.hostVeth)),
    };
  }

  /** A link's packet counters (`ip -s`): what crossed it. */
  counters(n: TunnelNode, dev: string): { rx: number; tx: number } {
    const s = JSON.parse(ip('-n', n.ns, '-j', '-s', 'link', 'show', 'dev', dev)) as {
      stats64: { rx: { packets: number }; tx: { packets: number } };
    }[];
    return { rx: s[0]!.stats64.rx.packets, tx: s[0]!.stats64.tx.packets };
  }

  destroy(): void {
    for (const ns of this.created.reverse()) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  }
}
