// The hubble CLI in-process against relay over two in-process nodes fed with sim-datapath events:
// the "why was this dropped?" question, every output format, status, list, follow.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HubbleErrorCode } from '../../hubble/errors.js';
import { observeRequest, parseTime, runHubbleCli } from '../../hubble/cli.js';
import { HubbleRelay } from '../../hubble/relay.js';
import { HubbleServer } from '../../hubble/server.js';
import { eventsFor, resolver, simDatapath } from './fixtures.js';

let a: HubbleServer;
let b: HubbleServer;
let relay: HubbleRelay;
let server: string;
const T0 = Date.UTC(2026, 10, 25, 14, 0, 0);

async function run(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runHubbleCli(['--server', server, ...argv], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    now: () => T0 + 60_000,
  });
  return { code, out, err };
}

beforeAll(async () => {
  let t = T0;
  a = new HubbleServer({ nodeName: 'node-a', resolver: resolver(), now: () => t });
  b = new HubbleServer({ nodeName: 'node-b', resolver: resolver(), now: () => t });
  const dpA = simDatapath();
  dpA.onEvent((e) => a.observe(e));
  const dpB = simDatapath();
  dpB.onEvent((e) => b.observe(e));
  eventsFor(dpA, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', dport: 80 });
  t += 1000;
  eventsFor(dpA, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', dport: 81 }); // POLICY_DENIED on node-a
  t += 1000;
  eventsFor(dpB, { src: '10.2.0.5', dst: '10.1.0.2', proto: 'tcp', dport: 5432 }); // POLICY_DENY on node-b
  t += 1000;
  b.observeLost('PERF_EVENT_RING_BUFFER', 3);
  await a.listen({ tcp: '127.0.0.1:0' });
  await b.listen({ tcp: '127.0.0.1:0' });
  relay = new HubbleRelay({
    staticPeers: [
      { name: 'node-a', address: a.tcpAddress! },
      { name: 'node-b', address: b.tcpAddress! },
    ],
    callTimeoutMs: 1000,
  });
  await relay.listen({ tcp: '127.0.0.1:0' });
  server = relay.tcpAddress!;
});

afterAll(async () => {
  await relay?.close();
  await a?.close();
  await b?.close();
});

describe('hubble observe', () => {
  it('--verdict DROPPED --to-pod shows the denied connections from both nodes with reasons and pods', async () => {
    const r = await run(
      'observe',
      '--verdict',
      'DROPPED',
      '--to-pod',
      'demo/backend',
      '--type',
      'drop',
      '--print-node-name',
    );
    expect(r.code).toBe(0);
    const flows = r.out.filter((l) => l.includes('DROPPED'));
    expect(flows).toEqual([
      'Nov 25 14:00:01.000 [node-a]: demo/frontend-7d9f:40000 (ID:1001) <> demo/backend-55c4:81 (ID:2002) drop DROPPED (POLICY_DENIED) (TCP Flags: SYN)',
      'Nov 25 14:00:02.000 [node-b]: other/client-1:40000 (ID:3003) <> demo/backend-55c4:5432 (ID:2002) drop DROPPED (POLICY_DENY) (TCP Flags: SYN)',
    ]);
    expect(r.out[0]).toBe('NODE_CONNECTED: node-a, node-b');
  });

  it('-o dict shows labels; -o json and -o jsonpb are protobuf JSON', async () => {
    const d = await run('observe', '--type', 'drop', '--from-pod', 'other/client', '-o', 'dict');
    const block = d.out.find((l) => l.includes('POLICY_DENY'))!;
    expect(block).toContain('SOURCE LABELS: k8s:app=client, k8s:io.kubernetes.pod.namespace=other');
    expect(block).toContain('DESTINATION: demo/backend-55c4:5432 (ID:2002)');
    expect(block).toContain('DROP REASON: POLICY_DENY');
    const j = await run('observe', '--type', 'drop', '-o', 'json');
    const flows = j.out.map((l) => JSON.parse(l));
    expect(flows.map((f) => f.dropReasonDesc)).toEqual(['POLICY_DENIED', 'POLICY_DENY']);
    expect(flows[0]).toMatchObject({
      time: '2026-11-25T14:00:01Z',
      verdict: 'DROPPED',
      nodeName: 'node-a',
      IP: { source: '10.1.0.1', ipVersion: 'IPv4' },
      destination: { podName: 'backend-55c4', ID: 12 },
      trafficDirection: 'INGRESS',
      l4: { TCP: { destinationPort: 81 } },
    });
    const pb = await run('observe', '--type', 'drop', '-o', 'jsonpb');
    const resp = pb.out.map((l) => JSON.parse(l));
    expect(resp[0]).toEqual({
      nodeStatus: { stateChange: 'NODE_CONNECTED', nodeNames: ['node-a', 'node-b'] },
      time: expect.any(String),
    });
    expect(resp.filter((x) => x.flow).map((x) => x.nodeName)).toEqual(['node-a', 'node-b']);
  });

  it('-o table lines up columns; lost events are shown, never silent', async () => {
    const t = await run('observe', '--last', '2', '-o', 'table', '--node-name', 'node-b');
    expect(t.out[0]!.split('\n')[0]).toMatch(/^TIMESTAMP\s+NODE\s+SOURCE\s+DESTINATION\s+TYPE\s+VERDICT\s+SUMMARY$/);
    const c = await run('observe', '--last', '1');
    expect(c.out).toContain('EVENTS LOST: PERF_EVENT_RING_BUFFER CPU(unknown) 3');
  });

  it('--follow prints new flows until stopped', async () => {
    const out: string[] = [];
    const ac = new AbortController();
    const done = runHubbleCli(['--server', server, 'observe', '-f', '--port', '9090'], {
      out: (l) => out.push(l),
      err: () => undefined,
      signal: ac.signal,
    });
    await new Promise((r) => setTimeout(r, 200));
    const dp = simDatapath();
    dp.onEvent((e) => a.observe(e));
    eventsFor(dp, { src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', dport: 9090 });
    for (let i = 0; i < 50 && out.filter((l) => l.includes(':9090')).length < 4; i++)
      await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    expect(await done).toBe(0);
    expect(out.filter((l) => l.includes(':9090'))).toHaveLength(4);
  });
});

describe('hubble status and list', () => {
  it('status counts flows, nodes and lost events', async () => {
    const r = await run('status');
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe(`Healthcheck (via ${server}): Ok`);
    expect(r.out).toContain('Connected Nodes: 2/2');
    expect(r.out.find((l) => l.startsWith('Current/Max Flows:'))).toMatch(/^Current\/Max Flows: \d+\/8,190 \(/);
    expect(r.out).toContain('Lost Events: PERF_EVENT_RING_BUFFER 3');
  });

  it('list nodes and list namespaces', async () => {
    const n = await run('list', 'nodes');
    expect(n.out[0]).toMatch(/^NAME\s+STATUS\s+AGE/);
    expect(n.out[0]).toMatch(/node-a\s+Connected/);
    expect(n.out[0]).toMatch(/node-b\s+Connected/);
    const ns = await run('list', 'namespaces');
    expect(ns.out[0]!.split('\n').map((l) => l.split(/\s+/))).toEqual([
      ['CLUSTER', 'NAMESPACE'],
      ['default', 'demo'],
      ['default', 'other'],
    ]);
  });

  it('bad arguments exit 2, an unreachable server exits 1 with a coded message', async () => {
    expect((await run('observe', '-o', 'yaml')).err[0]).toMatch(/HUBBLE_ERR_BAD_ARGS: unknown output/);
    expect((await run('frobnicate')).code).toBe(2);
    const err: string[] = [];
    const code = await runHubbleCli(['--server', '127.0.0.1:1', '--timeout', '300', 'status'], {
      out: () => undefined,
      err: (l) => err.push(l),
    });
    expect(code).toBe(1);
    expect(err[0]).toMatch(/^HUBBLE_ERR_UNAVAILABLE: cannot reach 127.0.0.1:1/);
  });
});

describe('observe flags → GetFlowsRequest', () => {
  const now = Date.UTC(2026, 0, 1);
  it('directional flags go in one filter; --pod/--ip/--label/--port make a source and a destination filter', () => {
    expect(
      observeRequest({ 'from-pod': ['web'], 'to-pod': ['db/x'], verdict: ['dropped'], protocol: ['tcp'] }, now),
    ).toEqual({
      whitelist: [{ source_pod: ['default/web'], destination_pod: ['db/x'], verdict: ['DROPPED'], protocol: ['tcp'] }],
      follow: false,
      number: 20,
    });
    expect(observeRequest({ pod: ['web'], namespace: ['demo'], port: ['80'], follow: true }, now)).toEqual({
      whitelist: [
        { source_pod: ['demo/web'], source_port: ['80'] },
        { destination_pod: ['demo/web'], destination_port: ['80'] },
      ],
      follow: true,
    });
    expect(observeRequest({ 'to-service': ['echo'], 'from-service': ['kube-system/dns'] }, now).whitelist).toEqual([
      { source_service: ['kube-system/dns'], destination_service: ['default/echo'] },
    ]);
    expect(observeRequest({ namespace: ['demo'] }, now).whitelist).toEqual([
      { source_pod: ['demo/'] },
      { destination_pod: ['demo/'] },
    ]);
    expect(observeRequest({ type: ['trace:to-endpoint', 'drop'], first: '5' }, now)).toEqual({
      whitelist: [{ event_type: [{ type: 4, match_sub_type: true, sub_type: 0 }, { type: 1 }] }],
      follow: false,
      first: true,
      number: 5,
    });
  });

  it('since/until take durations or RFC 3339', () => {
    expect(parseTime('5m', now)).toEqual({ seconds: now / 1000 - 300, nanos: 0 });
    expect(parseTime('1h30s', now)).toEqual({ seconds: now / 1000 - 3630, nanos: 0 });
    expect(parseTime('2026-01-01T00:00:00Z', now)).toEqual({ seconds: now / 1000, nanos: 0 });
    expect(() => parseTime('yesterday', now)).toThrow(expect.objectContaining({ code: HubbleErrorCode.BadArgs }));
    expect(observeRequest({ since: '10m' }, now)).toEqual({
      whitelist: [],
      follow: false,
      since: { seconds: now / 1000 - 600, nanos: 0 },
    });
  });
});
