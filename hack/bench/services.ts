// Benchmark: Service load balancing. New TCP connections per second from one client, side by side
// in one run (rounds interleaved, medians):
//   - socket-LB (cgroup programs of datapath/bpf/sock_lb.bpf.c, maps holding N Services): straight
//     to the backend IP, and through the ClusterIP of the first and of the last Service;
//   - kube-proxy's iptables mode rebuilt faithfully with the same N Services (KUBE-SERVICES →
//     KUBE-SVC → KUBE-SEP, kubernetes pkg/proxy/iptables/proxier.go), in its own network namespace
//     without our programs: straight to the backend IP (its first packet still walks
//     KUBE-SERVICES), and through the first and the last ClusterIP.
// Then iperf3 throughput through a ClusterIP vs straight to the backend (socket-LB), and the
// agent's reconciler with N Services in the kernel maps: one EndpointSlice change → maps written,
// p50/p99 over --changes changes. --latency-only / --throughput-only run just that part.
//   npm run bench:services [-- --services 10000 --seconds 3 --rounds 5 --changes 200]
// Needs root, nginx and wrk (hack/setup.sh installs them).
// Everything lives in two network namespaces and one cgroup made for the run, removed at the end.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  },
});
const N = Number(values.services ?? 10_000);
const SECONDS = Number(values.seconds ?? 3);
const ROUNDS = Number(values.rounds ?? 5);
const CHANGES = Number(values.changes ?? 200);

const tag = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
const lbNs = `kts-bsvc-${tag}-lb`;
const kpNs = `kts-bsvc-${tag}-kp`;
const cgroup = join(cgroup2Mount() ?? '/sys/fs/cgroup/unified', `kts-bsvc-${tag}`);
const pins = `/sys/fs/bpf/kts-bsvc-${tag}`;
const work = join(tmpdir(), `kts-bsvc-${tag}`);
const BACKEND = '10.201.0.1';
const vip = (i: number) => `10.96.${(i >> 8) & 0xff}.${i & 0xff}`;
const children: ChildProcess[] = [];

const nginxConf = (dir: string) => `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server { listen ${BACKEND}:8080 backlog=4096; location / { return 200 "ok"; } } }\n`;

const ip = (...a: string[]) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] });

function netns(name: string): void {
  ip('netns', 'add', name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
  ip('-n', name, 'addr', 'add', `${BACKEND}/32`, 'dev', 'lo');
}

async function startServer(ns: string): Promise<void> {
  const dir = join(work, ns);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir));
  const p = spawn('ip', ['netns', 'exec', ns, 'nginx', '-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  children.push(p);
  await new Promise((r) => setTimeout(r, 500));
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
    spawn('ip', ['netns', 'exec', lbNs, 'iperf3', '-s', '-B', BACKEND, '-p', String(IPERF_PORT)], { stdio: 'ignore' }),
  );
  await new Promise((r) => setTimeout(r, 500));
  const direct: number[] = [];
  const viaVip: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    direct.push(throughput(lbNs, BACKEND, true));
    viaVip.push(throughput(lbNs, IPERF_VIP, true));
  }
  const gbit = (b: number) => (b / 1e9).toFixed(2);
  console.log(
    `\niperf3 TCP throughput, ${SECONDS} s × ${ROUNDS} rounds, median: straight to the backend ${gbit(median(direct))} Gbit/s, through the ClusterIP ${gbit(median(viaVip))} Gbit/s, ratio ${(median(viaVip) / median(direct)).toFixed(2)}`,
  );
}

async function throughputOnly(): Promise<void> {
  mkdirSync(work, { recursive: true });
  netns(lbNs);
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

async function main(): Promise<void> {
  if (values['latency-only']) return latencyOnly();
  if (values['throughput-only']) return throughputOnly();
  mkdirSync(work, { recursive: true });
  netns(lbNs);
  netns(kpNs);
  // kube-proxy's host: the ClusterIP range is routed (nowhere); OUTPUT's DNAT reroutes to the backend
  ip('-n', kpNs, 'route', 'add', '10.96.0.0/16', 'dev', 'lo');
  mkdirSync(cgroup);
  await startServer(lbNs);
  await startServer(kpNs);

  const lb = new KernelLoadBalancer({ pinRoot: pins });
  lb.attachCgroup(cgroup);
  const t0 = performance.now();
  const written = lb.syncServices(lbServices());
  console.log(`socket-LB maps: ${N} Services written in ${(performance.now() - t0).toFixed(0)} ms`, written.services);
  writeFileSync(join(work, 'rules'), kubeProxyRules());
  const t1 = performance.now();
  execFileSync('ip', ['netns', 'exec', kpNs, 'iptables-restore', join(work, 'rules')]);
  console.log(`kube-proxy nat table: ${N} Services restored in ${(performance.now() - t1).toFixed(0)} ms`);

  const variants: [string, () => number][] = [
    ['socket-LB, direct to the backend', () => rate(lbNs, BACKEND, 8080, true)],
    ['socket-LB, first ClusterIP', () => rate(lbNs, vip(0), 80, true)],
    ['socket-LB, last ClusterIP', () => rate(lbNs, vip(N - 1), 80, true)],
    ['kube-proxy, direct to the backend', () => rate(kpNs, BACKEND, 8080, false)],
    ['kube-proxy, first ClusterIP', () => rate(kpNs, vip(0), 80, false)],
    ['kube-proxy, last ClusterIP', () => rate(kpNs, vip(N - 1), 80, false)],
    ['no programs, no rules: direct (baseline)', () => rate(lbNs, BACKEND, 8080, false)],
  ];
  const results = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) for (const [name, fn] of variants) results.get(name)!.push(fn());
  const base = median(results.get('no programs, no rules: direct (baseline)')!);
  console.log(
    `\nnew TCP connections/s (wrk -c32, Connection: close → nginx), ${N} Services, ${SECONDS} s × ${ROUNDS} rounds, median:`,
  );
  for (const [name] of variants) {
    const m = median(results.get(name)!);
    console.log(`  ${name.padEnd(42)} ${m.toFixed(0).padStart(7)}/s  ${(m / base).toFixed(2)}× baseline`);
  }
  const lbLast = median(results.get('socket-LB, last ClusterIP')!);
  const kpLast = median(results.get('kube-proxy, last ClusterIP')!);
  console.log(`  socket-LB / kube-proxy, last ClusterIP: ${(lbLast / kpLast).toFixed(1)}×`);

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
  for (const ns of [lbNs, kpNs])
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
