// Benchmark: Service load balancing. New TCP connections per second from one client, side by side
// in one run (rounds interleaved, medians):
//   - socket-LB (cgroup programs of datapath/bpf/sock_lb.bpf.c, maps holding N Services): straight
//     to the backend IP, and through the ClusterIP of the first and of the last Service;
//   - kube-proxy's iptables mode rebuilt faithfully with the same N Services (KUBE-SERVICES →
//     KUBE-SVC → KUBE-SEP, kubernetes pkg/proxy/iptables/proxier.go), in namespaces of its own
//     without our programs: straight to the backend IP (its first packet still walks
//     KUBE-SERVICES), and through the first and the last ClusterIP.
// Topology (`--topology pods`, the default): as on a node, the client and the backend are pods —
// each in a network namespace of its own behind a veth — and a third namespace is the node that
// routes between them, so kube-proxy's rules run where they run on a node (nat PREROUTING, filter
// FORWARD). `--topology host` puts client, node and backend in one namespace (nat OUTPUT).
// Then iperf3 throughput through a ClusterIP vs straight to the backend (socket-LB), and the
// agent's reconciler with N Services in the kernel maps: one EndpointSlice change → maps written,
// p50/p99 over --changes changes. --latency-only / --throughput-only run just that part.
//   npm run bench:services [-- --services 10000 --seconds 3 --rounds 5 --changes 200]
// Needs root, nginx and wrk (hack/setup.sh installs them).
// Everything lives in network namespaces and one cgroup made for the run, removed at the end.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Registry } from 'prom-client';
import { ServiceLoadBalancer, sliceIndexers } from '../../controllers/agent/services/reconciler.js';
import type { EndpointSliceObject, ServiceObject } from '../../controllers/agent/services/translate.js';
import { Store } from '../../controllers/framework/index.js';
import type { LbService } from '../../datapath/lb.js';
import { KernelLoadBalancer } from '../../datapath/lb-kernel.js';
import { cgroup2Mount } from '../../devcluster/nodes/cgroups.js';

const { values } = parseArgs({
  options: {
    services: { type: 'string' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    changes: { type: 'string' },
    /** only the change → maps latency (no namespaces, nginx or wrk): for profiling the reconciler */
    'latency-only': { type: 'boolean' },
    /** only the iperf3 throughput through a ClusterIP vs straight to the backend */
    'throughput-only': { type: 'boolean' },
    /** `pods` (client and backend in pod namespaces routed by a node namespace) or `host` (one namespace) */
    topology: { type: 'string' },
    /** kube-proxy's iptables backend: `nft` (iptables-nft, Debian 12's default) or `legacy` (xtables) */
    iptables: { type: 'string' },
    /**
     * the client: `wrk` (HTTP requests with `Connection: close` to nginx), `connect` (bare TCP connects to
     * an accept-and-close server, hack/bench/connect_rate.c: the kernel's per-connection work alone), or `both`
     */
    client: { type: 'string' },
    /**
     * bare connects: every variant from the one client address (as before 2026-12-04) instead of an address of
     * its own, so that a NAT'd variant meets the reply tuples an earlier variant left in conntrack (see
     * connect_rate.c); for comparing with earlier runs only
     */
    'shared-source': { type: 'boolean' },
  },
});
const N = Number(values.services ?? 10_000);
const SECONDS = Number(values.seconds ?? 3);
const ROUNDS = Number(values.rounds ?? 5);
const CHANGES = Number(values.changes ?? 200);

const tag = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
const TOPOLOGY = values.topology ?? 'pods';
const IPTABLES = values.iptables ?? 'nft';
const CLIENTS = values.client === 'both' || values.client === undefined ? ['wrk', 'connect'] : [values.client];
for (const c of CLIENTS)
  if (c !== 'wrk' && c !== 'connect') throw new Error(`--client must be wrk, connect or both, not ${c}`);
if (IPTABLES !== 'nft' && IPTABLES !== 'legacy') throw new Error(`--iptables must be nft or legacy, not ${IPTABLES}`);
if (TOPOLOGY !== 'pods' && TOPOLOGY !== 'host') throw new Error(`--topology must be pods or host, not ${TOPOLOGY}`);
/** The namespaces of one side of the comparison: the client pod, the node between, the backend pod. */
interface Side {
  client: string;
  node: string;
  server: string;
}
const side = (name: string): Side =>
  TOPOLOGY === 'host'
    ? { client: `kts-bsvc-${tag}-${name}`, node: `kts-bsvc-${tag}-${name}`, server: `kts-bsvc-${tag}-${name}` }
    : { client: `kts-bsvc-${tag}-${name}c`, node: `kts-bsvc-${tag}-${name}n`, server: `kts-bsvc-${tag}-${name}s` };
const lbSide = side('lb');
const kpSide = side('kp');
const CLIENT = '10.1.0.2';
/** The client pod's own address per connection-rate variant (pods topology, bare connects). */
const variantSource = (i: number) => `10.1.0.${10 + i}`;
const VARIANTS = 7;
const cgroup = join(cgroup2Mount() ?? '/sys/fs/cgroup/unified', `kts-bsvc-${tag}`);
const pins = `/sys/fs/bpf/kts-bsvc-${tag}`;
const work = join(tmpdir(), `kts-bsvc-${tag}`);
const BACKEND = '10.201.0.1';
const vip = (i: number) => `10.96.${(i >> 8) & 0xff}.${i & 0xff}`;
const children: ChildProcess[] = [];

const nginxConf = (dir: string) => `master_process off; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server { listen ${BACKEND}:8080 backlog=4096; location / { return 200 "ok"; } } }\n`;

const ip = (...a: string[]) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] });

