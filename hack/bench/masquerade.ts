// Benchmark: masquerading. New TCP connections per second from a pod to a server outside the pod
// network, side by side in one run (rounds interleaved, medians), through the same three network
// namespaces (pod — node — outside) and the same tc programs on the node's device:
//   - routed:   no masquerading, the outside routes the pod CIDR back via the node (the baseline);
//   - bpf:      BPF masquerading (datapath/bpf/snat.h in nodeport.bpf.c), the outside has no need
//               of that route;
//   - iptables: a MASQUERADE rule in the node (controllers/agent/masquerade/iptables.ts's rule).
// Each connection: connect, read the server's first line (`peer <addr>:<port>`), close (by RST). The first
// line of every masqueraded round must name the node's address, else the run fails.
//   npm run bench:masquerade [-- --seconds 3 --rounds 5]
// Needs root and python3. Everything lives in namespaces and a bpffs directory made for the run,
// removed at the end (on failure too).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { compiledEntry, PINNED_NODE } from '../../cdk8s/process-launch.js';
import { ruleArgs } from '../../controllers/agent/masquerade/iptables.js';
import { loadAddon } from '../../datapath/addon.js';
import { endpointInfo, endpointKey } from '../../datapath/codecs.js';
import { Family } from '../../datapath/constants.js';
import { parseIp } from '../../datapath/ip.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { KernelLoadBalancer } from '../../datapath/lb-kernel.js';
import { NodePortDatapath } from '../../datapath/nodeport-kernel.js';
import { SnatTable } from '../../datapath/snat-kernel.js';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, rounds: { type: 'string' } } });
const SECONDS = Number(values.seconds ?? 3);
const ROUNDS = Number(values.rounds ?? 5);

const id = randomBytes(3).toString('hex');
const NS = { pod: `ktsmb${id}-pod`, node: `ktsmb${id}-node`, out: `ktsmb${id}-out` };
const POD_IP = '10.251.0.5';
const POD_GW = '10.251.0.1';
const POD_NET = '10.251.0.0/16';
const NODE_IP = '192.168.251.1';
const OUT_IP = '192.168.251.2';
const PORT = 7000;
const pins = `/sys/fs/bpf/kts-bench-masq-${id}`;

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
const inNs = (ns: string, ...cmd: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...cmd], { stdio: 'pipe' });

