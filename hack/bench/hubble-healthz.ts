// The agent's /healthz latency while clients try the costliest filters a request may hold, against
// the same polls with no GetFlows running (the baseline), in one run: an in-process Hubble server
// with a full ring (4095 flows) and a health server on the same event loop, as in the agent.
// Load: 6 concurrent GetFlows, each 256 non-matching ten-star node_name globs over the whole ring,
// repeated for the measuring window.
//
//   node --import tsx hack/bench/hubble-healthz.ts
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HubbleClient } from '../../hubble/client.js';
import { FILTER_LIMITS } from '../../hubble/filter.js';
import { StaticResolver } from '../../hubble/resolver.js';
import { HubbleServer } from '../../hubble/server.js';
import type { FlowFilter } from '../../hubble/types.js';
import { observeDrop } from '../../test/hubble/fixtures.js';

const WINDOW_MS = 5000;
const server = new HubbleServer({ nodeName: `default/${'a'.repeat(60)}`, resolver: new StaticResolver() });
await server.listen({ tcp: '127.0.0.1:0' });
for (let i = 0; i < 4095; i++) {
  observeDrop(server, 1000 + i);
}
const health = createServer((_req, res) => void res.writeHead(200).end('ok'));
await new Promise<void>((r) => health.listen(0, '127.0.0.1', r));
const port = (health.address() as AddressInfo).port;

const heaviest: FlowFilter[] = Array.from({ length: 4 }, (_, f) => ({
  node_name: Array.from({ length: FILTER_LIMITS.totalValues / 4 }, (_, i) =>
    `${'*a'.repeat(25)}*${f * 64 + i}b`.slice(0, 60),
  ),
}));

const healthz = () =>
  new Promise<number>((resolve, reject) => {
    const start = performance.now();
    get({ host: '127.0.0.1', port, path: '/healthz' }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - start));
    }).on('error', reject);
  });

async function poll(ms: number): Promise<number[]> {
  const out: number[] = [];
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 10)))
    out.push(await healthz());
  return out.sort((a, b) => a - b);
}

async function hammer(until: () => boolean): Promise<number> {
  const c = new HubbleClient(server.tcpAddress!);
  let scans = 0;
  while (!until()) {
    for await (const _ of c.getFlows({ number: 4095, whitelist: heaviest })) void _;
    scans++;
  }
  c.close();
  return scans;
}

const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const idle = await poll(WINDOW_MS);
let done = false;
const hammers = Array.from({ length: 6 }, () => hammer(() => done));
const loaded = await poll(WINDOW_MS);
done = true;
const scans = (await Promise.all(hammers)).reduce((a, b) => a + b, 0);
console.log(
  `healthz latency, ms (${idle.length} idle polls vs ${loaded.length} under load; ${scans} full-ring scans done)`,
);
console.log('            idle   loaded   ratio');
for (const [name, p] of [
  ['p50', 0.5],
  ['p99', 0.99],
  ['max', 1],
] as const)
  console.log(
    `${name.padEnd(8)} ${q(idle, p).toFixed(1).padStart(7)} ${q(loaded, p).toFixed(1).padStart(8)} ${(q(loaded, p) / q(idle, p)).toFixed(1).padStart(6)}x`,
  );
await server.close();
health.close();
