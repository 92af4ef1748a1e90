// The hubble-ui server without a browser or cluster: a synthetic node's Observer behind a real
// hubble-relay, the server's SSE stream read as a browser's EventSource would — flows arrive in
// batches with the page's filters applied by relay, a bad filter is a 400 with its code, the page
// itself is served (with the SPA fallback), and relay going away and coming back is reported and
// recovered on the same stream; a page that acknowledges its batches is sent no more than it has
// caught up with (the rest counted as skipped), and the bundle is served compressed, cached for good
// under its hashed name, with the current status inside index.html.
import { afterAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { request } from 'node:http';
import { brotliDecompressSync } from 'node:zlib';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HubbleRelay } from '../../hubble/relay.js';
import { observerService } from '../../hubble/proto.js';
import type { Flow, GetFlowsRequest } from '../../hubble/types.js';
import { compileFilters } from '../../hubble/filter.js';
import { timestampFromMs } from '../../hubble/types.js';
import type { FeedEvent } from '../../hubble-ui/api-types.js';
import { HubbleUiErrorCode } from '../../hubble-ui/errors.js';
import { HubbleUiServer } from '../../hubble-ui/server.js';
import { flow } from '../whatif/cluster-fixture.js';

const web = mkdtempSync(join(tmpdir(), 'kts-hubble-ui-web-'));
writeFileSync(join(web, 'index.html'), '<!doctype html><head><!--hubble-ui:status--></head><div id="root"></div>');
const BUNDLE = `console.log(${JSON.stringify('x'.repeat(4096))});`;
writeFileSync(join(web, 'app-ABCD1234.js'), BUNDLE);

/** A node that streams these flows every 50 ms while a GetFlows call is open, filtered as an agent's observer does. */
async function syntheticNode(flows: Flow[]): Promise<{ address: string; close: () => void }> {
  const server = new grpc.Server();
  server.addService(observerService, {
    GetFlows: (call: grpc.ServerWritableStream<GetFlowsRequest, unknown>) => {
      const keep = compileFilters(call.request.whitelist ?? [], call.request.blacklist ?? []);
      const t = setInterval(() => {
        for (const f of flows.filter(keep))
          call.write({ flow: { ...f, time: timestampFromMs(Date.now()) }, node_name: 'n1' });
      }, 50);
      call.on('cancelled', () => clearInterval(t));
      call.on('close', () => clearInterval(t));
    },
    ServerStatus: (_: unknown, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { num_flows: 1, max_flows: 4095, seen_flows: 1, uptime_ns: 1, version: 'test' }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, close: () => server.forceShutdown() };
}

/** An SSE client: the events so far, parsed. */
function events(url: string): { got: FeedEvent[]; close: () => void; status: Promise<number> } {
  const got: FeedEvent[] = [];
  let buf = '';
  let close = (): void => undefined;
  const status = new Promise<number>((resolve) => {
    const req = request(url, (res) => {
      resolve(res.statusCode ?? 0);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const msg = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = msg.split('\n').find((l) => l.startsWith('data: '));
          if (data) got.push(JSON.parse(data.slice(6)) as FeedEvent);
        }
      });
    });
    req.end();
    close = () => req.destroy();
  });
  return { got, close: () => close(), status };
}

async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
  rmSync(web, { recursive: true, force: true });
});

