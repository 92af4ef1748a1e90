// Hubble benchmark (npm run bench:hubble): parse+filter flows per second on one core from recorded
// events, observe() (parse + ring + metrics) per second, GetFlows follow latency p50/p99 over a
// unix socket, and relay's overhead (follow latency and bulk GetFlows throughput, direct vs relay).
// Rates are given per wall second and per CPU second of this process (what "on one core" means,
// and steadier than wall time on a loaded machine). Baselines in the same run: parse+filter for
// observe(); GetFlows through grpc-js's one-write-per-message path for the batched writes.
//   npm run bench:hubble
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatapathEvent } from '../../datapath/events.js';
import * as grpc from '@grpc/grpc-js';
import { HubbleClient } from '../../hubble/client.js';
import { observerService } from '../../hubble/proto.js';
import { writeStream } from '../../hubble/stream.js';
import { compileFilters } from '../../hubble/filter.js';
import { FlowParser } from '../../hubble/parser.js';
import { HubbleRelay } from '../../hubble/relay.js';
import { HubbleServer } from '../../hubble/server.js';
import type { GetFlowsRequest, GetFlowsResponse } from '../../hubble/types.js';
import { eventsFor, resolver, simDatapath } from './fixtures.js';

function record(n: number): DatapathEvent[] {
  const dp = simDatapath();
  const out: DatapathEvent[] = [];
  dp.onEvent((e) => out.push(e));
  for (let i = 0; out.length < n; i++) {
    const kind = i % 4;
    if (kind === 0)
      eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', sport: 20000 + (i % 40000), dport: 80 });
    else if (kind === 1)
      eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', sport: 20000 + (i % 40000), dport: 81 });
    else if (kind === 2)
      eventsFor(dp, { src: '10.2.0.5', dst: '10.1.0.2', proto: 'tcp', sport: 20000 + (i % 40000), dport: 5432 });
    else eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'udp', sport: 20000 + (i % 40000), dport: 53 });
  }
  return out.slice(0, n);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** per CPU second: user + system time of this process (GC helper threads included) */
function cpuSeconds(from: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(from);
  return (c.user + c.system) / 1e6;
}

