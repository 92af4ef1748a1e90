// The L7 redirect on veth pairs: an allow entry with a proxy port hands the connection to a
// transparent listener in the node's namespace (bpf_sk_assign), which sees the original destination
// as its local address; replies reach the pod through conntrack.
// Egress (from-container), ingress on the routed path (to-container sends the packet back in through
// the host veth) and ingress in local delivery; no proxy socket → DROP_PROXY_LOOKUP_FAILED.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadAddon } from '../../datapath/addon.js';
import { PROXY_PORTS, TracePoint } from '../../datapath/constants.js';
import { defaultConfig, type ResolvedEntry } from '../../datapath/datapath.js';
import type { DatapathEvent } from '../../datapath/events.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { pinRoot, removePins } from './harness.js';
import { Topology } from './netns.js';

const A = { id: 111, identity: 1101 };
const B = { id: 112, identity: 2202 };

const topo = new Topology();
const pins = pinRoot();
let dp: KernelDatapath;
let proxy: net.Server | undefined;
const events: DatapathEvent[] = [];

interface Accepted {
  local: string;
  localPort: number;
  remote: string;
}
const accepted: Accepted[] = [];

const allow = (
  identity: number,
  direction: 'ingress' | 'egress',
  port: number,
  l7?: 'http' | 'dns',
): ResolvedEntry => ({
  identity,
  direction,
  protocol: 6,
  portPrefix: { port, prefixLen: 16 },
  verdict: 'allow',
  ...(l7 ? { l7 } : {}),
});

function policies(a: ResolvedEntry[], b: ResolvedEntry[]): void {
  dp.writePolicy(
    new Map([
      [A.id, { mode: 'swap', entries: a }],
      [B.id, { mode: 'swap', entries: b }],
    ]),
  );
}

