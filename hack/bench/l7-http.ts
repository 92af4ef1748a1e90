// Benchmark: HTTP/1.1 through the L7 proxy (proxy/http-proxy.ts) vs straight to the server, the
// numbers issue #21 asks for (target: ≥ 0.5 of direct requests/s at keep-alive, p99 added ≤ 2 ms).
// The server is a node:http process of its own; the proxy runs in this process with a rule
// allowing GET /public; wrk (keep-alive) drives both, alternating rounds, and the same-run ratios
// are printed. `--workers 1,2` measures the proxy once per thread count (HttpProxyOptions.workers:
// 1 serves on this thread, 2 on two worker threads); the server is the same single-threaded
// node:http process for every row, as upstream compares a proxy against no proxy. Loopback only.
//   npm run bench:l7-http [-- --rounds 3 --duration 5 --connections 16 --threads 1 --workers 1,2]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { HttpProxy } from '../../proxy/http-proxy.js';
import { HttpRuleSet } from '../../proxy/http-rules.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    threads: { type: 'string', default: '1' },
    workers: { type: 'string', default: '1,2' },
  },
});

const SERVER = `
const http = require('node:http');
const body = Buffer.alloc(256, 'x');
const s = http.createServer((req, res) => { res.setHeader('content-type', 'text/plain'); res.end(body); });
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
`;

const server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
const serverPort = await new Promise<number>((ok, fail) => {
  server.stdout.once('data', (d: Buffer) => ok(Number(d.toString().trim())));
  server.once('exit', () => fail(new Error('the server exited')));
});
const rules = new HttpRuleSet([{ method: 'GET', path: '/public' }]);
const workerCounts = values.workers!.split(',').map(Number);
const proxies = workerCounts.map(
  (workers) =>
    new HttpProxy({
      workers,
      connectionOf: (source) => ({
        endpoint: { id: 1 },
        source,
        destination: { address: '127.0.0.1', port: serverPort },
        rules,
      }),
    }),
);
const proxyPorts: number[] = [];
for (const p of proxies) proxyPorts.push((await p.start()).port);

interface Run {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
}

function ms(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

async function wrk(port: number): Promise<Run> {
  const args = [
    '-t',
    values.threads!,
    '-c',
    values.connections!,
    '-d',
    `${values.duration}s`,
    '--latency',
    `http://127.0.0.1:${port}/public`,
  ];
  // wrk runs as a child while this process serves the proxy: asynchronous, never execFileSync
  const out = await new Promise<string>((ok, fail) => {
    const c = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    c.stdout.on('data', (d: Buffer) => (text += d.toString()));
    c.on('exit', (code) => (code === 0 ? ok(text) : fail(new Error(`wrk exited ${code}`))));
  });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = ms(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const p99 = ms(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return { rps, p50, p99, non2xx };
}

/** CPU seconds (user + system) the server process has used: /proc/PID/stat fields 14 and 15, in clock ticks (100/s). */
function serverCpuS(): number {
  const f = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

// CPU per request is what the machine's load does not change much: the proxy's own (this
// process, wrk aside) against the server's, each over its rounds; their ratio bounds the
// throughput ratio an idle machine can show when the proxy is the bottleneck
// (process.cpuUsage covers the worker threads too)
const direct: Run[] = [];
const proxied: Run[][] = proxies.map(() => []);
let serverCpu = 0;
let serverRequests = 0;
const proxyCpuUs = proxies.map(() => 0);
const proxySystemUs = proxies.map(() => 0);
try {
  for (let r = 0; r < Number(values.rounds); r++) {
    const s0 = serverCpuS();
    const d = await wrk(serverPort);
    serverCpu += serverCpuS() - s0;
    serverRequests += d.rps * Number(values.duration);
    direct.push(d);
    for (let i = 0; i < proxies.length; i++) {
      const c0 = process.cpuUsage();
      proxied[i]!.push(await wrk(proxyPorts[i]!));
      const c = process.cpuUsage(c0);
      proxyCpuUs[i]! += c.user + c.system;
      proxySystemUs[i]! += c.system;
    }
  }
} finally {
  await Promise.all(proxies.map((p) => p.close()));
  server.kill();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = (runs: Run[]) => ({
  rps: median(runs.map((r) => r.rps)),
  p50: median(runs.map((r) => r.p50)),
  p99: median(runs.map((r) => r.p99)),
  non2xx: runs.reduce((n, r) => n + r.non2xx, 0),
});
const d = summary(direct);
const serverUs = (serverCpu * 1e6) / serverRequests;
console.log(
  `HTTP/1.1 keep-alive, wrk -t${values.threads} -c${values.connections} -d${values.duration}s, ${values.rounds} rounds (median), load average ${loadavg()[0]!.toFixed(1)}`,
);
console.log(
  `  direct:                   ${d.rps.toFixed(0)} req/s  p50 ${d.p50.toFixed(2)} ms  p99 ${d.p99.toFixed(2)} ms  non-2xx ${d.non2xx}  server ${serverUs.toFixed(1)} µs CPU/request`,
);
proxies.forEach((proxy, i) => {
  const p = summary(proxied[i]!);
  const proxyUs = proxyCpuUs[i]! / proxy.stats.requests;
  const kernel = (100 * proxySystemUs[i]!) / proxyCpuUs[i]!;
  const label = `through proxy, ${workerCounts[i]} thread${workerCounts[i] === 1 ? '' : 's'}:`.padEnd(26);
  console.log(
    `  ${label}${p.rps.toFixed(0)} req/s  p50 ${p.p50.toFixed(2)} ms  p99 ${p.p99.toFixed(2)} ms  non-2xx ${p.non2xx}  proxy ${proxyUs.toFixed(1)} µs CPU/request (${kernel.toFixed(0)}% in the kernel)`,
  );
  console.log(
    `    ratio proxy / direct requests/s: ${(p.rps / d.rps).toFixed(2)}   p99 added: ${(p.p99 - d.p99).toFixed(2)} ms   server / proxy CPU ${(serverUs / proxyUs).toFixed(2)}`,
  );
});