function topology(): void {
  for (const n of Object.values(NS)) {
    ip('netns', 'add', n);
    ip('-n', n, 'link', 'set', 'lo', 'up');
  }
  ip('-n', NS.node, 'link', 'add', 'lxc0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.pod);
  ip('-n', NS.node, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.out);
  ip('-n', NS.pod, 'addr', 'add', `${POD_IP}/24`, 'dev', 'eth0');
  ip('-n', NS.node, 'addr', 'add', `${POD_GW}/24`, 'dev', 'lxc0');
  ip('-n', NS.node, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'eth0');
  ip('-n', NS.out, 'addr', 'add', `${OUT_IP}/24`, 'dev', 'eth0');
  for (const [n, d] of [
    [NS.pod, 'eth0'],
    [NS.node, 'lxc0'],
    [NS.node, 'eth0'],
    [NS.out, 'eth0'],
  ] as const)
    ip('-n', n, 'link', 'set', d, 'up');
  ip('-n', NS.pod, 'route', 'add', 'default', 'via', POD_GW);
  inNs(NS.node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  // the baseline's route back; masqueraded rounds never need it (their replies go to the node)
  ip('-n', NS.out, 'route', 'add', POD_NET, 'via', NODE_IP);
}

function cleanup(server?: ChildProcess): void {
  server?.kill('SIGKILL');
  for (const n of Object.values(NS)) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
  rmSync(pins, { recursive: true, force: true });
}

const CLIENT = `
import socket, struct, time
end = time.time() + ${SECONDS}
n = 0
first = None
while time.time() < end:
    s = socket.create_connection(('${OUT_IP}', ${PORT}), timeout=3)
    line = s.makefile().readline().strip()
    if first is None: first = line
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))  # RST: no TIME_WAIT to run out of ports
    s.close()
    n += 1
print(n, first)
`;

/**
 * Each mode's connections use source ports of their own: the node's kernel conntrack keeps a
 * closed flow (TIME_WAIT) with the NAT it had, and a new flow on the same tuple would take the
 * other mode's translation.
 */
const PORTS = { routed: '20000 29999', iptables: '30000 39999', bpf: '40000 59999' } as const;

function round(mode: keyof typeof PORTS): { rate: number; peer: string } {
  inNs(NS.pod, 'sysctl', '-qw', `net.ipv4.ip_local_port_range=${PORTS[mode]}`);
  const out = inNs(NS.pod, 'python3', '-c', CLIENT).toString().trim();
  const [n, , peer] = out.split(' ');
  return { rate: Number(n) / SECONDS, peer: (peer ?? '').split(':')[0]! };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  let server: ChildProcess | undefined;
  let np: NodePortDatapath | undefined;
  let lb: KernelLoadBalancer | undefined;
  let dp: KernelDatapath | undefined;
  try {
    topology();
    server = spawn(
      'ip',
      ['netns', 'exec', NS.out, PINNED_NODE, compiledEntry('devcluster/nodes/outside-echo.ts'), String(PORT)],
      { stdio: 'ignore' },
    );
    dp = new KernelDatapath({ pinRoot: pins, readEvents: false });
    lb = new KernelLoadBalancer({ pinRoot: pins });
    np = new NodePortDatapath({ pinRoot: pins });
    const key = endpointKey.encode({ ip: parseIp(POD_IP).bytes, family: Family.ipv4 });
    loadAddon().mapUpdate(np.mapFd('cilium_lxc'), key, endpointInfo.encode({ ifindex: 1, lxcId: 1 }), 0);
    np.attach('eth0', `/var/run/netns/${NS.node}`);
    const snat = new SnatTable(np);
    const rule = ruleArgs({ podCidr: POD_NET, excludeCidr: POD_NET, device: 'eth0' });
    const modes = {
      routed: () => snat.configure({ enabled: false, nodeAddress: NODE_IP, excludeCidr: POD_NET }),
      bpf: () => snat.configure({ enabled: true, nodeAddress: NODE_IP, excludeCidr: POD_NET }),
      iptables: () => {
        snat.configure({ enabled: false, nodeAddress: NODE_IP, excludeCidr: POD_NET });
        inNs(NS.node, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', ...rule);
      },
    };
    const undo = () => spawnSync('ip', ['netns', 'exec', NS.node, 'iptables', '-t', 'nat', '-F', 'POSTROUTING']);
    // the server listening (node starts slowly on a loaded machine)
    for (
      let i = 0;
      i < 100 && spawnSync('ip', ['netns', 'exec', NS.out, 'ss', '-Hltn', `sport = :${PORT}`]).stdout.length === 0;
      i++
    )
      await new Promise((r) => setTimeout(r, 100));
    const rates: Record<keyof typeof modes, number[]> = { routed: [], bpf: [], iptables: [] };
    for (let r = 0; r < ROUNDS; r++)
      for (const m of Object.keys(modes) as (keyof typeof modes)[]) {
        modes[m]();
        const got = round(m);
        undo();
        const want = m === 'routed' ? POD_IP : NODE_IP;
        if (got.peer !== want) throw new Error(`${m}: the outside saw ${got.peer}, not ${want}`);
        rates[m].push(got.rate);
      }
    const base = median(rates.routed);
    console.log(
      `masquerade bench: ${ROUNDS} rounds × ${SECONDS} s per mode, interleaved; load ${loadavg()[0]!.toFixed(1)}`,
    );
    for (const m of Object.keys(rates) as (keyof typeof rates)[])
      console.log(
        `  ${m.padEnd(9)} ${median(rates[m]).toFixed(0).padStart(6)} conn/s (median; rounds ${rates[m].map((x) => x.toFixed(0)).join(' ')})  ratio vs routed ${(median(rates[m]) / base).toFixed(3)}`,
      );
    console.log(`  bpf / iptables ${(median(rates.bpf) / median(rates.iptables)).toFixed(3)}`);
  } finally {
    np?.close();
    lb?.close();
    dp?.close();
    cleanup(server);
  }
}

await main();
