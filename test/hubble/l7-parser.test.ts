// L7 events (as the proxy emits them) → flows of Type L7: request and response fields at upstream's
// places, responses turned around with is_reply, endpoints from the lookup, direction inferred,
// names and Services, redaction; and the observer storing them where GetFlows finds them.
import { describe, expect, it } from '@jest/globals';
import { layer7Of, L7FlowParser, l7Summary, MESSAGE_TYPE_ACCESS_LOG, redactUrl } from '../../hubble/l7-parser.js';
import { HubbleObserver } from '../../hubble/observer.js';
import type { Flow, HttpL7Event } from '../../hubble/types.js';
import { BACKEND, FRONTEND, resolver } from './fixtures.js';
import { dnsPair, httpPair } from './l7-fixtures.js';

const NOW = 1_700_000_000_123;

const parser = new L7FlowParser({ nodeName: 'node-a', now: () => NOW, uuids: false });

describe('L7 events as flows', () => {
  it('turns an HTTP request and its response into two L7 flows, the response turned around', () => {
    const r = resolver();
    const flows = httpPair().map((e) => parser.parse(e, r));
    expect(
      flows.map((f) => [
        f.Type,
        f.l7?.type,
        f.verdict,
        f.IP?.source,
        f.l4?.TCP?.source_port,
        f.IP?.destination,
        f.l4?.TCP?.destination_port,
        f.source?.pod_name,
        f.destination?.pod_name,
        f.is_reply?.value,
        f.traffic_direction,
        f.event_type,
      ]),
    ).toEqual([
      [
        'L7',
        'REQUEST',
        'FORWARDED',
        '10.1.0.1',
        40000,
        '10.1.0.2',
        80,
        FRONTEND.podName,
        BACKEND.podName,
        false,
        'EGRESS',
        { type: MESSAGE_TYPE_ACCESS_LOG, sub_type: 0 },
      ],
      [
        'L7',
        'RESPONSE',
        'FORWARDED',
        '10.1.0.2',
        80,
        '10.1.0.1',
        40000,
        BACKEND.podName,
        FRONTEND.podName,
        true,
        'EGRESS',
        { type: MESSAGE_TYPE_ACCESS_LOG, sub_type: 0 },
      ],
    ]);
    // a request has no status and no latency; the response has both
    expect(flows.map((f) => f.l7)).toEqual([
      {
        type: 'REQUEST',
        latency_ns: 0,
        http: { method: 'GET', url: 'http://backend.demo/public', protocol: 'HTTP/1.1', headers: [] },
      },
      {
        type: 'RESPONSE',
        latency_ns: 3_400_000,
        http: { code: 200, method: 'GET', url: 'http://backend.demo/public', protocol: 'HTTP/1.1', headers: [] },
      },
    ]);
    expect(flows[0]!.source).toMatchObject({ ID: 11, identity: 1001, namespace: 'demo', labels: FRONTEND.labels });
    expect(flows[0]!.time).toEqual({ seconds: 1_700_000_000, nanos: 123_000_000 });
    expect(flows[0]!.node_name).toBe('node-a');
  });

  it('keeps only what a DNS query has on the request and the answer on the response, over UDP', () => {
    const flows = dnsPair().map((e) => parser.parse(e, resolver()));
    expect(flows.map((f) => [f.l4, f.l7])).toEqual([
      [
        { UDP: { source_port: 53000, destination_port: 53 } },
        {
          type: 'REQUEST',
          latency_ns: 0,
          dns: { query: 'api.example.test.', observation_source: 'proxy', qtypes: ['A'] },
        },
      ],
      [
        { UDP: { source_port: 53, destination_port: 53000 } },
        {
          type: 'RESPONSE',
          latency_ns: 1_000_000,
          dns: {
            query: 'api.example.test.',
            observation_source: 'proxy',
            qtypes: ['A'],
            ips: ['10.9.9.9'],
            ttl: 30,
            cnames: [],
            rcode: 0,
            rrtypes: ['A'],
          },
        },
      ],
    ]);
    // the DNS server is no pod: an identity-only endpoint (none known here)
    expect(flows[0]!.destination).toEqual({ identity: 0, labels: [] });
  });

  it('names the other side by the ipcache identity, the FQDN cache and the Service when the lookup knows them', () => {
    const r = resolver();
    r.setNames('10.96.0.10', ['kube-dns.kube-system.svc.cluster.local.']);
    r.setService('10.96.0.10', 53, 'UDP', { name: 'kube-dns', namespace: 'kube-system' });
    const lookup = Object.assign(r, { identityOfIp: (ip: string) => (ip === '10.96.0.10' ? 2 : undefined) });
    const [req, res] = dnsPair().map((e) => parser.parse(e, lookup));
    expect(req!.destination).toEqual({ identity: 2, labels: ['reserved:world'] });
    expect(req!.destination_names).toEqual(['kube-dns.kube-system.svc.cluster.local']);
    expect(req!.destination_service).toEqual({ name: 'kube-dns', namespace: 'kube-system' });
    expect(res!.source_names).toEqual(['kube-dns.kube-system.svc.cluster.local']);
    expect(res!.source_service).toEqual({ name: 'kube-dns', namespace: 'kube-system' });
    expect(req!.source_names).toBeUndefined();
  });

  it('infers INGRESS when the proxied endpoint is the server, and takes a stated direction as is', () => {
    const r = resolver();
    const [req] = httpPair();
    const ingress = { ...req!, endpoint: { id: BACKEND.id, identity: BACKEND.identity } };
    const f = parser.parse(ingress, r);
    expect([f.traffic_direction, f.destination?.ID, f.source?.pod_name]).toEqual(['INGRESS', 12, FRONTEND.podName]);
    expect(parser.parse({ ...req!, direction: 'ingress' }, r).traffic_direction).toBe('INGRESS');
    expect(parser.parse({ ...req!, endpoint: undefined }, r).traffic_direction).toBe('TRAFFIC_DIRECTION_UNKNOWN');
  });

  it('uses the endpoint id and identity the proxy gave when the lookup does not know the endpoint', () => {
    const r = resolver();
    r.setIdentity(4242, ['k8s:app=gone']);
    const [req] = httpPair();
    const f = parser.parse(
      { ...req!, endpoint: { id: 99, identity: 4242 }, source: { address: '10.1.0.77', port: 1 } },
      r,
    );
    expect(f.source).toEqual({ ID: 99, identity: 4242, labels: ['k8s:app=gone'] });
  });

  it('redacts a password in the URL, as upstream', () => {
    expect(redactUrl('http://bob:s3cret@host.test/a?b=c')).toBe('http://bob:HUBBLE_REDACTED@host.test/a?b=c');
    expect(redactUrl('http://bob@host.test/x')).toBe('http://bob@host.test/x');
    expect(redactUrl('http://host.test/@x')).toBe('http://host.test/@x');
    const [req] = httpPair();
    expect(layer7Of({ ...req!, url: 'http://u:p@h.test/' }).http?.url).toBe('http://u:HUBBLE_REDACTED@h.test/');
  });

  it('writes upstream summaries for requests, responses, answers and failures', () => {
    const r = resolver();
    const sum = (f: Flow) => l7Summary(f);
    expect([...httpPair(), ...dnsPair(), ...dnsPair('nope.test.', 3)].map((e) => sum(parser.parse(e, r)))).toEqual([
      'HTTP/1.1 GET http://backend.demo/public',
      'HTTP/1.1 200 3ms (GET http://backend.demo/public)',
      'DNS Query api.example.test. A',
      'DNS Answer "10.9.9.9" TTL: 30 (Proxy api.example.test. A)',
      'DNS Query nope.test. A',
      'DNS Answer RCode: Non-Existent Domain TTL: 30 (Proxy nope.test. A)',
    ]);
    const [, res] = dnsPair('alias.test.', 0, ['10.0.0.1', '10.0.0.2']);
    expect(sum(parser.parse({ ...res!, cnames: ['real.test.'] }, r))).toBe(
      'DNS Answer "10.0.0.1,10.0.0.2" CNAMEs: "real.test." TTL: 30 (Proxy alias.test. A)',
    );
    expect(sum({ Type: 'L3_L4' })).toBeUndefined();
  });
});

