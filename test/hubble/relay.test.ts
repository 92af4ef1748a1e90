// hubble-relay against two in-process Hubble servers on loopback: peers found through the Peer
// service, flows merged by time, an unreachable node reported (stream, ServerStatus, GetNodes)
// while the other is still served, and the node picked up again when it comes back.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HubbleClient } from '../../hubble/client.js';
import { HubbleRelay } from '../../hubble/relay.js';
import { HubbleServer } from '../../hubble/server.js';
import { SortBuffer } from '../../hubble/sort-buffer.js';
import type { GetFlowsResponse } from '../../hubble/types.js';
import { eventually, observeDrop, resolver } from './fixtures.js';

let t = 1_700_000_000_000;
const clock = () => t;
let a: HubbleServer;
let b: HubbleServer;
let relay: HubbleRelay;
let client: HubbleClient;
let bAddress: string;

function drop(server: HubbleServer, dport: number): void {
  observeDrop(server, dport);
}

async function collect(it: AsyncIterable<GetFlowsResponse>): Promise<GetFlowsResponse[]> {
  const out: GetFlowsResponse[] = [];
  for await (const r of it) out.push(r);
  return out;
}

beforeAll(async () => {
  a = new HubbleServer({ nodeName: 'node-a', resolver: resolver(), now: clock });
  b = new HubbleServer({ nodeName: 'node-b', resolver: resolver(), now: clock });
  await a.listen({ tcp: '127.0.0.1:0' });
  await b.listen({ tcp: '127.0.0.1:0' });
  bAddress = b.tcpAddress!;
  // interleaved in time: a gets even ports, b odd ones
  for (let i = 0; i < 10; i++) {
    drop(i % 2 ? b : a, 1000 + i);
    t += 10;
  }
  a.setPeers([
    { name: 'node-a', address: a.tcpAddress! },
    { name: 'node-b', address: bAddress },
  ]);
  relay = new HubbleRelay({
    peerService: a.tcpAddress!,
    backoffMinMs: 50,
    backoffMaxMs: 200,
    callTimeoutMs: 500,
    sortBufferSize: 50,
    followRejoinMs: 100,
  });
  await relay.listen({ tcp: '127.0.0.1:0' });
  client = new HubbleClient(relay.tcpAddress!);
  for (let i = 0; i < 100 && relay.nodes().length < 2; i++) await new Promise((r) => setTimeout(r, 20));
});

afterAll(async () => {
  client?.close();
  await relay?.close();
  await a?.close();
  await b?.close();
});

