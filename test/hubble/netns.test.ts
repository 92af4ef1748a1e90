// End to end on veth pairs: real TCP between two pods in network namespaces, the kernel programs
// attached, their ring-buffer events observed by a Hubble server, and a follower over gRPC: the
// denied connection arrives with its reason, pods and labels, while the traffic goes on.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { defaultConfig } from '../../datapath/datapath.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { HubbleClient } from '../../hubble/client.js';
import { StaticResolver } from '../../hubble/resolver.js';
import { HubbleServer } from '../../hubble/server.js';
import type { GetFlowsResponse } from '../../hubble/types.js';
import { pinRoot, removePins } from '../datapath/harness.js';
import { Topology } from '../datapath/netns.js';
import { setRules } from '../datapath/policy-rules.js';
import { eventually } from './fixtures.js';

const topo = new Topology();
const pins = pinRoot();
let dp: KernelDatapath;
let hubble: HubbleServer;
let client: HubbleClient;
const observedAt = new Map<string, number>();

beforeAll(async () => {
  topo.create();
  dp = new KernelDatapath({ pinRoot: pins, config: { ...defaultConfig } });
  const resolver = new StaticResolver(
    [
      { id: 101, identity: 1001, namespace: 'demo', podName: 'client-a', labels: ['k8s:app=client'], ips: [topo.a.ip] },
      { id: 102, identity: 2002, namespace: 'demo', podName: 'server-b', labels: ['k8s:app=server'], ips: [topo.b.ip] },
    ],
    { 1: ['reserved:host'] },
  );
  hubble = new HubbleServer({ nodeName: 'netns-node', resolver, metrics: 'drop,policy' });
  dp.onEvent((e) => {
    if (e.type === 'drop') observedAt.set(`drop:${e.reason}`, performance.now());
    hubble.observe(e);
  });
  dp.syncEndpoints([
    { id: 101, ips: [topo.a.ip], ifindex: topo.ifindex(topo.a), identity: 1001 },
    { id: 102, ips: [topo.b.ip], ifindex: topo.ifindex(topo.b), identity: 2002 },
  ]);
  dp.syncIpcache([
    { prefix: topo.a.ip, identity: 1001 },
    { prefix: topo.b.ip, identity: 2002 },
    { prefix: topo.a.gw, identity: 1 },
    { prefix: topo.b.gw, identity: 1 },
  ]);
  setRules(dp, 101, [{ identity: 0, direction: 'egress', protocol: 0, port: 0 }]);
  setRules(dp, 102, [
    { identity: 1001, direction: 'ingress', protocol: 6, port: 8080 },
    { identity: 1001, direction: 'ingress', protocol: 6, port: 7070, deny: true },
  ]);
  dp.attach(topo.ifindex(topo.a), topo.nodePath);
  dp.attach(topo.ifindex(topo.b), topo.nodePath);
  await topo.start(topo.b, 'serve-tcp', '8080');
  await hubble.listen({ tcp: '127.0.0.1:0' });
  client = new HubbleClient(hubble.tcpAddress!);
});

afterAll(async () => {
  client?.close();
  await hubble?.close();
  try {
    dp?.close();
  } finally {
    topo.destroy();
    removePins(pins);
  }
});

describe('Hubble on real traffic', () => {
  it('a follower sees the allowed and both kinds of denied connections, each before the next is made', async () => {
    const got: { r: GetFlowsResponse; at: number }[] = [];
    const call = client.getFlowsCall({ follow: true, whitelist: [{ destination_pod: ['demo/server'] }] });
    call.on('error', () => undefined);
    call.on('data', (r: GetFlowsResponse) => got.push({ r, at: performance.now() }));
    await new Promise((r) => setTimeout(r, 100));
    expect(await topo.probe(topo.a, 'tcp', topo.b, 8080)).toBe(true);
    expect(await topo.probe(topo.a, 'tcp', topo.b, 9090, 400)).toBe(false); // default deny
    expect(await topo.probe(topo.a, 'tcp', topo.b, 7070, 400)).toBe(false); // deny rule
    await eventually(
      () => (got.filter((g) => g.r.flow?.event_type?.type === 1).length >= 2 ? true : undefined),
      'both drops at the follower',
    );
    call.cancel();
    const drops = got.filter((g) => g.r.flow?.event_type?.type === 1);
    expect(drops.map((g) => [g.r.flow!.drop_reason_desc, g.r.flow!.l4?.TCP?.destination_port])).toEqual(
      expect.arrayContaining([
        ['POLICY_DENIED', 9090],
        ['POLICY_DENY', 7070],
      ]),
    );
    const denied = drops.find((g) => g.r.flow!.drop_reason_desc === 'POLICY_DENIED')!;
    expect(denied.r.flow).toMatchObject({
      verdict: 'DROPPED',
      traffic_direction: 'INGRESS',
      node_name: 'netns-node',
      source: { pod_name: 'client-a', namespace: 'demo', labels: ['k8s:app=client'], identity: 1001 },
      destination: { pod_name: 'server-b', labels: ['k8s:app=server'], identity: 2002 },
      IP: { source: topo.a.ip, destination: topo.b.ip },
    });
    // streamed live: the default-deny drop reached the follower before the deny-rule drop happened
    expect(denied.at).toBeLessThan(observedAt.get('drop:181')!);
    console.log(
      `hubble follow on real traffic: drop delivered ${(denied.at - observedAt.get('drop:133')!).toFixed(1)} ms after the event`,
    );
    // the allowed connection is seen leaving A and entering B
    const traces = got.filter(
      (g) =>
        g.r.flow?.event_type?.type === 4 && g.r.flow.l4?.TCP?.destination_port === 8080 && g.r.flow.l4.TCP.flags?.SYN,
    );
    expect(
      traces.map((g) => [
        g.r.flow!.trace_observation_point,
        g.r.flow!.traffic_direction,
        g.r.flow!.verdict,
        g.r.flow!.is_reply?.value,
      ]),
    ).toEqual([
      ['FROM_ENDPOINT', 'EGRESS', 'FORWARDED', false],
      ['TO_ENDPOINT', 'INGRESS', 'FORWARDED', false],
    ]);
    expect(await hubble.metricsRegistry.getSingleMetricAsString('hubble_drop_total')).toMatch(
      /reason="POLICY_DENY",protocol="TCP"\} [1-9]/,
    );
  });
});
