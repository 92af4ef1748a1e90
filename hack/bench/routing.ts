// Routing benchmark (issue 19): tunnel (VXLAN or Geneve) vs native routing between pods on two nodes,
// in one run on one machine, so only the ratios mean something (targets: tunnel ≥ 0.9 of native for
// throughput and for new connections/s). Nothing is asserted in tests.
//   npm run bench:routing -- [--protocol vxlan|geneve] [--seconds 5] [--rounds 3]
// Two node namespaces joined by an underlay veth (test/datapath/overlay-netns.ts), a pod on each,
// the endpoint programs on both pods' veths with allow-all policies. Native: each node routes the
// other's pod CIDR via its underlay address, and the tunnel is off. Tunnel: no such route; the
// endpoint programs encapsulate to cilium_vxlan, or frame Geneve themselves onto the underlay veth. Rounds alternate, so drift in load hits both.
// Needs root and iperf3 (hack/setup.sh). Nothing touches the host's interfaces.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultConfig } from '../../datapath/datapath.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { OverlayDatapath } from '../../datapath/overlay-kernel.js';
import { pinRoot, removePins } from '../../test/datapath/harness.js';
import type { TunnelProtocol } from '../../datapath/overlay-codecs.js';
import { TunnelTopology, tunnelPort, type TunnelNode } from '../../test/datapath/overlay-netns.js';
import { setRules } from '../../test/datapath/policy-rules.js';

const arg = (name: string): string | undefined =>
  process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined;
const seconds = Number(arg('--seconds')) || 5;
const rounds = Number(arg('--rounds')) || 3;
const protocol = (arg('--protocol') ?? 'vxlan') as TunnelProtocol;
if (protocol !== 'vxlan' && protocol !== 'geneve')
  throw new Error(`--protocol must be vxlan or geneve, not ${protocol}`);

const ACCEPTOR = `
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 9000)); s.listen(4096); print('ready', flush=True)
while True:
    c, _ = s.accept(); c.close()`;
const CONNECTOR = (ip: string, secs: number) => `
import socket, time
n = 0; end = time.time() + ${secs}
while time.time() < end:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00')
    s.connect(('${ip}', 9000)); s.close(); n += 1
print(n / ${secs})`;

const topo = new TunnelTopology(protocol);
const children: ChildProcess[] = [];
const pins: string[] = [];
const nodes = new Map<TunnelNode, { dp: KernelDatapath; overlay: OverlayDatapath; ifindex: number }>();