beforeAll(async () => {
  topo.create();
  // as the agent sets up its node: marked packets are delivered locally (upstream's table 2004)
  execFileSync('ip', ['-n', topo.node, 'rule', 'add', 'fwmark', '0x200/0xf00', 'lookup', '2004', 'pref', '9']);
  execFileSync('ip', ['-n', topo.node, 'route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '2004']);
  // Routed packets of a proxied connection must not meet the proxy's sockets before to-container
  // sends them in: early demux would attach the proxy's socket and the forward path drops such packets.
  execFileSync('ip', ['netns', 'exec', topo.node, 'sysctl', '-qw', 'net.ipv4.tcp_early_demux=0']);
  dp = new KernelDatapath({ pinRoot: pins, config: { ...defaultConfig } });
  dp.onEvent((e) => events.push(e));
  dp.syncEndpoints([topo.endpoint(topo.a, A, false), topo.endpoint(topo.b, B, false)]);
  dp.syncIpcache([
    { prefix: topo.a.ip, identity: A.identity },
    { prefix: topo.b.ip, identity: B.identity },
    { prefix: topo.a.gw, identity: 1 },
    { prefix: topo.b.gw, identity: 1 },
  ]);
  dp.attach(topo.ifindex(topo.a), topo.nodePath);
  dp.attach(topo.ifindex(topo.b), topo.nodePath);
  await topo.start(topo.b, 'serve-tcp', '8080');
  await topo.start(topo.b, 'serve-tcp', '9090');
  const addon = loadAddon();
  const fd = addon.transparentListen(topo.nodePath, 4, 'tcp', '0.0.0.0', PROXY_PORTS.http);
  proxy = net.createServer((s) => {
    accepted.push({
      local: s.localAddress ?? '',
      localPort: s.localPort ?? 0,
      remote: s.remoteAddress ?? '',
    });
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((resolve) => proxy!.listen({ fd }, resolve));
});

afterAll(async () => {
  try {
    await new Promise((r) => (proxy ? proxy.close(r) : r(undefined)));
    dp?.close();
  } finally {
    topo.destroy();
    removePins(pins);
  }
});

describe('L7 redirect to a transparent proxy in the node namespace', () => {
  it('egress: the pod reaches the proxy, which sees the original destination and the source identity', async () => {
    policies([allow(B.identity, 'egress', 8080, 'http')], [allow(A.identity, 'ingress', 8080)]);
    accepted.length = 0;
    events.length = 0;
    expect(await topo.probe(topo.a, 'tcp', topo.b, 8080)).toBe(true);
    expect(accepted).toHaveLength(1);
    const c = accepted[0]!;
    expect({ local: c.local, localPort: c.localPort, remote: c.remote }).toEqual({
      local: topo.b.ip,
      localPort: 8080,
      remote: topo.a.ip,
    });
    // the first packet was traced TO_PROXY with the source identity (the mark carries it too)
    // events come through the ring buffer's poll, maybe after the probe returned
    const toProxy = () => events.find((e) => e.type === 'trace' && e.obsPoint === TracePoint.toProxy);
    for (let waited = 0; !toProxy() && waited < 2000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(toProxy()).toMatchObject({
      source: A.id,
      srcLabel: A.identity,
    });
    // without the redirect the same connection goes to the pod's server, not the proxy
    policies([allow(B.identity, 'egress', 8080)], [allow(A.identity, 'ingress', 8080)]);
    expect(await topo.probe(topo.a, 'tcp', topo.b, 8080)).toBe(true);
    expect(accepted).toHaveLength(1);
  });

  it('ingress on the routed path: to-container sends it back in for the proxy', async () => {
    policies([allow(B.identity, 'egress', 9090)], [allow(A.identity, 'ingress', 9090, 'http')]);
    accepted.length = 0;
    expect(await topo.probe(topo.a, 'tcp', topo.b, 9090)).toBe(true);
    expect(accepted.map((c) => [c.local, c.localPort, c.remote])).toEqual([[topo.b.ip, 9090, topo.a.ip]]);
  });

  it('ingress in local delivery: the source program hands it to the proxy', async () => {
    dp.syncEndpoints([topo.endpoint(topo.a, A, true), topo.endpoint(topo.b, B, true)]);
    try {
      policies([allow(B.identity, 'egress', 9090)], [allow(A.identity, 'ingress', 9090, 'http')]);
      accepted.length = 0;
      expect(await topo.probe(topo.a, 'tcp', topo.b, 9090)).toBe(true);
      expect(accepted.map((c) => [c.local, c.localPort, c.remote])).toEqual([[topo.b.ip, 9090, topo.a.ip]]);
    } finally {
      dp.syncEndpoints([topo.endpoint(topo.a, A, false), topo.endpoint(topo.b, B, false)]);
    }
  });

  it('a SYN sent again after the first found no proxy reaches the proxy once it listens (agent restart)', async () => {
    // ingress on the routed path, to the DNS proxy's port: nobody listens there yet, so the first SYN
    // is dropped after to-container made its conntrack entry
    policies([allow(B.identity, 'egress', 9090)], [allow(A.identity, 'ingress', 9090, 'dns')]);
    const late: string[] = [];
    const probing = topo.probe(topo.a, 'tcp', topo.b, 9090, 6000);
    await sleep(400);
    const fd = loadAddon().transparentListen(topo.nodePath, 4, 'tcp', '0.0.0.0', PROXY_PORTS.dns);
    const second = net.createServer((s) => {
      late.push(`${s.localAddress}:${s.localPort}`);
      s.on('error', () => {});
      s.pipe(s);
    });
    await new Promise<void>((resolve) => second.listen({ fd }, resolve));
    try {
      expect(await probing).toBe(true);
      expect(late).toEqual([`${topo.b.ip}:9090`]);
    } finally {
      await new Promise((r) => second.close(r));
    }
  });

  it('a redirect with no proxy socket drops with DROP_PROXY_LOOKUP_FAILED', async () => {
    policies([allow(B.identity, 'egress', 8080, 'dns')], [allow(A.identity, 'ingress', 8080)]);
    events.length = 0;
    expect(await topo.probe(topo.a, 'tcp', topo.b, 8080, 500)).toBe(false);
    let drop: DatapathEvent | undefined;
    for (let i = 0; i < 100 && !drop; i++, await sleep(20))
      drop = events.find((e) => e.type === 'drop' && e.source === A.id);
    expect(drop).toMatchObject({ reason: 178, reasonName: 'SOCKET_LOOKUP_FAILED', srcLabel: A.identity });
  });
});
