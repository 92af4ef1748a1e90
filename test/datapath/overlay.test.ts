// Tunnel mode on real devices: two nodes in network namespaces joined by an underlay, the endpoint
// and overlay programs attached; real TCP between pods on the two nodes. VXLAN through a
// metadata-mode cilium_vxlan device (the tunnel key helpers need a real collect_md device, so this
// runs real traffic rather than BPF_PROG_TEST_RUN); Geneve framed by the datapath itself on the
// underlay veth (geneve.test.ts has its bytes), with a large transfer for GSO.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultConfig } from '../../datapath/datapath.js';
import type { DatapathEvent } from '../../datapath/events.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { OverlayDefines, type TunnelProtocol } from '../../datapath/overlay-codecs.js';
import { OverlayDatapath } from '../../datapath/overlay-kernel.js';
import { pinRoot, removePins } from './harness.js';
import { Topology, peerScript } from './netns.js';
import { TunnelTopology, tunnelPort, type TunnelNode } from './overlay-netns.js';
import { setRules } from './policy-rules.js';

const A = { id: 201, identity: 1001 };
const B = { id: 202, identity: 2002 };
/** the identity A gets in the last test: B's policy does not admit it */
const A2 = 1003;

interface Node {
  dp: KernelDatapath;
  overlay: OverlayDatapath;
  pins: string;
  events: DatapathEvent[];
}

