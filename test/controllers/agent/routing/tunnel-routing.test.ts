// Tunnel routing's parts that need no cluster: which CiliumNodes become tunnel map entries, and the
// tunnel device as the agent makes it — run inside a network namespace this test creates (the
// device code works on the namespace it runs in, as the agent does in its node's).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { tunnelEndpoints } from '../../../../controllers/agent/routing/tunnel-routing.js';
import type { CiliumNodeObject } from '../../../../controllers/agent/resources.js';

const node = (name: string, ip: string | undefined, ...podCIDRs: string[]): CiliumNodeObject => ({
  metadata: { name },
  spec: { addresses: ip ? [{ type: 'InternalIP', ip }] : [], ipam: { podCIDRs } },
});

describe('tunnelEndpoints: the other nodes’ pod CIDRs and InternalIPs', () => {
  it.each([
    [
      'itself is left out',
      [node('a', '172.30.1.2', '10.0.1.0/24'), node('b', '172.30.2.2', '10.0.2.0/24')],
      [['10.0.2.0/24', '172.30.2.2']],
      [],
    ],
    [
      'a node without InternalIP or pod CIDR is not reachable yet',
      [node('b', undefined, '10.0.2.0/24'), node('c', '172.30.3.2')],
      [],
      [],
    ],
    [
      'every IPv4 pod CIDR of a node',
      [node('b', '172.30.2.2', '10.0.2.0/24', '10.0.9.0/24', 'fd00::/64')],
      [
        ['10.0.2.0/24', '172.30.2.2'],
        ['10.0.9.0/24', '172.30.2.2'],
      ],
      [],
    ],
    [
      'a CIDR of another length is reported, not written',
      [node('b', '172.30.2.2', '10.0.2.0/25')],
      [],
      ['10.0.2.0/25'],
    ],
    ['an IPv6 InternalIP is not an IPv4 tunnel endpoint', [node('b', 'fd00::2', '10.0.2.0/24')], [], []],
  ] as const)('%s', (_name, nodes, endpoints, skipped) => {
    const r = tunnelEndpoints(nodes, 'a', 24);
    expect(r.endpoints.map((e) => [e.podCidr, e.nodeIp])).toEqual(endpoints);
    expect(r.skipped).toEqual(skipped);
  });
});

const script = fileURLToPath(new URL('./tunnel-device-run.ts', import.meta.url));
const ns = `cts-${process.pid.toString(36)}${randomBytes(2).toString('hex')}-tun`;
const nsUnderlay = `${ns}u`;

/** Runs one tunnel-device call in the namespace; its JSON answer or its error message. */
const inNs = (call: string, ...args: string[]): unknown => runIn(ns, call, ...args);

function runIn(netns: string, call: string, ...args: string[]): unknown {
  const out = execFileSync('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx', script, call, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out) as unknown;
}

function link(
  name: string,
):
  | { ifindex: number; mtu: number; flags: string[]; linkinfo: { info_kind: string; info_data: { port: number } } }
  | undefined {
  const out = execFileSync('ip', ['-n', ns, '-d', '-j', 'link', 'show'], { encoding: 'utf8' });
  return (JSON.parse(out) as { ifname: string }[]).find((l) => l.ifname === name) as never;
}

describe('the tunnel device', () => {
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
  });
  afterAll(() => {
    execFileSync('ip', ['netns', 'del', ns]);
  });

  it('is made in metadata mode on the port, without ARP, with the MTU; again it is kept as it is', () => {
    const ifindex = inNs('ensure', 'vxlan', '8472', '1450');
    const l = link('cilium_vxlan')!;
    expect(l).toMatchObject({ ifindex, mtu: 1450, linkinfo: { info_kind: 'vxlan', info_data: { port: 8472 } } });
    expect(l.flags).toEqual(expect.arrayContaining(['NOARP', 'UP']));
    expect(inNs('ensure', 'vxlan', '8472', '1450')).toBe(ifindex);
  }, 30_000);

  it('another port replaces the device; native mode removes it', () => {
    const before = link('cilium_vxlan')!.ifindex;
    const after = inNs('ensure', 'vxlan', '4789', '1450');
    expect(after).not.toBe(before);
    expect(link('cilium_vxlan')!.linkinfo.info_data.port).toBe(4789);
    expect(inNs('remove')).toEqual(['cilium_vxlan']);
    expect(link('cilium_vxlan')).toBeUndefined();
    expect(inNs('remove')).toEqual([]);
  }, 30_000);

  it('Geneve replaces VXLAN (one tunnel listens); a kernel without the driver gets the reason', () => {
    inNs('ensure', 'vxlan', '8472', '1450');
    const r = inNs('ensure', 'geneve', '6081', '1450');
    if (typeof r === 'number') {
      expect(link('cilium_geneve')).toMatchObject({ ifindex: r, linkinfo: { info_kind: 'geneve' } });
    } else {
      expect(r).toMatchObject({ code: 'AGENT_ERR_TUNNEL', message: expect.stringMatching(/CONFIG_GENEVE/) });
    }
    expect(link('cilium_vxlan')).toBeUndefined();
  }, 30_000);
});

describe("Geneve's underlay: the device holding the node's address and the next hop towards a node", () => {
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', nsUnderlay]);
    for (const a of [
      ['link', 'add', 'under0', 'mtu', '1400', 'type', 'veth', 'peer', 'name', 'under1'],
      ['addr', 'add', '172.30.5.2/24', 'dev', 'under0'],
      ['link', 'set', 'under1', 'up'],
      ['link', 'set', 'under0', 'up'],
      ['route', 'add', '172.30.9.0/24', 'via', '172.30.5.1', 'dev', 'under0'],
    ])
      execFileSync('ip', ['-n', nsUnderlay, ...a]);
  });
  afterAll(() => {
    execFileSync('ip', ['netns', 'del', nsUnderlay]);
  });

  it('finds the device and its MTU by the address; none for an address no device holds', () => {
    expect(runIn(nsUnderlay, 'holding', '172.30.5.2')).toEqual({ name: 'under0', mtu: 1400 });
    expect(runIn(nsUnderlay, 'holding', '172.30.5.3')).toBeNull();
  }, 30_000);

  it('the next hop is the gateway of a routed node, the node itself on-link', () => {
    expect(runIn(nsUnderlay, 'nexthop', '172.30.9.7', 'under0')).toBe('172.30.5.1');
    expect(runIn(nsUnderlay, 'nexthop', '172.30.5.9', 'under0')).toBe('172.30.5.9');
  }, 30_000);
});