describe('HubbleUiServer', () => {
  it('streams relay’s flows with the page’s filters, serves the page, and refuses a bad filter', async () => {
    const node = await syntheticNode([
      flow('shop/frontend', 'shop/backend', 8080),
      flow('shop/intruder', 'shop/backend', 8080, { dropReason: 133 }),
      flow('data/reporting', 'data/db', 5432),
    ]);
    cleanup.push(node.close);
    const relay = new HubbleRelay({ staticPeers: [{ name: 'n1', address: node.address }] });
    await relay.listen({ tcp: '127.0.0.1:0' });
    cleanup.push(() => relay.close());
    const ui = new HubbleUiServer(undefined, {
      listen: '127.0.0.1:0',
      relayAddress: relay.tcpAddress!,
      staticDir: web,
      initialFlows: 0,
    });
    const url = await ui.listen();
    cleanup.push(() => ui.close());

    const all = events(`${url}api/events`);
    const dropped = events(`${url}api/events?namespace=shop&verdict=DROPPED`);
    cleanup.push(all.close, dropped.close);
    const flowsOf = (e: FeedEvent[]) => e.flatMap((x) => (x.type === 'flows' ? x.flows : []));
    await until('flows', () => flowsOf(all.got).length >= 9 && flowsOf(dropped.got).length >= 3);
    expect(new Set(flowsOf(all.got).map((f) => f.destination?.pod_name))).toEqual(new Set(['backend', 'db']));
    expect(new Set(flowsOf(dropped.got).map((f) => `${f.source?.pod_name} ${f.verdict}`))).toEqual(
      new Set(['intruder DROPPED']),
    );
    expect(all.got[0]).toMatchObject({ type: 'status' });

    const page = await fetch(`${url}flows/anything?namespace=shop`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');
    const bad = await fetch(`${url}api/events?verdict=sometimes`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: HubbleUiErrorCode.BadFilter });
    const explain = await fetch(`${url}api/explain`, { method: 'POST', body: '{"flow": {}}' });
    expect(explain.status).toBe(502);
  }, 30_000);

  it('tells the page when relay goes away and recovers the same stream when it is back', async () => {
    const node = await syntheticNode([flow('shop/frontend', 'shop/backend', 8080)]);
    cleanup.push(node.close);
    let relay = new HubbleRelay({ staticPeers: [{ name: 'n1', address: node.address }] });
    await relay.listen({ tcp: '127.0.0.1:0' });
    const address = relay.tcpAddress!;
    const ui = new HubbleUiServer(undefined, {
      listen: '127.0.0.1:0',
      relayAddress: address,
      staticDir: web,
      initialFlows: 0,
      reconnectMinMs: 50,
      reconnectMaxMs: 200,
    });
    const url = await ui.listen();
    cleanup.push(() => ui.close());
    const s = events(`${url}api/events`);
    cleanup.push(s.close);
    const flowCount = () => s.got.filter((e) => e.type === 'flows').length;
    await until('flows', () => flowCount() > 0);

    await relay.close();
    await until('unreachable', () => s.got.some((e) => e.type === 'relay' && e.state === 'unreachable'));
    const before = flowCount();
    relay = new HubbleRelay({ staticPeers: [{ name: 'n1', address: node.address }] });
    await relay.listen({ tcp: address });
    cleanup.push(() => relay.close());
    await until('flows again', () => flowCount() > before + 2);
    const last = s.got.filter((e) => e.type === 'relay').at(-1);
    expect(last).toMatchObject({ type: 'relay', state: 'connected' });
  }, 30_000);

  it('sends a page that acknowledges no more than it has caught up with, and serves the bundle compressed and cached', async () => {
    const node = await syntheticNode([flow('shop/frontend', 'shop/backend', 8080)]);
    cleanup.push(node.close);
    const relay = new HubbleRelay({ staticPeers: [{ name: 'n1', address: node.address }] });
    await relay.listen({ tcp: '127.0.0.1:0' });
    cleanup.push(() => relay.close());
    const ui = new HubbleUiServer(undefined, {
      listen: '127.0.0.1:0',
      relayAddress: relay.tcpAddress!,
      staticDir: web,
      initialFlows: 0,
      batchMs: 20,
      maxUnackedFlows: 2,
    });
    const url = await ui.listen();
    cleanup.push(() => ui.close());

    const s = events(`${url}api/events?ack=1`);
    cleanup.push(s.close);
    await until('the stream id', () => s.got.some((e) => e.type === 'stream'));
    const id = (s.got.find((e) => e.type === 'stream') as { id: string }).id;
    const batches = () => s.got.filter((e) => e.type === 'flows') as Extract<FeedEvent, { type: 'flows' }>[];
    const flowCount = () => batches().reduce((n, b) => n + b.flows.length, 0);
    await until('two flows', () => flowCount() >= 2);
    // the node sends a flow every 50 ms: over 500 ms unacknowledged, nothing more is sent
    await new Promise((r) => setTimeout(r, 500));
    const sent = batches().length;
    // batches are sent until 2 flows are out (the last may overshoot by its own size)
    expect(flowCount() - batches().at(-1)!.flows.length).toBeLessThan(2);
    expect(batches().map((b) => b.seq)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    const ack = await fetch(`${url}api/ack`, { method: 'POST', body: JSON.stringify({ stream: id, seq: sent }) });
    expect(ack.status).toBe(204);
    await until('a batch after the ack', () => batches().length > sent);
    // what arrived while the page was behind was left out, and the page is told how much
    expect(batches()[sent]!.seq).toBe(sent + 1);
    expect(batches()[sent]!.skipped).toBeGreaterThan(0);
    // an unknown or ended stream is no error (the page has reconnected meanwhile)
    expect((await fetch(`${url}api/ack`, { method: 'POST', body: '{"stream":"gone","seq":1}' })).status).toBe(204);

    const page = await fetch(url);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const status = /<script id="hubble-ui-status" type="application\/json">(.*?)<\/script>/.exec(await page.text());
    expect(JSON.parse(status![1]!)).toMatchObject({ relay: expect.stringMatching(/connected|unreachable/) });
    // undici would decompress it: the raw answer is read with node:http
    const raw = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      const req = request(`${url}app-ABCD1234.js`, { headers: { 'accept-encoding': 'gzip, br' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(raw.headers).toMatchObject({
      'content-encoding': 'br',
      'cache-control': 'public, max-age=31536000, immutable',
      'content-type': 'text/javascript; charset=utf-8',
    });
    expect(raw.body.length).toBeLessThan(BUNDLE.length / 10);
    expect(brotliDecompressSync(raw.body).toString('utf8')).toBe(BUNDLE);
  }, 30_000);
});