function rate(label: string, n: number, fn: () => void): number {
  fn(); // warm up
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = n / cpuSeconds(c0);
  console.log(`${label}: ${fmt(n / s)}/s wall, ${fmt(cpu)}/s per CPU second`);
  return cpu;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function followLatency(label: string, target: string, feed: HubbleServer, n: number): Promise<void> {
  const client = new HubbleClient(target);
  const call = client.getFlowsCall({ follow: true, whitelist: [{ destination_port: ['6000'] }] });
  call.on('error', () => undefined);
  const sent = new Map<number, number>();
  const lat: number[] = [];
  let resolveAll: () => void;
  const all = new Promise<void>((r) => (resolveAll = r));
  call.on('data', (r: GetFlowsResponse) => {
    const sport = r.flow?.l4?.TCP?.source_port;
    if (sport === undefined || !sent.has(sport)) return;
    lat.push(performance.now() - sent.get(sport)!);
    sent.delete(sport);
    if (lat.length === n) resolveAll();
  });
  await new Promise((r) => setTimeout(r, 300));
  const dp = simDatapath();
  const evs: DatapathEvent[] = [];
  dp.onEvent((e) => evs.push(e));
  for (let i = 0; i < n; i++) {
    evs.length = 0;
    eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', sport: 1000 + i, dport: 6000 });
    const drop = evs.find((e) => e.type === 'drop')!;
    sent.set(1000 + i, performance.now());
    feed.observe(drop);
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.race([all, new Promise((r) => setTimeout(r, 5000))]);
  call.cancel();
  client.close();
  console.log(
    `${label}: follow latency p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms, max ${Math.max(...lat).toFixed(2)} ms (${lat.length}/${n} flows)`,
  );
}

/** Bulk GetFlows, client and server in this process; best of `rounds`. Returns flows per CPU second. */
async function bulk(label: string, target: string, expected: number, rounds = 3, raw = false): Promise<number> {
  let best = { wall: 0, cpu: 0, ms: 0, n: 0 };
  for (let i = 0; i < rounds; i++) {
    const client = new HubbleClient(target);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let n = 0;
    if (raw) {
      // the client keeps each message's bytes: the figure is the server side and the transport
      const call = client.getFlowsRawCall({ number: 100_000 });
      await new Promise<void>((resolve, reject) => {
        call.on('data', (b: Buffer) => void (b[0] === 0x0a && n++));
        call.on('end', resolve);
        call.on('error', reject);
      });
    } else for await (const r of client.getFlows({ number: 100_000 })) if (r.flow) n++;
    const ms = performance.now() - t0;
    const cpu = n / cpuSeconds(c0);
    client.close();
    if (cpu > best.cpu) best = { wall: (n / ms) * 1000, cpu, ms, n };
  }
  console.log(
    `${label}: ${best.n} flows in ${best.ms.toFixed(0)} ms (${fmt(best.wall)}/s wall, ${fmt(best.cpu)}/s per CPU second, best of ${rounds})${best.n === expected ? '' : ` (expected ${expected})`}`,
  );
  return best.cpu;
}

const N = 200_000;
const events = record(N);
const res = resolver();
const filter = compileFilters(
  [
    { verdict: ['DROPPED'], destination_pod: ['demo/backend'] },
    { source_label: ['k8s:app=frontend'], protocol: ['udp'] },
  ],
  [{ source_ip: ['10.9.0.0/16'] }],
);
console.log(
  `recorded ${N.toLocaleString('en-US')} events (drop/trace/policy-verdict; TCP allowed, default-deny, deny rule, UDP)`,
);
let parseRate = 0;
for (const uuids of [false, true]) {
  const parser = new FlowParser({ nodeName: 'node-a', resolver: res, uuids });
  let kept = 0;
  parseRate = rate(`parse+filter, uuids ${uuids ? 'on' : 'off'}, one core`, N, () => {
    kept = 0;
    for (const e of events) if (filter(parser.parse(e)!)) kept++;
  });
  void kept;
}
const obs = new HubbleServer({
  nodeName: 'node-a',
  resolver: res,
  ringCapacity: 65535,
  metrics: 'flow,drop,tcp,port-distribution,policy',
});
const observeRate = rate('observe (parse + ring + 5 metrics), uuids on', N, () => {
  for (const e of events) obs.observe(e);
});
console.log(`  observe / parse+filter (uuids on): ${(observeRate / parseRate).toFixed(2)}x`);
await obs.close();

const dir = mkdtempSync(join(tmpdir(), 'hubble-bench-'));
const a = new HubbleServer({ nodeName: 'node-a', resolver: res, ringCapacity: 16383 });
const b = new HubbleServer({ nodeName: 'node-b', resolver: res, ringCapacity: 16383 });
try {
  await a.listen({ unixSocket: join(dir, 'a.sock'), tcp: '127.0.0.1:0' });
  await b.listen({ tcp: '127.0.0.1:0' });
  const relay = new HubbleRelay({
    staticPeers: [
      { name: 'node-a', address: a.tcpAddress! },
      { name: 'node-b', address: b.tcpAddress! },
    ],
  });
  await relay.listen({ tcp: '127.0.0.1:0' });
  await followLatency('agent (unix socket)', join(dir, 'a.sock'), a, 1000);
  await followLatency('relay (2 nodes, TCP)', relay.tcpAddress!, a, 1000);
  for (const e of events.slice(0, 16383)) a.observe(e);
  for (const e of events.slice(16383, 32766)) b.observe(e);
  // baseline: the same observer served with one grpc-js write per message (stream.ts without a serializer)
  const perMessage = new grpc.Server();
  perMessage.addService(observerService, {
    GetFlows: (call: grpc.ServerWritableStream<GetFlowsRequest, unknown>) =>
      void writeStream(call, (signal) => a.observer.getFlows(call.request, signal)),
  });
  const pmPort = await new Promise<number>((resolve, reject) =>
    perMessage.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const base = await bulk('GetFlows 16,383 flows, one write per message (baseline)', `127.0.0.1:${pmPort}`, 16383);
  const batched = await bulk('GetFlows 16,383 flows from one agent (TCP)', a.tcpAddress!, 16383);
  console.log(`  batched / one write per message: ${(batched / base).toFixed(2)}x`);
  perMessage.forceShutdown();
  await bulk('GetFlows 16,383 flows from one agent, client not decoding', a.tcpAddress!, 16383, 3, true);
  await bulk('GetFlows 2 x 16,383 flows through relay (merged)', relay.tcpAddress!, 2 * 16383);
  await bulk('GetFlows 2 x 16,383 through relay, client not decoding', relay.tcpAddress!, 2 * 16383, 3, true);
  await relay.close();
} finally {
  await a.close();
  await b.close();
  rmSync(dir, { recursive: true, force: true });
}
