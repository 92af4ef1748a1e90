// The Observer and Peer services over real gRPC (unix socket and TCP on loopback), talked to by a
// client built from the same protos, fed with events from the sim datapath.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HubbleClient } from '../../hubble/client.js';
import * as grpc from '@grpc/grpc-js';
import { HubbleObserver } from '../../hubble/observer.js';
import { HealthClient } from '../../hubble/proto.js';
import { HubbleServer } from '../../hubble/server.js';
import type { ChangeNotification, GetFlowsResponse } from '../../hubble/types.js';
import { eventsFor, eventually, resolver, simDatapath } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hubble-server-'));
const sock = join(dir, 'hubble.sock');
let server: HubbleServer;
let unix: HubbleClient;
let tcp: HubbleClient;
let clock = 1_700_000_000_000;

async function collect(it: AsyncIterable<GetFlowsResponse>): Promise<GetFlowsResponse[]> {
  const out: GetFlowsResponse[] = [];
  for await (const r of it) out.push(r);
  return out;
}

beforeAll(async () => {
  server = new HubbleServer({
    nodeName: 'node-a',
    resolver: resolver(),
    ringCapacity: 63,
    metrics: 'flow,drop,tcp,port-distribution,policy,icmp',
    now: () => clock,
  });
  const dp = simDatapath();
  dp.onEvent((e) => server.observe(e));
  for (let i = 0; i < 5; i++) {
    eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', sport: 41000 + i, dport: 80 }); // 4 forwarded flows each
    clock += 1000;
  }
  eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', dport: 81 }); // default-deny miss
  eventsFor(dp, { src: '10.2.0.5', dst: '10.1.0.2', proto: 'tcp', dport: 5432 }); // deny rule
  clock += 1000;
  await server.listen({ unixSocket: sock, tcp: '127.0.0.1:0' });
  unix = new HubbleClient(sock);
  tcp = new HubbleClient(server.tcpAddress!);
});