describe.each<TunnelProtocol>(['vxlan', 'geneve'])('%s tunnel between two nodes', (protocol) => {
  const topo = new TunnelTopology(protocol);
  /** only for its pod peers (servers, probes) and their clean-up; it creates no namespace here */
  const peers = new Topology();
  const nodes = new Map<TunnelNode, Node>();
  const node = (n: TunnelNode): Node => nodes.get(n)!;

  beforeAll(async () => {
    topo.create();
    for (const n of [topo.a, topo.b]) {
      const pins = pinRoot();
      const dp = new KernelDatapath({ pinRoot: pins, config: { ...defaultConfig, eventsRate: 0 } });
      const overlay = new OverlayDatapath({ pinRoot: pins });
      const events: DatapathEvent[] = [];
      dp.onEvent((e) => events.push(e));
      nodes.set(n, { dp, overlay, pins, events });
      const other = topo.other(n);
      const ep = n === topo.a ? A : B;
      dp.syncEndpoints([
        {
          id: ep.id,
          ips: [n.pod.ip],
          ifindex: topo.ifindex(n, n.pod.hostVeth),
          identity: ep.identity,
          ...topo.macs(n),
        },
      ]);
      // Node B does not know pod A's identity: only the VNI can tell it. Node A knows B's (A's egress policy).
      dp.syncIpcache(
        n === topo.a
          ? [{ prefix: `${topo.b.pod.ip}/32`, identity: B.identity }]
          : [{ prefix: `${n.pod.ip}/32`, identity: B.identity }],
      );
      dp.attach(topo.ifindex(n, n.pod.hostVeth), n.nsPath);
      if (protocol === 'vxlan') {
        const ifindex = overlay.attach(topo.device, n.nsPath);
        overlay.configure({ ifindex, podCidrBits: 24, protocol });
      } else {
        const ifindex = overlay.attachUnderlay(topo.underlay.get(n)!, n.nsPath);
        overlay.configure({ ifindex, podCidrBits: 24, protocol, port: tunnelPort(protocol), localIp: n.underlayIp });
      }
      overlay.syncTunnels([{ podCidr: other.podCidr, nodeIp: other.underlayIp }]);
    }
    setRules(node(topo.a).dp, A.id, [
      { identity: B.identity, direction: 'egress', protocol: 6, port: 8080 },
      { identity: B.identity, direction: 'egress', protocol: 6, port: 9090 },
      { identity: 0, direction: 'ingress', protocol: 0, port: 0 },
    ]);
    setRules(node(topo.b).dp, B.id, [
      { identity: A.identity, direction: 'ingress', protocol: 6, port: 8080 },
      { identity: OverlayDefines.IDENTITY_REMOTE_NODE, direction: 'ingress', protocol: 6, port: 9090 },
      { identity: 0, direction: 'egress', protocol: 0, port: 0 },
    ]);
    await peers.start(topo.b.pod, 'serve-tcp', '8080');
    await peers.start(topo.b.pod, 'serve-tcp', '9090');
  });

  afterAll(() => {
    try {
      for (const n of nodes.values()) {
        n.overlay.close();
        n.dp.close();
      }
    } finally {
      peers.destroy();
      topo.destroy();
      for (const n of nodes.values()) removePins(n.pins);
    }
  });

  async function waitFor<T>(fn: () => T | undefined, ms = 2000): Promise<T | undefined> {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) {
      const v = fn();
      if (v !== undefined) return v;
    }
    return undefined;
  }

  it('pod A reaches pod B through the tunnel; B admits it by the identity in the VNI', async () => {
    const before = topo.counters(topo.b, topo.deviceOf(topo.b));
    expect(await peers.probe(topo.a.pod, 'tcp', topo.b.pod, 8080)).toBe(true);
    const after = topo.counters(topo.b, topo.deviceOf(topo.b));
    // the connection crossed B's tunnel device both ways (SYN, ACK, data, FIN at least)
    expect(after.rx - before.rx).toBeGreaterThanOrEqual(3);
    expect(after.tx - before.tx).toBeGreaterThanOrEqual(2);
    // B's ingress policy does not admit A on 9090 (only the remote-node identity there)
    expect(await peers.probe(topo.a.pod, 'tcp', topo.b.pod, 9090, 500)).toBe(false);
  });

  it('carries a large transfer intact (GSO segments framed one by one)', async () => {
    const out = peers.execIn(
      topo.a.pod.ns,
      process.execPath,
      peerScript,
      'tcp-bulk',
      topo.b.pod.ip,
      '8080',
      String(16 << 20),
      '60000',
    );
    expect(JSON.parse(out)).toMatchObject({ sent: 16 << 20, received: 16 << 20, error: null });
  });

  it('reports to-overlay at the sender and from-overlay, with the carried identity, at the receiver', async () => {
    node(topo.a).events.length = 0;
    node(topo.b).events.length = 0;
    expect(await peers.probe(topo.a.pod, 'tcp', topo.b.pod, 8080)).toBe(true);
    const toOverlay = await waitFor(() =>
      node(topo.a).events.find((e) => e.type === 'trace' && e.obsPoint === OverlayDefines.TRACE_TO_OVERLAY),
    );
    expect(toOverlay).toMatchObject({ source: A.id, srcLabel: A.identity });
    const fromOverlay = await waitFor(() =>
      node(topo.b).events.find((e) => e.type === 'trace' && e.obsPoint === OverlayDefines.TRACE_FROM_OVERLAY),
    );
    expect(fromOverlay).toMatchObject({ srcLabel: A.identity });
    const verdict = await waitFor(() =>
      node(topo.b).events.find((e) => e.type === 'policy-verdict' && e.direction === 'ingress'),
    );
    expect(verdict).toMatchObject({ source: B.id, remoteLabel: A.identity, verdict: 0 });
  });

  it("node A's own stack reaches pod B through the tunnel as remote-node", async () => {
    topo.routeHostTraffic(topo.a);
    // the host's address on A's side is in A's pod CIDR: B's reply goes back through the tunnel too
    const peer = { ...topo.a.pod, ns: topo.a.ns };
    expect(await peers.probe(peer, 'tcp', topo.b.pod, 9090)).toBe(true);
    expect(await peers.probe(peer, 'tcp', topo.b.pod, 8080, 500)).toBe(false);
  });

  it("pod A reaches node B's own address through the tunnel (its ipcache entry names the tunnel endpoint)", async () => {
    const a = node(topo.a);
    a.dp.syncIpcache([
      { prefix: `${topo.b.pod.ip}/32`, identity: B.identity },
      {
        prefix: `${topo.b.underlayIp}/32`,
        identity: OverlayDefines.IDENTITY_REMOTE_NODE,
        tunnelEndpoint: topo.b.underlayIp,
      },
    ]);
    setRules(a.dp, A.id, [
      { identity: B.identity, direction: 'egress', protocol: 6, port: 8080 },
      { identity: B.identity, direction: 'egress', protocol: 6, port: 9090 },
      { identity: OverlayDefines.IDENTITY_REMOTE_NODE, direction: 'egress', protocol: 6, port: 7070 },
      { identity: 0, direction: 'ingress', protocol: 0, port: 0 },
    ]);
    topo.routeHostTraffic(topo.b);
    await peers.start({ ...topo.b.pod, ns: topo.b.ns }, 'serve-tcp', '7070');
    const before = topo.counters(topo.b, topo.deviceOf(topo.b));
    expect(await peers.probe(topo.a.pod, 'tcp', { ...topo.b.pod, ip: topo.b.underlayIp }, 7070)).toBe(true);
    expect(topo.counters(topo.b, topo.deviceOf(topo.b)).rx - before.rx).toBeGreaterThanOrEqual(3);
  });

  it('a new identity for A is carried at once: B refuses it without any ipcache change', async () => {
    const a = topo.a;
    node(a).dp.syncEndpoints([
      { id: A.id, ips: [a.pod.ip], ifindex: topo.ifindex(a, a.pod.hostVeth), identity: A2, ...topo.macs(a) },
    ]);
    node(topo.b).events.length = 0;
    expect(await peers.probe(a.pod, 'tcp', topo.b.pod, 8080, 500)).toBe(false);
    const drop = await waitFor(() => node(topo.b).events.find((e) => e.type === 'drop'));
    expect(drop).toMatchObject({ source: B.id, srcLabel: A2, reasonName: 'POLICY_DENIED' });
  });

  it('the tunnel map sync writes only differences and lists the entries', () => {
    const o = node(topo.a).overlay;
    const same = [{ podCidr: topo.b.podCidr, nodeIp: topo.b.underlayIp }];
    expect(o.syncTunnels(same)).toEqual({ added: 0, updated: 0, removed: 0, unchanged: 1 });
    expect(o.dumpTunnels()).toEqual([{ prefix: '10.201.2.0', nodeIp: topo.b.underlayIp }]);
    // a second overlay object on the same pins sees the same map and configuration (agent restart)
    const again = new OverlayDatapath({ pinRoot: node(topo.a).pins });
    try {
      expect(again.syncTunnels(same)).toEqual({ added: 0, updated: 0, removed: 0, unchanged: 1 });
      expect(again.configure({ ...again.settings(), protocol })).toBe(false);
    } finally {
      again.close();
    }
  });
});
