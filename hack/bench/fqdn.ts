// Benchmark: memory per 10,000 learned names in the FQDN cache (proxy/fqdn-cache.ts), the number
// issue #21 asks for. Each name is learned by one endpoint with two IPv4 addresses (a typical A
// answer); the heap is measured after a forced GC before and after, and, as the baseline in the
// same run, the same names and IPs held in a plain Map<string, string[]>, so the ratio shows what
// the cache's indexes (per endpoint, per name, by IP) cost over the bare data.
// Second part: DNS queries/s through the DNS proxy (proxy/dns-proxy.ts, rules.dns `*`, learning
// every answer into the cache) vs straight to the server, same run: a dns-packet server in a child
// process, 32 UDP clients on a worker thread of this process asking in a closed loop for --seconds
// each way; the proxy has this process's main thread.
//   npm run bench:fqdn [-- --names 10000 --rounds 3 --seconds 5]
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { DnsProxy } from '../../proxy/dns-proxy.js';
import { DnsRules } from '../../proxy/dns-rules.js';
import { FqdnCache } from '../../proxy/fqdn-cache.js';

const { values } = parseArgs({
  options: {
    names: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
  },
});
const names = Number(values.names);
const rounds = Number(values.rounds);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:fqdn)');

function ipOf(i: number, k: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${((i & 255) + k) & 255}`;
}

function heap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

function measure(fill: () => unknown): number {
  const before = heap();
  const held = fill();
  const after = heap();
  if (!held) throw new Error('nothing held');
  return after - before;
}

const cacheBytes: number[] = [];
const baseBytes: number[] = [];
for (let r = 0; r < rounds; r++) {
  cacheBytes.push(
    measure(() => {
      const cache = new FqdnCache();
      for (let i = 0; i < names; i++)
        cache.update(1 + (i % 50), `svc-${i}.example${i % 97}.test`, [ipOf(i, 0), ipOf(i, 1)], 300);
      return cache.size === names ? cache : undefined;
    }),
  );
  baseBytes.push(
    measure(() => {
      const map = new Map<string, string[]>();
      for (let i = 0; i < names; i++) map.set(`svc-${i}.example${i % 97}.test.`, [ipOf(i, 0), ipOf(i, 1)]);
      return map.size === names ? map : undefined;
    }),
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const per10k = (b: number) => (b / names) * 10_000;
const c = median(cacheBytes);
const b = median(baseBytes);
console.log(`FQDN cache, ${names} names × 2 IPs, ${rounds} rounds (median), load average ${loadavg()[0]!.toFixed(1)}`);
console.log(`  cache:     ${(per10k(c) / 1048576).toFixed(2)} MiB per 10,000 names (${(c / names).toFixed(0)} B/name)`);
console.log(`  plain Map: ${(per10k(b) / 1048576).toFixed(2)} MiB per 10,000 names (${(b / names).toFixed(0)} B/name)`);
console.log(`  ratio cache / plain Map: ${(c / b).toFixed(2)}`);

// ---- DNS queries/s, proxy vs direct --------------------------------------------------------------
const SERVER = `
const dgram = require('node:dgram');
const dnsPacket = require('dns-packet');
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => {
  const q = dnsPacket.decode(m);
  const name = q.questions[0].name;
  s.send(dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions,
    answers: [{ type: 'A', name, ttl: 60, data: '10.0.0.' + (name.length % 250) }] }), r.port, r.address);
});
s.bind(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
`;
const server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() });
const serverPort = await new Promise<number>((ok, fail) => {
  server.stdout.once('data', (d: Buffer) => ok(Number(d.toString().trim())));
  server.once('exit', () => fail(new Error('the DNS server exited')));
});
const rules = new DnsRules();
rules.set(1, serverPort, [{ matchPattern: '*' }]);
const dnsCache = new FqdnCache();
const proxy = new DnsProxy({
  rules,
  cache: dnsCache,
  endpointOf: () => ({ id: 1 }),
  originalDestination: () => ({ address: '127.0.0.1', port: serverPort }),
  beforeRelease: async () => {},
});
const { port: proxyPort } = await proxy.start();

// The clients run on a thread of their own, so the proxy has this one to itself as the server
// has its process: they used to share the proxy's event loop, which cost the proxied rounds only
const CLIENTS = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const dnsPacket = require('dns-packet');
const { port, seconds } = workerData;
const end = Date.now() + seconds * 1000;
let answered = 0;
let open = 32;
for (let c = 0; c < 32; c++) {
  const sock = dgram.createSocket('udp4');
  let id = 0;
  const ask = () => {
    if (Date.now() >= end) {
      sock.close();
      return;
    }
    id = (id + 1) & 0xffff;
    sock.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: 'A', name: 'n' + c + '-' + (id % 500) + '.bench.test' }] }), port, '127.0.0.1');
  };
  // a lost datagram would stall this client: ask again after 200 ms without an answer
  let timer = setInterval(ask, 200);
  sock.on('message', () => {
    answered++;
    clearInterval(timer);
    timer = setInterval(ask, 200);
    ask();
  });
  sock.on('close', () => {
    clearInterval(timer);
    if (--open === 0) parentPort.postMessage(answered);
  });
  ask();
}
`;

async function qps(port: number, seconds: number): Promise<number> {
  const w = new Worker(CLIENTS, { eval: true, workerData: { port, seconds } });
  const answered = await new Promise<number>((ok, fail) => {
    w.once('message', ok);
    w.once('error', fail);
  });
  await w.terminate();
  return answered / seconds;
}

const seconds = Number(values.seconds);
const directQps: number[] = [];
const proxyQps: number[] = [];
try {
  for (let r = 0; r < rounds; r++) {
    directQps.push(await qps(serverPort, seconds));
    proxyQps.push(await qps(proxyPort, seconds));
  }
} finally {
  await proxy.close();
  server.kill();
}
const dq = median(directQps);
const pq = median(proxyQps);
console.log(
  `DNS over UDP, 32 clients, ${rounds} × ${seconds} s each way (median), load average ${loadavg()[0]!.toFixed(1)}`,
);
console.log(`  direct:        ${dq.toFixed(0)} queries/s`);
console.log(
  `  through proxy: ${pq.toFixed(0)} queries/s (rules.dns "*", every answer learned; ${dnsCache.size} names cached)`,
);
console.log(`  ratio proxy / direct: ${(pq / dq).toFixed(2)}`);