const namespaces: string[] = [];

function netns(name: string): void {
  ip('netns', 'add', name);
  namespaces.push(name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
}

/** Creates one side's namespaces: the backend address on the server, routes through the node. */
function topology(s: Side): void {
  if (TOPOLOGY === 'host') {
    netns(s.node);
    ip('-n', s.node, 'addr', 'add', `${BACKEND}/32`, 'dev', 'lo');
    // the ClusterIP range is routed (nowhere); OUTPUT's DNAT reroutes to the backend
    ip('-n', s.node, 'route', 'add', '10.96.0.0/16', 'dev', 'lo');
    return;
  }
  for (const ns of [s.client, s.node, s.server]) netns(ns);
  execFileSync('ip', ['netns', 'exec', s.node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const pod = (ns: string, hostSide: string, addr: string, gw: string) => {
    ip('-n', s.node, 'link', 'add', hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('-n', s.node, 'addr', 'add', `${gw}/24`, 'dev', hostSide);
    ip('-n', s.node, 'link', 'set', hostSide, 'up');
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'route', 'add', 'default', 'via', gw);
  };
  pod(s.client, 'lxcclient', CLIENT, '10.1.0.1');
  for (let i = 0; i < VARIANTS; i++) ip('-n', s.client, 'addr', 'add', `${variantSource(i)}/24`, 'dev', 'eth0');
  pod(s.server, 'lxcserver', BACKEND, '10.201.0.254');
}

/** Starts the backend on BACKEND:8080 in `ns`: nginx for wrk, connect_rate's accept-and-close server otherwise. */
async function startServer(ns: string, client: string): Promise<ChildProcess> {
  const dir = join(work, ns);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir));
  const argv =
    client === 'wrk'
      ? ['nginx', '-c', join(dir, 'nginx.conf'), '-p', dir]
      : [connectRateBinary(), 'serve', BACKEND, '8080'];
  const p = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: 'ignore' });
  children.push(p);
  await new Promise((r) => setTimeout(r, 500));
  return p;
}