describe('hubble-relay', () => {
  it('finds both nodes through the Peer service and merges their flows by time', async () => {
    expect(
      relay
        .nodes()
        .map((n) => n.name)
        .sort(),
    ).toEqual(['node-a', 'node-b']);
    const out = await collect(client.getFlows({ whitelist: [{ verdict: ['DROPPED'] }] }));
    expect(out[0]!.node_status).toEqual({
      state_change: 'NODE_CONNECTED',
      node_names: expect.arrayContaining(['node-a', 'node-b']),
    });
    const flows = out.filter((r) => r.flow);
    expect(flows.map((r) => r.flow!.l4?.TCP?.destination_port)).toEqual([
      1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009,
    ]);
    expect(flows.map((r) => r.node_name)).toEqual([
      'node-a',
      'node-b',
      'node-a',
      'node-b',
      'node-a',
      'node-b',
      'node-a',
      'node-b',
      'node-a',
      'node-b',
    ]);
  });

  it('number applies per node, as upstream', async () => {
    const out = await collect(client.getFlows({ number: 2 }));
    expect(out.filter((r) => r.flow).map((r) => r.flow!.l4?.TCP?.destination_port)).toEqual([1006, 1007, 1008, 1009]);
  });

  it('follow through relay delivers a single new flow without waiting for its sort buffer to fill', async () => {
    const call = client.getFlowsCall({ follow: true, whitelist: [{ destination_port: ['7777'] }] });
    call.on('error', () => undefined);
    let got: number | undefined;
    call.on('data', (r: GetFlowsResponse) => r.flow && (got ??= performance.now()));
    await new Promise((r) => setTimeout(r, 150));
    const sent = performance.now();
    drop(b, 7777);
    // one flow, far below the buffer's length: only the drain timeout can release it
    const at = await eventually(() => got, 'the followed flow through relay');
    console.log(`hubble-relay follow: flow delivered ${(at - sent).toFixed(1)} ms after the event`);
    call.cancel();
  });

  it('ServerStatus and GetNodes sum and list the nodes', async () => {
    const s = await client.serverStatus();
    expect(s).toMatchObject({
      num_connected_nodes: { value: 2 },
      num_unavailable_nodes: { value: 0 },
      max_flows: 8190,
    });
    expect(s.num_flows).toBe(11);
    const n = await client.getNodes();
    expect(n.nodes!.map((x) => [x.name, x.state])).toEqual([
      ['node-a', 'NODE_CONNECTED'],
      ['node-b', 'NODE_CONNECTED'],
    ]);
    expect((await client.getNamespaces()).namespaces).toEqual([{ cluster: 'default', namespace: 'demo' }]);
  });

  it('with one node down, relay reports it unavailable and keeps serving the other; it returns after a restart', async () => {
    // a follower that stays through the restart gets node-b back in its stream
    const staying = client.getFlowsCall({ follow: true });
    staying.on('error', () => undefined);
    const stayed: GetFlowsResponse[] = [];
    staying.on('data', (r: GetFlowsResponse) => stayed.push(r));
    // a follower learns of the loss in its stream
    const follow = client.getFlowsCall({ follow: true });
    follow.on('error', () => undefined);
    const seen = new Promise<GetFlowsResponse>((resolve) =>
      follow.on('data', (r: GetFlowsResponse) => r.node_status?.state_change === 'NODE_UNAVAILABLE' && resolve(r)),
    );
    await new Promise((r) => setTimeout(r, 150));
    await b.close();
    expect((await seen).node_status).toMatchObject({ state_change: 'NODE_UNAVAILABLE', node_names: ['node-b'] });
    follow.cancel();
    const out = await collect(client.getFlows({ number: 3 }));
    expect(out.find((r) => r.node_status?.state_change === 'NODE_UNAVAILABLE')?.node_status?.node_names).toEqual([
      'node-b',
    ]);
    expect(out.filter((r) => r.flow).every((r) => r.node_name === 'node-a')).toBe(true);
    expect(out.filter((r) => r.flow)).toHaveLength(3);
    const s = await client.serverStatus();
    expect(s).toMatchObject({
      num_connected_nodes: { value: 1 },
      num_unavailable_nodes: { value: 1 },
      unavailable_nodes: ['node-b'],
    });
    expect((await client.getNodes()).nodes!.find((x) => x.name === 'node-b')?.state).toBe('NODE_UNAVAILABLE');

    b = new HubbleServer({ nodeName: 'node-b', resolver: resolver(), now: clock });
    await b.listen({ tcp: bAddress });
    drop(b, 4242);
    let status = await client.serverStatus();
    // the channel retries on its own backoff (50..200 ms here); relay answers from its state meanwhile
    for (let i = 0; i < 60 && status.num_unavailable_nodes?.value; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = await client.serverStatus();
    }
    expect(status.num_unavailable_nodes?.value ?? 0).toBe(0);
    const flows = await collect(client.getFlows({ whitelist: [{ destination_port: ['4242'] }] }));
    expect(flows.filter((r) => r.flow).map((r) => r.node_name)).toEqual(['node-b']);

    const lost = stayed.findIndex(
      (r) => r.node_status?.state_change === 'NODE_UNAVAILABLE' && r.node_status.node_names?.includes('node-b'),
    );
    expect(lost).toBeGreaterThan(0);
    const back = () =>
      stayed.findIndex(
        (r, i) =>
          i > lost && r.node_status?.state_change === 'NODE_CONNECTED' && r.node_status.node_names?.includes('node-b'),
      );
    for (let i = 0; i < 60 && back() < 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(back()).toBeGreaterThan(lost);
    drop(b, 4343);
    const fromB = () => stayed.find((r) => r.flow?.l4?.TCP?.destination_port === 4343);
    for (let i = 0; i < 60 && !fromB(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(fromB()?.node_name).toBe('node-b');
    // only flows from after its return: 4242, sent before, is not replayed into the stream
    expect(stayed.some((r) => r.flow?.l4?.TCP?.destination_port === 4242)).toBe(false);
    staying.cancel();
  });

  it('a node deleted from the Peer service is forgotten', async () => {
    a.setPeers([{ name: 'node-a', address: a.tcpAddress! }]);
    for (let i = 0; i < 50 && relay.nodes().length > 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(relay.nodes().map((n) => n.name)).toEqual(['node-a']);
  });
});

describe('SortBuffer', () => {
  it('releases the oldest once over capacity, and everything in time order at the end', () => {
    const sb = new SortBuffer(2);
    const r = (s: number): GetFlowsResponse => ({ time: { seconds: s, nanos: 0 } });
    expect(sb.push(r(5), 0)).toEqual([]);
    expect(sb.push(r(3), 0)).toEqual([]);
    expect(sb.push(r(4), 0)).toEqual([r(3)]);
    expect(sb.push(r(1), 0)).toEqual([r(1)]);
    expect(sb.drainOlderThan(10, 50)).toEqual([]);
    expect(sb.drainOlderThan(60, 50)).toEqual([r(4), r(5)]);
    sb.push(r(9), 0);
    sb.push(r(7), 0);
    expect(sb.drainAll()).toEqual([r(7), r(9)]);
  });

  it('releases at once what every streaming node has passed; a quiet node holds the rest until due', () => {
    const sb = new SortBuffer(100);
    const r = (s: number): GetFlowsResponse => ({ time: { seconds: s, nanos: 0 } });
    sb.push(r(2), 100, 'a');
    sb.push(r(5), 101, 'a');
    // b has sent nothing yet: nothing can be known to be complete
    expect(sb.drainSettled(['a', 'b'])).toEqual([]);
    expect(sb.nextDueMs(5)).toBe(105);
    sb.push(r(3), 102, 'b');
    expect(sb.drainSettled(['a', 'b'])).toEqual([r(2), r(3)]);
    expect(sb.size).toBe(1);
    // b's stream ended: only a is still streaming, and a has passed 5
    sb.forget('b');
    expect(sb.drainSettled(['a'])).toEqual([r(5)]);
    expect(sb.nextDueMs(5)).toBeUndefined();
  });
});