function inNs(ns: string, cmd: string, ...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

function background(ns: string, cmd: string, ...args: string[]): Promise<void> {
  const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
  children.push(c);
  return new Promise((resolve) => c.stdout!.once('data', () => resolve()));
}

function mode(m: 'native' | 'tunnel'): void {
  for (const [n, x] of nodes) {
    const other = topo.other(n);
    // as the agent gives pods in each mode: the device's MTU, minus the 50 bytes of tunnel headers
    const mtu = m === 'tunnel' ? '1450' : '1500';
    execFileSync('ip', ['-n', n.pod.ns, 'link', 'set', 'eth0', 'mtu', mtu]);
    execFileSync('ip', ['-n', n.ns, 'link', 'set', n.pod.hostVeth, 'mtu', mtu]);
    if (m === 'native') {
      execFileSync('ip', ['-n', n.ns, 'route', 'replace', other.podCidr, 'via', other.underlayIp]);
      x.overlay.configure({ ifindex: 0, podCidrBits: 24, protocol });
      // native routing has no filter on the underlay: Geneve's leave with the tunnel
      if (protocol === 'geneve') x.overlay.detachUnderlay(topo.underlay.get(n)!, n.nsPath);
    } else {
      try {
        execFileSync('ip', ['-n', n.ns, 'route', 'del', other.podCidr], { stdio: 'ignore' });
      } catch {
        // already the tunnel's (two tunnel rounds in a row)
      }
      if (protocol === 'geneve') x.overlay.attachUnderlay(topo.underlay.get(n)!, n.nsPath);
      x.overlay.configure({
        ifindex: x.ifindex,
        podCidrBits: 24,
        protocol,
        ...(protocol === 'geneve' ? { port: tunnelPort(protocol), localIp: n.underlayIp } : {}),
      });
    }
  }
}

function iperf(): number {
  const out = inNs(topo.a.pod.ns, 'iperf3', '-c', topo.b.pod.ip, '-t', String(seconds), '-J');
  return (
    (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9
  );
}

function connsPerSecond(): number {
  return Number(inNs(topo.a.pod.ns, 'python3', '-c', CONNECTOR(topo.b.pod.ip, seconds)).trim());
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  topo.create();
  for (const [n, ep] of [
    [topo.a, { id: 401, identity: 1001 }],
    [topo.b, { id: 402, identity: 2002 }],
  ] as const) {
    const root = pinRoot();
    pins.push(root);
    const dp = new KernelDatapath({ pinRoot: root, config: { ...defaultConfig }, readEvents: false });
    const overlay = new OverlayDatapath({ pinRoot: root });
    const other = topo.other(n);
    dp.syncEndpoints([
      { id: ep.id, ips: [n.pod.ip], ifindex: topo.ifindex(n, n.pod.hostVeth), identity: ep.identity, ...topo.macs(n) },
    ]);
    dp.syncIpcache([
      { prefix: `${n.pod.ip}/32`, identity: ep.identity },
      { prefix: `${other.pod.ip}/32`, identity: ep.identity === 1001 ? 2002 : 1001 },
    ]);
    setRules(dp, ep.id, [
      { identity: 0, direction: 'ingress', protocol: 0, port: 0 },
      { identity: 0, direction: 'egress', protocol: 0, port: 0 },
    ]);
    dp.attach(topo.ifindex(n, n.pod.hostVeth), n.nsPath);
    const ifindex =
      protocol === 'vxlan'
        ? overlay.attach(topo.device, n.nsPath)
        : overlay.attachUnderlay(topo.underlay.get(n)!, n.nsPath);
    overlay.syncTunnels([{ podCidr: other.podCidr, nodeIp: other.underlayIp }]);
    nodes.set(n, { dp, overlay, ifindex });
  }
  await background(topo.b.pod.ns, 'iperf3', '-s', '--forceflush');
  await background(topo.b.pod.ns, 'python3', '-u', '-c', ACCEPTOR);
  const r = {
    native: { gbit: [] as number[], conns: [] as number[] },
    tunnel: { gbit: [] as number[], conns: [] as number[] },
  };
  execFileSync('ip', ['-n', topo.a.ns, 'route', 'replace', topo.b.podCidr, 'via', topo.b.underlayIp]);
  execFileSync('ip', ['-n', topo.b.ns, 'route', 'replace', topo.a.podCidr, 'via', topo.a.underlayIp]);
  console.log(
    `routing bench (${protocol}): ${rounds} rounds × ${seconds} s per figure; load average before ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (let i = 0; i < rounds; i++)
    for (const m of i % 2 ? (['tunnel', 'native'] as const) : (['native', 'tunnel'] as const)) {
      mode(m);
      await sleep(200);
      r[m].gbit.push(iperf());
      r[m].conns.push(connsPerSecond());
      console.log(
        `  round ${i + 1} ${m.padEnd(6)} ${r[m].gbit.at(-1)!.toFixed(2)} Gbit/s, ${r[m].conns.at(-1)!.toFixed(0)} conn/s`,
      );
    }
  const row = (name: string, n: number, t: number, unit: string) =>
    console.log(
      `${name.padEnd(28)} native ${n.toFixed(unit === 'Gbit/s' ? 2 : 0).padStart(8)} ${unit}  tunnel ${t.toFixed(unit === 'Gbit/s' ? 2 : 0).padStart(8)} ${unit}  tunnel/native ${(t / n).toFixed(3)}`,
    );
  console.log('medians:');
  row('iperf3 throughput', median(r.native.gbit), median(r.tunnel.gbit), 'Gbit/s');
  row('new TCP connections/s', median(r.native.conns), median(r.tunnel.conns), 'conn/s');
  console.log(
    `load average after ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

try {
  await main();
} finally {
  for (const c of children)
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  for (const x of nodes.values()) {
    x.overlay.close();
    x.dp.close();
  }
  topo.destroy();
  for (const p of pins) removePins(p);
}