describe('HubbleObserver.observeL7', () => {
  it('stores L7 flows in the ring, where GetFlows finds them, and counts them in the flow metric', async () => {
    const obs = new HubbleObserver({
      nodeName: 'node-a',
      resolver: resolver(),
      now: () => NOW,
      uuids: false,
      metrics: 'flow',
    });
    for (const e of [...dnsPair(), ...httpPair('/private', 403, 'DROPPED')]) obs.observeL7(e);
    const got: Flow[] = [];
    for await (const r of obs.getFlows({ number: 10 })) if (r.flow) got.push(r.flow);
    expect(got.map((f) => [f.l7?.type, f.l7?.dns?.query ?? f.l7?.http?.url, f.verdict])).toEqual([
      ['REQUEST', 'api.example.test.', 'FORWARDED'],
      ['RESPONSE', 'api.example.test.', 'FORWARDED'],
      ['REQUEST', 'http://backend.demo/private', 'DROPPED'],
      ['RESPONSE', 'http://backend.demo/private', 'DROPPED'],
    ]);
    expect(obs.status().seen_flows).toBe(4);
    expect(obs.namespacesSeen()).toEqual([{ cluster: 'default', namespace: 'demo' }]);
    const text = await obs.metrics.registry.getSingleMetricAsString('hubble_flows_processed_total');
    expect(text).toContain('hubble_flows_processed_total{type="L7",subtype="DNS",verdict="FORWARDED"} 2');
    expect(text).toContain('hubble_flows_processed_total{type="L7",subtype="HTTP",verdict="DROPPED"} 2');
    obs.close();
  });

  it('never throws on a malformed event', () => {
    const obs = new HubbleObserver({ nodeName: 'n', resolver: resolver(), uuids: false });
    expect(() => obs.observeL7({ protocol: 'http', kind: 'request' } as unknown as HttpL7Event)).not.toThrow();
    obs.close();
  });
});