async function stopServer(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

let connectRate: string | undefined;
/** Compiles hack/bench/connect_rate.c once per run. */
function connectRateBinary(): string {
  if (!connectRate) {
    connectRate = join(work, 'connect_rate');
    execFileSync('cc', ['-O2', '-o', connectRate, fileURLToPath(new URL('./connect_rate.c', import.meta.url))]);
  }
  return connectRate;
}

/**
 * Bare TCP connects per second (connect_rate.c, 32 in flight) from `ns`, in the bench cgroup when `inCgroup`,
 * from the client's address `source` when given.
 */
function connects(ns: string, target: string, port: number, inCgroup: boolean, source?: string): number {
  const join_ = inCgroup ? `echo $$ > ${cgroup}/cgroup.procs && ` : '';
  const r = spawnSync(
    'sh',
    [
      '-c',
      `${join_}exec ip netns exec ${ns} ${connectRateBinary()} client ${target} ${port} ${SECONDS} 32 ${source ?? ''}`,
    ],
    { encoding: 'utf8' },
  );
  const rate_ = Number(/connects\/s:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
  if (r.status !== 0 || !(rate_ > 0))
    throw new Error(`connect_rate to ${target}:${port} failed: ${r.stdout}${r.stderr}`);
  return rate_;
}

/**
 * The client namespace's count of retransmitted SYNs (TcpExt TCPSynRetrans): a SYN the path dropped costs the
 * connect a 1 s timeout, which dominates a connection rate wherever it happens.
 */
function synRetransmits(ns: string): number {
  const lines = execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/netstat'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.startsWith('TcpExt:'));
  const [names, vals] = lines.map((l) => l.split(/\s+/));
  const i = names?.indexOf('TCPSynRetrans') ?? -1;
  return i > 0 ? Number(vals?.[i] ?? 0) : 0;
}

/** New connections per second (wrk, 32 connections, `Connection: close`) from `ns`, in the bench cgroup when `inCgroup`. */
function rate(ns: string, target: string, port: number, inCgroup: boolean): number {
  const join_ = inCgroup ? `echo $$ > ${cgroup}/cgroup.procs && ` : '';
  const url = `http://${target}:${port}/`;
  const r = spawnSync(
    'sh',
    ['-c', `${join_}exec ip netns exec ${ns} wrk -t1 -c32 -d${SECONDS}s -H 'Connection: close' ${url}`],
    { encoding: 'utf8' },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
  if (r.status !== 0 || !(rps > 0) || /Socket errors/.test(r.stdout))
    throw new Error(`wrk to ${url} failed: ${r.stdout}${r.stderr}`);
  return rps;
}

/** base32 (RFC 4648, no padding) as kube-proxy's chain names use it. */
function base32(b: Buffer): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let v = 0;
  let out = '';
  for (const x of b) {
    v = (v << 8) | x;
    bits += 8;
    while (bits >= 5) {
      out += A[(v >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}
const chain = (prefix: string, s: string) => `${prefix}${base32(createHash('sha256').update(s).digest()).slice(0, 16)}`;

/** kube-proxy's nat table for N one-port Services, each with one endpoint (proxier.go, ≈v1.30). */
function kubeProxyRules(): string {
  const l = [
    '*nat',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-POSTROUTING - [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
    ':KUBE-NODEPORTS - [0:0]',
  ];
  const rules: string[] = [];
  for (let i = 0; i < N; i++) {
    const name = `bench/svc-${i}:http`;
    const svc = chain('KUBE-SVC-', `${name}tcp`);
    const sep = chain('KUBE-SEP-', `${name}tcp${BACKEND}:8080`);
    l.push(`:${svc} - [0:0]`, `:${sep} - [0:0]`);
    rules.push(
      `-A KUBE-SERVICES -m comment --comment "${name} cluster IP" -m tcp -p tcp -d ${vip(i)}/32 --dport 80 -j ${svc}`,
      `-A ${svc} ! -s 10.0.0.0/8 -d ${vip(i)}/32 -m comment --comment "${name} cluster IP" -m tcp -p tcp --dport 80 -j KUBE-MARK-MASQ`,
      `-A ${svc} -m comment --comment "${name} -> ${BACKEND}:8080" -j ${sep}`,
      `-A ${sep} -m comment --comment "${name}" -s ${BACKEND}/32 -j KUBE-MARK-MASQ`,
      `-A ${sep} -m comment --comment "${name}" -m tcp -p tcp -j DNAT --to-destination ${BACKEND}:8080`,
    );
  }
  return [
    ...l,
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    ...rules,
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    'COMMIT',
    // filter: the jump chains kube-proxy inserts (proxier.go iptablesJumpChains) and KUBE-FORWARD; its
    // KUBE-SERVICES here stays empty (every Service has an endpoint, so nothing is rejected)
    '*filter',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-EXTERNAL-SERVICES - [0:0]',
    ':KUBE-FORWARD - [0:0]',
    ':KUBE-NODEPORTS - [0:0]',
    ':KUBE-PROXY-FIREWALL - [0:0]',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    'COMMIT',
    '',
  ].join('\n');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

function lbServices(): LbService[] {
  return Array.from({ length: N }, (_, i) => ({
    frontend: { address: vip(i), port: 80, proto: 'TCP' as const },
    type: 'ClusterIP' as const,
    backends: [{ address: BACKEND, port: 8080, proto: 'TCP' as const, state: 'active' as const }],
  }));
}

/** One EndpointSlice change at a time through the agent's reconciler: change → maps written (ms). */
function reconcilerLatency(lb: KernelLoadBalancer): number[] {
  const services = new Store<ServiceObject>();
  const slices = new Store<EndpointSliceObject>({ indexers: sliceIndexers });
  const svc = (i: number): ServiceObject => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'bench', name: `svc-${i}` },
    spec: { clusterIP: vip(i), ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  });
  const slice = (i: number, ips: string[]): EndpointSliceObject => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'bench', name: `svc-${i}-x`, labels: { 'kubernetes.io/service-name': `svc-${i}` } },
    addressType: 'IPv4',
    endpoints: ips.map((a) => ({ addresses: [a], conditions: { ready: true } })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  });
  services.apply({ type: 'Init' });
  slices.apply({ type: 'Init' });
  for (let i = 0; i < N; i++) {
    services.apply({ type: 'InitApply', object: svc(i) });
    slices.apply({ type: 'InitApply', object: slice(i, [BACKEND]) });
  }
  services.apply({ type: 'InitDone', resourceVersion: '1' });
  slices.apply({ type: 'InitDone', resourceVersion: '1' });
  const r = new ServiceLoadBalancer({
    lb,
    services,
    slices,
    log: pino({ level: 'silent' }),
    registry: new Registry(),
    context: () => ({ nodeName: 'n', nodeAddresses: [], nodePortRange: [30000, 32767], kubeProxyReplacement: true }),
  });
  r.start();
  const out: number[] = [];
  for (let c = 0; c < CHANGES; c++) {
    const i = (c * 7919) % N;
    const t0 = performance.now();
    slices.apply({ type: 'Apply', object: slice(i, c % 2 ? [BACKEND] : [BACKEND, `10.201.1.${(c % 200) + 1}`]) });
    r.onSlice(`bench/svc-${i}-x`);
    r.sync();
    out.push(performance.now() - t0);
  }
  r.stop();
  return out;
}

/** The ClusterIP the throughput run goes through (outside the N Services' range). */
const IPERF_VIP = '10.97.0.1';
const IPERF_PORT = 5201;

/** iperf3 TCP throughput (bits/s) from `ns`, in the bench cgroup when `inCgroup`. */
function throughput(ns: string, target: string, inCgroup: boolean): number {
  const join_ = inCgroup ? `echo $$ > ${cgroup}/cgroup.procs && ` : '';
  const r = spawnSync(
    'sh',
    ['-c', `${join_}exec ip netns exec ${ns} iperf3 -J -c ${target} -p ${IPERF_PORT} -t ${SECONDS}`],
    { encoding: 'utf8' },
  );
  const bps = Number(
    (JSON.parse(r.stdout || '{}') as { end?: { sum_received?: { bits_per_second?: number } } }).end?.sum_received
      ?.bits_per_second ?? NaN,
  );
  if (r.status !== 0 || !(bps > 0)) throw new Error(`iperf3 to ${target} failed: ${r.stdout}${r.stderr}`);
  return bps;
}

/** Median throughput through IPERF_VIP (socket-LB) and straight to the backend, rounds interleaved. */
async function throughputRatio(lb: KernelLoadBalancer): Promise<void> {
  lb.syncServices([
    ...lbServices(),
    {
      frontend: { address: IPERF_VIP, port: IPERF_PORT, proto: 'TCP' },
      type: 'ClusterIP',
      backends: [{ address: BACKEND, port: IPERF_PORT, proto: 'TCP', state: 'active' }],
    },
  ]);
  children.push(
    spawn('ip', ['netns', 'exec', lbSide.server, 'iperf3', '-s', '-B', BACKEND, '-p', String(IPERF_PORT)], {
      stdio: 'ignore',
    }),
  );
  await new Promise((r) => setTimeout(r, 500));
  const direct: number[] = [];
  const viaVip: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    direct.push(throughput(lbSide.client, BACKEND, true));
    viaVip.push(throughput(lbSide.client, IPERF_VIP, true));
  }
  const gbit = (b: number) => (b / 1e9).toFixed(2);
  console.log(
    `\niperf3 TCP throughput, ${SECONDS} s × ${ROUNDS} rounds, median: straight to the backend ${gbit(median(direct))} Gbit/s, through the ClusterIP ${gbit(median(viaVip))} Gbit/s, ratio ${(median(viaVip) / median(direct)).toFixed(2)}`,
  );
}

async function throughputOnly(): Promise<void> {
  mkdirSync(work, { recursive: true });
  topology(lbSide);
  mkdirSync(cgroup);
  const lb = new KernelLoadBalancer({ pinRoot: pins });
  lb.attachCgroup(cgroup);
  await throughputRatio(lb);
  lb.detachCgroup();
  lb.close();
}

async function latencyOnly(): Promise<void> {
  const lb = new KernelLoadBalancer({ pinRoot: pins });
  const t0 = performance.now();
  lb.syncServices(lbServices());
  console.log(`socket-LB maps: ${N} Services written in ${(performance.now() - t0).toFixed(0)} ms`);
  const lat = reconcilerLatency(lb);
  console.log(
    `EndpointSlice change → LB maps written, ${N} Services, ${CHANGES} changes: p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms`,
  );
  lb.close();
}

/** New connections/s through every variant, rounds interleaved, medians printed against the baseline. */
function connectionRates(client: string): void {
  // wrk cannot pick a source address; bare connects use one per variant unless --shared-source
  const ownSource = client === 'connect' && TOPOLOGY === 'pods' && !values['shared-source'];
  let next = 0;
  const measure = (ns: string, target: string, port: number, inCgroup: boolean) => {
    const source = ownSource ? variantSource(next++ % VARIANTS) : undefined;
    return () => (client === 'wrk' ? rate : connects)(ns, target, port, inCgroup, source);
  };
  const variants: [string, () => number][] = [
    ['socket-LB, direct to the backend', measure(lbSide.client, BACKEND, 8080, true)],
    ['socket-LB, first ClusterIP', measure(lbSide.client, vip(0), 80, true)],
    ['socket-LB, last ClusterIP', measure(lbSide.client, vip(N - 1), 80, true)],
    ['kube-proxy, direct to the backend', measure(kpSide.client, BACKEND, 8080, false)],
    ['kube-proxy, first ClusterIP', measure(kpSide.client, vip(0), 80, false)],
    ['kube-proxy, last ClusterIP', measure(kpSide.client, vip(N - 1), 80, false)],
    ['no programs, no rules: direct (baseline)', measure(lbSide.client, BACKEND, 8080, false)],
  ];
  const results = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  const synRetrans = new Map<string, number>(variants.map(([n]) => [n, 0]));
  for (let r = 0; r < ROUNDS; r++)
    for (const [name, fn] of variants) {
      const ns = name.startsWith('kube-proxy') ? kpSide.client : lbSide.client;
      const before = synRetransmits(ns);
      results.get(name)!.push(fn());
      synRetrans.set(name, synRetrans.get(name)! + synRetransmits(ns) - before);
    }
  const base = median(results.get('no programs, no rules: direct (baseline)')!);
  const how =
    client === 'wrk'
      ? 'wrk -c32, Connection: close → nginx'
      : `bare TCP connects, 32 in flight → accept and close, ${ownSource ? 'a client address per variant' : 'one client address'}`;
  console.log(
    `\nnew TCP connections/s (${how}), ${N} Services, topology ${TOPOLOGY}, iptables-${IPTABLES}, ${SECONDS} s × ${ROUNDS} rounds, median:`,
  );
  for (const [name] of variants) {
    const m = median(results.get(name)!);
    const xs = results.get(name)!;
    const range = `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;
    console.log(
      `  ${name.padEnd(42)} ${m.toFixed(0).padStart(7)}/s  ${(m / base).toFixed(2)}× baseline  (rounds ${range}; SYN retransmits ${synRetrans.get(name)})`,
    );
  }
  const lbLast = median(results.get('socket-LB, last ClusterIP')!);
  const kpLast = median(results.get('kube-proxy, last ClusterIP')!);
  console.log(`  socket-LB / kube-proxy, last ClusterIP: ${(lbLast / kpLast).toFixed(1)}×`);
}

async function main(): Promise<void> {
  if (values['latency-only']) return latencyOnly();
  if (values['throughput-only']) return throughputOnly();
  mkdirSync(work, { recursive: true });
  topology(lbSide);
  topology(kpSide);
  mkdirSync(cgroup);

  const lb = new KernelLoadBalancer({ pinRoot: pins });
  lb.attachCgroup(cgroup);
  const t0 = performance.now();
  const written = lb.syncServices(lbServices());
  console.log(`socket-LB maps: ${N} Services written in ${(performance.now() - t0).toFixed(0)} ms`, written.services);
  writeFileSync(join(work, 'rules'), kubeProxyRules());
  const t1 = performance.now();
  execFileSync('ip', ['netns', 'exec', kpSide.node, `iptables-${IPTABLES}-restore`, join(work, 'rules')]);
  console.log(
    `kube-proxy nat and filter tables (iptables-${IPTABLES}): ${N} Services restored in ${(performance.now() - t1).toFixed(0)} ms`,
  );
  for (const client of CLIENTS) {
    const servers = [await startServer(lbSide.server, client), await startServer(kpSide.server, client)];
    connectionRates(client);
    for (const p of servers) await stopServer(p);
  }

  await throughputRatio(lb);

  const lat = reconcilerLatency(lb);
  console.log(
    `\nEndpointSlice change → LB maps written, ${N} Services, ${CHANGES} changes: p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms`,
  );
  lb.detachCgroup();
  lb.close();
}

function cleanup(): void {
  for (const c of children) c.kill('SIGKILL');
  for (const ns of namespaces)
    try {
      ip('netns', 'del', ns);
    } catch {
      /* not created */
    }
  try {
    rmdirSync(cgroup);
  } catch {
    /* not created, or a client still exiting */
  }
  rmSync(pins, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}

main()
  .catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(cleanup);
