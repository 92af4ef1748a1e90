// The agent's one thread while a client sends the costliest filters a request may hold: a full
// ring (4095 flows) scanned by several GetFlows at once with 256 ten-star globs that never match,
// and requests beyond the limits (refused with InvalidArgument before any work). A health server
// on the same event loop (as the agent's /healthz) answers every poll meanwhile: the scan gives
// the loop back every few milliseconds (observer.ts SLICE_MS). Latencies are measured by
// hack/bench/hubble-healthz.ts, not asserted here.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HubbleClient } from '../../hubble/client.js';
import { FILTER_LIMITS } from '../../hubble/filter.js';
import { HubbleServer } from '../../hubble/server.js';
import type { FlowFilter } from '../../hubble/types.js';
import { observeDrop, resolver } from './fixtures.js';

let server: HubbleServer;
let health: Server;
let healthPort: number;
const clients: HubbleClient[] = [];

/** The heaviest whitelist within the limits: 256 globs, ten stars and more each, that never match. */
function heaviestAllowed(): FlowFilter[] {
  const glob = (i: number) => `${'*a'.repeat(25)}*${i}b`.slice(0, 60);
  const perFilter = FILTER_LIMITS.totalValues / 4;
  return Array.from({ length: 4 }, (_, f) => ({
    node_name: Array.from({ length: perFilter }, (_, i) => glob(f * perFilter + i)),
  }));
}

function fill(s: HubbleServer, n: number): void {
  for (let i = 0; i < n; i++) {
    observeDrop(s, 1000 + (i % 5000));
  }
}

/** GetFlows to the end: the number of flows, or the gRPC status name it failed with. */
async function getFlows(whitelist: FlowFilter[]): Promise<number | string> {
  const c = new HubbleClient(server.tcpAddress!);
  clients.push(c);
  let n = 0;
  try {
    for await (const r of c.getFlows({ number: 4095, whitelist })) if (r.flow) n++;
    return n;
  } catch (e) {
    return grpc.status[(e as grpc.ServiceError).code] ?? String(e);
  }
}

function healthz(): Promise<{ status: number; ms: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) =>
    get({ host: '127.0.0.1', port: healthPort, path: '/healthz', timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - start }));
    }).on('error', reject),
  );
}

beforeAll(async () => {
  // a long node name: each glob walks all of it before failing on the last character
  server = new HubbleServer({ nodeName: `default/${'a'.repeat(60)}`, resolver: resolver() });
  await server.listen({ tcp: '127.0.0.1:0' });
  fill(server, 4095);
  health = createServer((req, res) => void res.writeHead(req.url === '/healthz' ? 200 : 404).end('ok'));
  await new Promise<void>((r) => health.listen(0, '127.0.0.1', r));
  healthPort = (health.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.close();
  await new Promise((r) => health?.close(r));
});

describe('healthz while the costliest filters are tried', () => {
  it('requests over the limits are InvalidArgument; the heaviest allowed ones finish; healthz answers throughout', async () => {
    const tooMany: FlowFilter[] = Array.from({ length: FILTER_LIMITS.filters }, () => ({
      node_name: Array.from({ length: FILTER_LIMITS.valuesPerField }, () => '*a*a*a*a*a*a*a*a*a*a*b'),
    }));
    const tooLong: FlowFilter[] = [{ node_name: Array.from({ length: 20 }, () => '*a'.repeat(500)) }];
    let polling = true;
    const polls: { status: number; ms: number }[] = [];
    const poller = (async () => {
      while (polling) {
        polls.push(await healthz());
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const results = await Promise.all([
      ...Array.from({ length: 6 }, () => getFlows(heaviestAllowed())),
      getFlows(tooMany),
      getFlows(tooLong),
    ]);
    polling = false;
    await poller;
    expect(results).toEqual([0, 0, 0, 0, 0, 0, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT']);
    expect(polls.length).toBeGreaterThan(5);
    expect(polls.filter((p) => p.status !== 200)).toEqual([]);
    const ms = polls.map((p) => p.ms).sort((a, b) => a - b);
    console.log(
      `healthz during 6 heaviest-allowed GetFlows over 4095 flows: ${polls.length} polls, p50 ${ms[ms.length >> 1]!.toFixed(1)} ms, max ${ms.at(-1)!.toFixed(1)} ms`,
    );
  }, 120_000);
});
