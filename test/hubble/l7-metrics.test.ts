// The dns, http and httpV2 metric handlers: upstream's names and labels, counted from the L7
// flows proxy events become, with their options (query, ignoreAAAA, source/destination contexts).
import { describe, expect, it } from '@jest/globals';
import { HubbleObserver } from '../../hubble/observer.js';
import type { L7Event } from '../../hubble/types.js';
import { resolver } from './fixtures.js';
import { dnsPair, httpPair } from './l7-fixtures.js';

/** The samples of one metric as "name{labels} value" lines. */
async function samples(obs: HubbleObserver, name: string): Promise<string[]> {
  const text = await obs.metrics.registry.getSingleMetricAsString(name);
  return text.split('\n').filter((l) => l && !l.startsWith('#'));
}

function observer(metrics: string, events: L7Event[]): HubbleObserver {
  const obs = new HubbleObserver({ nodeName: 'n', resolver: resolver(), uuids: false, metrics });
  for (const e of events) obs.observeL7(e);
  return obs;
}

const denied = (): L7Event[] => dnsPair('other.example.test.', 5).map((e) => ({ ...e, verdict: 'DROPPED' as const }));

describe('dns metrics', () => {
  it('count queries, responses by rcode and answer types; what policy refused is a "Policy denied" query', async () => {
    const aaaa = dnsPair('v6.example.test.', 0, ['fd00::1']).map((e) => ({
      ...e,
      qtypes: ['AAAA'],
      rrtypes: ['AAAA'],
    }));
    const obs = observer('dns', [...dnsPair(), ...dnsPair('nope.test.', 3), ...denied(), ...aaaa]);
    expect(await samples(obs, 'hubble_dns_queries_total')).toEqual([
      'hubble_dns_queries_total{rcode="",qtypes="A",ips_returned="0"} 2',
      'hubble_dns_queries_total{rcode="Policy denied",qtypes="A",ips_returned="0"} 2',
      'hubble_dns_queries_total{rcode="",qtypes="AAAA",ips_returned="0"} 1',
    ]);
    expect(await samples(obs, 'hubble_dns_responses_total')).toEqual([
      'hubble_dns_responses_total{rcode="No Error",qtypes="A",ips_returned="1"} 1',
      'hubble_dns_responses_total{rcode="Non-Existent Domain",qtypes="A",ips_returned="0"} 1',
      'hubble_dns_responses_total{rcode="No Error",qtypes="AAAA",ips_returned="1"} 1',
    ]);
    expect(await samples(obs, 'hubble_dns_response_types_total')).toEqual([
      'hubble_dns_response_types_total{type="A",qtypes="A"} 1',
      'hubble_dns_response_types_total{type="AAAA",qtypes="AAAA"} 1',
    ]);
    obs.close();
  });

  it('query adds the name; ignoreAAAA skips AAAA-only lookups; sourceContext labels the asking pod', async () => {
    const aaaa = dnsPair().map((e) => ({ ...e, qtypes: ['AAAA'] }));
    const obs = observer('dns:query;ignoreaaaa;sourceContext=pod-name', [...dnsPair(), ...aaaa]);
    expect(await samples(obs, 'hubble_dns_queries_total')).toEqual([
      'hubble_dns_queries_total{source="frontend-7d9f",rcode="",qtypes="A",ips_returned="0",query="api.example.test."} 1',
    ]);
    // the response comes from the server: its source is the DNS server (no pod), so the label is empty
    expect(await samples(obs, 'hubble_dns_response_types_total')).toEqual([
      'hubble_dns_response_types_total{source="",type="A",qtypes="A",query="api.example.test."} 1',
    ]);
    obs.close();
  });
});

describe('http and httpV2 metrics', () => {
  const traffic = (): L7Event[] => [
    ...httpPair('/public', 200),
    ...httpPair('/public', 200),
    ...httpPair('/private', 403, 'DROPPED'),
    ...httpPair('/public', 403, 'DROPPED').map((e) => ({ ...e, method: 'POST' })),
  ];

  it('httpV2 counts each request once its status is known, with the reporter side, and times it', async () => {
    const obs = observer('httpV2:exemplars=true', traffic());
    expect(await samples(obs, 'hubble_http_requests_total')).toEqual([
      'hubble_http_requests_total{method="GET",reporter="client",protocol="HTTP/1.1",status="200"} 2',
      'hubble_http_requests_total{method="GET",reporter="client",protocol="HTTP/1.1",status="403"} 1',
      'hubble_http_requests_total{method="POST",reporter="client",protocol="HTTP/1.1",status="403"} 1',
    ]);
    const duration = await samples(obs, 'hubble_http_request_duration_seconds');
    expect(duration).toContain('hubble_http_request_duration_seconds_count{method="GET",reporter="client"} 3');
    expect(duration).toContain(
      'hubble_http_request_duration_seconds_bucket{le="0.005",method="GET",reporter="client"} 3',
    );
    const sum = duration.find((l) => l.startsWith('hubble_http_request_duration_seconds_sum{method="GET"'));
    expect(Number(sum?.split(' ')[1])).toBeCloseTo(3 * 0.0034, 9);
    expect(await obs.metrics.registry.getSingleMetric('hubble_http_responses_total')).toBeUndefined();
    obs.close();
  });

  it('http (v1) counts requests and responses apart; destinationContext labels the server (no workload: its pod)', async () => {
    const obs = observer('http:destinationContext=workload-name|pod', traffic());
    expect(await samples(obs, 'hubble_http_requests_total')).toEqual([
      'hubble_http_requests_total{destination="demo/backend-55c4",method="GET",reporter="client",protocol="HTTP/1.1"} 3',
      'hubble_http_requests_total{destination="demo/backend-55c4",method="POST",reporter="client",protocol="HTTP/1.1"} 1',
    ]);
    // a response's destination is the client: frontend's workload is its Deployment
    expect(await samples(obs, 'hubble_http_responses_total')).toEqual([
      'hubble_http_responses_total{destination="frontend",method="GET",reporter="client",status="200"} 2',
      'hubble_http_responses_total{destination="frontend",method="GET",reporter="client",status="403"} 1',
      'hubble_http_responses_total{destination="frontend",method="POST",reporter="client",status="403"} 1',
    ]);
    obs.close();
  });

  it('a proxy guarding a server reports "server"', async () => {
    const ingress = httpPair().map((e) => ({ ...e, direction: 'ingress' as const }));
    const obs = observer('httpV2', ingress);
    expect(await samples(obs, 'hubble_http_requests_total')).toEqual([
      'hubble_http_requests_total{method="GET",reporter="server",protocol="HTTP/1.1",status="200"} 1',
    ]);
    obs.close();
  });
});