afterAll(async () => {
  unix?.close();
  tcp?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('observer.Observer over gRPC', () => {
  it('GetFlows returns the last N in time order, or the first N', async () => {
    const last = await collect(unix.getFlows({ number: 3 }));
    expect(last).toHaveLength(3);
    expect(last.every((r) => r.node_name === 'node-a' && r.flow)).toBe(true);
    expect(last.at(-1)!.flow!.drop_reason_desc).toBe('POLICY_DENY');
    const first = await collect(tcp.getFlows({ number: 2, first: true }));
    expect(first.map((r) => r.flow!.l4?.TCP?.source_port)).toEqual([41000, 41000]);
    expect(first[0]!.flow!.verdict).toBe('FORWARDED');
  });

  it('GetFlows applies whitelist minus blacklist and since/until', async () => {
    const drops = await collect(unix.getFlows({ whitelist: [{ verdict: ['DROPPED'], event_type: [{ type: 1 }] }] }));
    expect(drops.map((r) => r.flow!.drop_reason_desc)).toEqual(['POLICY_DENIED', 'POLICY_DENY']);
    expect(drops[1]!.flow!.source).toMatchObject({ pod_name: 'client-1', namespace: 'other' });
    const noDeny = await collect(
      unix.getFlows({ whitelist: [{ verdict: ['DROPPED'] }], blacklist: [{ source_pod: ['other/'] }] }),
    );
    expect(noDeny.every((r) => r.flow!.source?.namespace === 'demo')).toBe(true);
    const window = await collect(
      unix.getFlows({ since: { seconds: 1_700_000_001, nanos: 0 }, until: { seconds: 1_700_000_002, nanos: 0 } }),
    );
    expect(window.map((r) => r.flow!.l4?.TCP?.source_port)).toEqual([
      41001, 41001, 41001, 41001, 41002, 41002, 41002, 41002,
    ]);
  });

  it('a bad filter is INVALID_ARGUMENT with the HUBBLE_ERR code', async () => {
    await expect(collect(unix.getFlows({ whitelist: [{ source_ip: ['300.1.1.1'] }] }))).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining('HUBBLE_ERR_BAD_FILTER'),
    });
  });

  it('follow delivers new flows as they happen, the last with nothing after it to push it out', async () => {
    const call = tcp.getFlowsCall({ follow: true, whitelist: [{ destination_port: ['9999'] }] });
    call.on('error', () => undefined); // CANCELLED after call.cancel()
    const got: { r: GetFlowsResponse; at: number }[] = [];
    call.on('data', (r: GetFlowsResponse) => got.push({ r, at: performance.now() }));
    await new Promise((r) => setTimeout(r, 100)); // the call is established
    const sent = performance.now();
    const dp = simDatapath();
    dp.onEvent((e) => server.observe(e));
    const events = eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', dport: 9999 });
    // nothing is observed after these events: a follower that batches, or holds a flow until the
    // next write, never delivers the last one and the wait fails
    await eventually(() => (got.length >= events.length ? true : undefined), `${events.length} followed flows`);
    expect(got.map((g) => g.r.flow?.l4?.TCP?.destination_port)).toEqual(events.map(() => 9999));
    console.log(`hubble follow: last flow delivered ${(got.at(-1)!.at - sent).toFixed(1)} ms after the events`);
    call.cancel();
  });

  it('ServerStatus, GetNodes and GetNamespaces', async () => {
    const s = await unix.serverStatus();
    expect(s).toMatchObject({
      max_flows: 63,
      num_connected_nodes: { value: 1 },
      version: expect.stringContaining('cilium-ts'),
    });
    expect(s.num_flows).toBeGreaterThan(20);
    expect(s.seen_flows).toBeGreaterThanOrEqual(s.num_flows);
    const n = await tcp.getNodes();
    expect(n.nodes).toEqual([expect.objectContaining({ name: 'node-a', state: 'NODE_CONNECTED', max_flows: 63 })]);
    const ns = await unix.getNamespaces();
    expect(ns.namespaces).toEqual([
      { cluster: 'default', namespace: 'demo' },
      { cluster: 'default', namespace: 'other' },
    ]);
  });

  it('lost events are counted, in ServerStatus, metrics and the flow stream', async () => {
    server.observeLost('PERF_EVENT_RING_BUFFER', 7, 1);
    const s = await unix.serverStatus();
    expect(s.lost_events).toEqual([{ source: 'PERF_EVENT_RING_BUFFER', count: 7 }]);
    const last = await collect(unix.getFlows({ number: 1 }));
    expect(last.map((r) => r.lost_events)).toEqual([
      { source: 'PERF_EVENT_RING_BUFFER', num_events_lost: 7, cpu: { value: 1 } },
    ]);
    const text = await server.metricsRegistry.metrics();
    expect(text).toContain('hubble_lost_events_total{source="perf_event_ring_buffer"} 7');
    expect(text).toMatch(/hubble_drop_total\{reason="POLICY_DENIED",protocol="TCP"\} [1-9]/);
    expect(text).toMatch(/hubble_drop_total\{reason="POLICY_DENY",protocol="TCP"\} [1-9]/);
    expect(text).toMatch(/hubble_flows_processed_total\{type="Trace",subtype="to-endpoint",verdict="FORWARDED"\} 5/);
    expect(text).toMatch(/hubble_tcp_flags_total\{flag="SYN",family="IPv4"\} \d+/);
    expect(text).toMatch(/hubble_port_distribution_total\{protocol="TCP",port="80"\} 20/);
    expect(text).toMatch(/hubble_policy_verdicts_total\{direction="ingress",match="l3-l4",action="forwarded"\} 5/);
  });

  it('field_mask returns only the asked fields; an unknown path is INVALID_ARGUMENT', async () => {
    const out = await collect(
      unix.getFlows({
        number: 2,
        whitelist: [{ event_type: [{ type: 1 }], destination_port: ['5432'] }],
        field_mask: { paths: ['verdict', 'source.pod_name', 'l4.TCP.destination_port'] },
      } as never),
    );
    const flow = out.find((r) => r.flow)!.flow!;
    expect(flow).toMatchObject({
      verdict: 'DROPPED',
      source: { pod_name: 'client-1' },
      l4: { TCP: { destination_port: 5432 } },
    });
    expect([Object.keys(flow).sort(), Object.keys(flow.source!), Object.keys(flow.l4!.TCP!)]).toEqual([
      ['l4', 'source', 'verdict'],
      ['pod_name'],
      ['destination_port'],
    ]);
    await expect(collect(unix.getFlows({ field_mask: { paths: ['source.nope'] } } as never))).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining('HUBBLE_ERR_BAD_REQUEST'),
    });
  });

  it('grpc.health.v1 answers SERVING for hubble.server.Observer (what upstream hubble status checks)', async () => {
    const h = new HealthClient(server.tcpAddress!, grpc.credentials.createInsecure());
    const check = (service: string) =>
      new Promise<unknown>((resolve, reject) =>
        (h as unknown as { Check: (r: unknown, cb: (e: Error | null, r: unknown) => void) => void }).Check(
          { service },
          (e, r) => (e ? reject(e) : resolve(r)),
        ),
      );
    try {
      expect(await check('hubble.server.Observer')).toEqual({ status: 'SERVING' });
      await expect(check('nope')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    } finally {
      h.close();
    }
  });

  it('GetAgentEvents returns recorded events', async () => {
    server.observer.agentEvent({
      type: 'ENDPOINT_CREATED',
      endpoint_update: { id: 11, labels: ['k8s:app=frontend'], pod_name: 'frontend-7d9f', namespace: 'demo' },
    });
    const out: Record<string, unknown>[] = [];
    for await (const e of unix.getAgentEvents({ number: 5 })) out.push(e);
    expect(out).toEqual([
      expect.objectContaining({
        node_name: 'node-a',
        agent_event: expect.objectContaining({
          type: 'ENDPOINT_CREATED',
          endpoint_update: expect.objectContaining({ id: 11, pod_name: 'frontend-7d9f' }),
        }),
      }),
    ]);
  });

  it('GetAgentEvents follow delivers new events only, past the capacity of the event buffer', async () => {
    const obs = new HubbleObserver({ nodeName: 'n', resolver: resolver(), agentEventsCapacity: 3 });
    for (let i = 0; i < 5; i++) obs.agentEvent({ type: 'POLICY_UPDATED', policy_update: { revision: i } });
    const ac = new AbortController();
    const it = obs.getAgentEvents({ follow: true }, ac.signal);
    const rev = async (p: ReturnType<typeof it.next>) =>
      ((await p).value?.agent_event.policy_update as { revision: number }).revision;
    const revs: number[] = [];
    for (const batch of [
      [5, 6],
      [7, 8, 9],
    ]) {
      const first = it.next();
      for (const i of batch) obs.agentEvent({ type: 'POLICY_UPDATED', policy_update: { revision: i } });
      revs.push(await rev(first));
      for (let k = 1; k < batch.length; k++) revs.push(await rev(it.next()));
    }
    expect(revs).toEqual([5, 6, 7, 8, 9]);
    ac.abort();
    expect((await it.next()).done).toBe(true);
    obs.close();
  });
});

