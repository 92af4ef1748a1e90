// The client's rate limit (client-go's rest.Config QPS/Burst): a burst goes out at once, the rest
// at `qps` a second, whatever the caller's concurrency — how the operator's garbage collectors are
// kept from flooding the API server. Against a local HTTP server that records when each request
// arrived.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeClient } from '../../../controllers/framework/index.js';
import { FrameworkError } from '../../../controllers/framework/index.js';
import { loopbackClient } from './fixtures/local-client.js';

let server: Server | undefined;
let client: KubeClient | undefined;

afterEach(() => {
  client?.close();
  server?.close();
});

async function recordingServer(): Promise<{ port: number; arrivals: number[] }> {
  const arrivals: number[] = [];
  server = createServer((req, res) => {
    arrivals.push(performance.now());
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { port: (server!.address() as AddressInfo).port, arrivals };
}

describe('KubeClient rate limit', () => {
  it('sends the burst at once and the rest at qps, however many callers wait', async () => {
    const s = await recordingServer();
    client = loopbackClient(s.port, { qps: 10, burst: 4 });
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 14 }, () => client!.request('DELETE', '/api/v1/x')));
    expect(s.arrivals).toHaveLength(14);
    // 4 tokens at once, then one every 100 ms: the 14th cannot arrive before 10 × 100 ms (a server
    // never sees a request before it is sent; unpaced, 14 local requests take a few ms). Arrival gaps
    // in between are not asserted: on a loaded machine the server's own loop bunches them.
    expect(Math.max(...s.arrivals) - t0).toBeGreaterThanOrEqual(990);
  }, 20_000);

  it('refuses a limit it cannot pace by', () => {
    expect(() => loopbackClient(1, { qps: 0, burst: 1 })).toThrow(FrameworkError);
    expect(() => loopbackClient(1, { qps: 5, burst: 0 })).toThrow(/qps > 0 and burst ≥ 1/);
  });
});