describe('peer.Peer', () => {
  it('Notify sends known peers as PEER_ADDED, then changes', async () => {
    server.setPeers([{ name: 'node-a', address: '127.0.0.1:4244' }]);
    const call = unix.peerNotifyCall();
    call.on('error', () => undefined); // CANCELLED after call.cancel()
    const seen: ChangeNotification[] = [];
    const want = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => seen.length >= n && resolve();
        call.on('data', (c: ChangeNotification) => {
          seen.push(c);
          check();
        });
      });
    const three = want(3);
    await new Promise((r) => setTimeout(r, 50));
    server.setPeers([
      { name: 'node-a', address: '127.0.0.1:4245' },
      { name: 'node-b', address: '127.0.0.2:4244' },
    ]);
    await three;
    expect(seen.map((c) => [c.name, c.type, c.address])).toEqual([
      ['node-a', 'PEER_ADDED', '127.0.0.1:4244'],
      ['node-a', 'PEER_UPDATED', '127.0.0.1:4245'],
      ['node-b', 'PEER_ADDED', '127.0.0.2:4244'],
    ]);
    call.cancel();
  });
});

describe('observer without gRPC', () => {
  it('a follower lapped by the ring gets a HUBBLE_RING_BUFFER LostEvent with the exact count', async () => {
    const obs = new HubbleObserver({ nodeName: 'n', resolver: resolver(), ringCapacity: 7, uuids: false });
    const dp = simDatapath();
    dp.onEvent((e) => obs.observe(e));
    const ac = new AbortController();
    const it = obs.getFlows({ follow: true }, ac.signal);
    const firstNext = it.next(); // registers the cursor at the ring's end
    eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', sport: 1, dport: 80 });
    expect((await firstNext).value?.flow).toBeDefined();
    for (let i = 2; i < 6; i++) eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', sport: i, dport: 80 }); // 16 more, ring holds 7
    const lost = (await it.next()).value;
    expect(lost?.lost_events).toEqual({ source: 'HUBBLE_RING_BUFFER', num_events_lost: 3 + 16 - 7 });
    ac.abort();
    expect((await it.next()).done).toBe(true);
    obs.close();
  });

  it('polls a datapath loss counter into PERF_EVENT_RING_BUFFER losses', () => {
    let total = 10;
    const obs = new HubbleObserver({ nodeName: 'n', resolver: resolver(), lostEventsSource: () => total });
    total = 25;
    obs.pollLost();
    expect(obs.lostEvents().get('PERF_EVENT_RING_BUFFER')).toBe(15);
    obs.close();
  });

  it('serves /metrics over HTTP and removes its unix socket on close', async () => {
    const s = new HubbleServer({ nodeName: 'x', resolver: resolver(), metrics: 'drop' });
    const p = join(dir, 'second.sock');
    await s.listen({ unixSocket: p, metrics: '127.0.0.1:0' });
    expect(existsSync(p)).toBe(true);
    s.observeLost('HUBBLE_RING_BUFFER', 2);
    const res = await fetch(`http://${s.metricsAddress}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('hubble_lost_events_total{source="hubble_ring_buffer"} 2');
    expect((await fetch(`http://${s.metricsAddress}/other`)).status).toBe(404);
    await s.close();
    expect(existsSync(p)).toBe(false);
  });
});

describe('follow streams cap', () => {
  it('refuses a follow stream past maxFollowStreams with RESOURCE_EXHAUSTED, counts it, and takes one once a slot frees', async () => {
    const capped = new HubbleServer({ nodeName: 'node-c', resolver: resolver(), maxFollowStreams: 2 });
    const capDir = mkdtempSync(join(tmpdir(), 'hubble-cap-'));
    const client = new HubbleClient(join(capDir, 'h.sock'));
    try {
      await capped.listen({ unixSocket: join(capDir, 'h.sock') });
      const first = client.getFlowsCall({ follow: true });
      const second = client.getFlowsCall({ follow: true });
      for (const c of [first, second]) c.on('error', () => undefined);
      await eventually(() => capped.observer.followStreamCount === 2 || undefined, 'two follow streams served');
      const third = await new Promise<grpc.ServiceError>((resolve) => {
        const c = client.getFlowsCall({ follow: true });
        c.on('data', () => undefined);
        c.on('error', resolve);
      });
      expect(third.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(third.details).toMatch(/^HUBBLE_ERR_TOO_MANY_STREAMS: this node serves 2 follow streams already/);
      // a request without follow is not a follow stream: still answered
      const history: GetFlowsResponse[] = [];
      for await (const r of client.getFlows({ number: 1 })) history.push(r);
      expect(history).toEqual([]);
      const metrics = await capped.metricsRegistry.metrics();
      expect(metrics).toMatch(/^hubble_follow_streams 2$/m);
      expect(metrics).toMatch(/^hubble_follow_streams_rejected_total 1$/m);
      first.cancel();
      await eventually(() => capped.observer.followStreamCount === 1 || undefined, 'the cancelled stream released');
      const again = client.getFlowsCall({ follow: true });
      again.on('error', () => undefined);
      await eventually(() => capped.observer.followStreamCount === 2 || undefined, 'a new follow stream taken');
      again.cancel();
      second.cancel();
      await eventually(() => capped.observer.followStreamCount === 0 || undefined, 'all released');
    } finally {
      client.close();
      await capped.close();
      rmSync(capDir, { recursive: true, force: true });
    }
  });
});
